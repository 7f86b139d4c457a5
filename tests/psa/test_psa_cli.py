"""The Autotask and HaloPSA commands keep issue 15's promises: ``map ... --clear`` forgets a mapping (the company is
no longer pushed), and a period that has not started is refused with exit 2 by every push, dry runs too."""

from __future__ import annotations

import pytest
from click.testing import CliRunner
from sqlalchemy import Engine, select

from seatsync.cli.main import cli
from seatsync.db.engine import transaction
from seatsync.db.models import PSAMapping, Tenant
from seatsync.services import psa_mappings
from seatsync.services.psa_mappings import MappingValues
from tests.foundation.util import companies, make_tenant


def _mapped(engine: Engine, target: str) -> Tenant:
    tenant = make_tenant(engine)
    companies(engine, tenant, "c01", "c02")
    with transaction(engine) as session:
        for company_id, item in (("c01", "11"), ("c02", "12")):
            psa_mappings.save_mapping(
                session,
                tenant=tenant,
                target=target,
                company_id=company_id,
                values=MappingValues("7", "Client", "8" if target == "autotask" else None, None, item, "Seats"),
                by="t",
            )
    return tenant


@pytest.mark.parametrize(("target", "label"), [("autotask", "Autotask"), ("halopsa", "HaloPSA")])
def test_map_clear_forgets_the_mapping(engine: Engine, database_url: str, target: str, label: str) -> None:
    tenant = _mapped(engine, target)
    args = ["map", target, "--tenant", tenant.slug, "--company", "c01", "--database-url", database_url]
    result = CliRunner().invoke(cli, [*args, "--clear"])
    assert result.exit_code == 0, result.output
    assert f"mapping cleared for c01: it is no longer pushed to {label}" in result.output
    with transaction(engine) as session:
        left = session.scalars(select(PSAMapping.item_id).where(PSAMapping.target == target)).all()
    assert left == ["12"]
    again = CliRunner().invoke(cli, [*args, "--clear"])
    assert again.exit_code == 0 and f"c01 was not mapped to {label}" in again.output
    missing = CliRunner().invoke(cli, args)  # neither a chain nor --clear
    assert missing.exit_code == 2 and "--clear" in missing.output


@pytest.mark.parametrize("target", ["autotask", "halopsa"])
def test_a_future_period_is_refused_with_exit_2_dry_runs_too(engine: Engine, database_url: str, target: str) -> None:
    tenant = _mapped(engine, target)
    for extra in ([], ["--dry-run"]):
        result = CliRunner().invoke(
            cli,
            ["push", target, "--tenant", tenant.slug, "--period", "2031-05", *extra, "--database-url", database_url],
        )
        assert result.exit_code == 2, result.output
        assert "2031-05" in result.output and "not started" in result.output
