"""One HaloPSA subscription billed by two companies: refused unless they are billed together, and then it gets
their sum (never the count of whichever was pushed last); a re-run posts nothing, and a subscription shared by
mappings not marked so is pushed by neither (``seatsync.domain.items``)."""

from __future__ import annotations

from dataclasses import replace

import pytest
from sqlalchemy import Engine, select, update
from sqlalchemy.orm import Session

from seatsync.connectors.halopsa import RETRY
from seatsync.db.engine import transaction
from seatsync.db.models import Company, PSAMapping, PushResult, Tenant
from seatsync.domain.periods import BillingPeriod
from seatsync.errors import Conflict
from seatsync.push import engine as push_engine
from seatsync.services import halopsa_connection as halo
from seatsync.services import psa_mappings
from seatsync.services.psa_mappings import MappingValues
from seatsync.targets import PushOptions
from tests.halopsa.worlds import mapped_world

PERIOD = BillingPeriod(2026, 10)


def _push(engine: Engine, tenant_id: int, **options: bool) -> dict[str, PushResult]:
    run_id = push_engine.push(
        engine,
        tenant_id=tenant_id,
        target="halopsa",
        options=PushOptions(PERIOD, started_by="test", **options),
        client_factory=lambda session, tenant: halo.client_for(
            session, tenant=tenant, retry=replace(RETRY, backoff_base=0.001, backoff_cap=0.01)
        ),
    )
    with Session(engine) as session:
        rows = session.execute(
            select(Company.company_id, PushResult)
            .join(Company, Company.id == PushResult.company_pk)
            .where(PushResult.run_id == run_id)
        )
        return {str(company_id): result for company_id, result in rows}


def _share(engine: Engine, tenant_id: int, licence: int, *, together: bool) -> None:
    """Map h-003 to the subscription of h-001 (its client)."""
    with transaction(engine) as session:
        tenant = session.get(Tenant, tenant_id)
        assert tenant is not None
        first = session.scalars(select(PSAMapping).where(PSAMapping.item_id == str(licence))).one()
        values = MappingValues(
            first.psa_company_id or "", first.psa_company_name, None, None, first.item_id, first.item_name
        )
        psa_mappings.save_mapping(
            session,
            tenant=tenant,
            target="halopsa",
            company_id="h-003",
            values=values,
            by="t",
            billed_together=together,
        )


def test_two_companies_billed_together_on_one_subscription_get_their_sum(engine: Engine) -> None:
    with mapped_world(engine, companies=3, period=PERIOD) as (sandbox, tenant_id, items):
        licences = {pk: lic for (pk, _), (lic, _n) in items.items()}
        shared = min(licences.items())[1]  # h-001's subscription (1 billable user)
        own = max(licences.items())[1]  # h-003's own, no longer mapped
        with pytest.raises(Conflict, match="already bills h-001"):
            _share(engine, tenant_id, shared, together=False)
        _share(engine, tenant_id, shared, together=True)
        results = _push(engine, tenant_id)
        assert sandbox.licences[shared]["count"] == 4  # 1 + 3
        assert sandbox.licences[own]["count"] == 0
        assert sorted(r.outcome for k, r in results.items() if k != "h-002") == ["succeeded", "unchanged"]
        assert all(results[k].quantity_after == 4 for k in ("h-001", "h-003"))
        said = " ".join(results[k].reason or "" for k in ("h-001", "h-003"))
        assert (
            "billed together with h-001 (1): 3 + 1 = 4" in said or "billed together with h-003 (3): 1 + 3 = 4" in said
        )
        assert sandbox.request_counts["POST /api/SoftwareLicence"] == 2  # h-001's and h-002's: the sum once
        # the note written with the sum lists every company's line that makes it up, whichever company pushed
        notes = sandbox.licences[shared]["notes"] or ""
        assert "seatsync 2026-10: 4 billable users (h-001 1, h-003 3), report sha256 " in notes, notes
        sandbox.clear_log()
        again = _push(engine, tenant_id)
        assert {r.outcome for r in again.values()} == {"unchanged"}  # the sum is found right: no drift, no post
        assert sandbox.request_counts["POST /api/SoftwareLicence"] == 0


def test_a_subscription_shared_without_billed_together_is_pushed_by_neither(engine: Engine) -> None:
    with mapped_world(engine, companies=3, period=PERIOD) as (sandbox, tenant_id, items):
        shared = min((pk, lic) for (pk, _), (lic, _n) in items.items())[1]
        _share(engine, tenant_id, shared, together=True)
        with transaction(engine) as session:  # as mappings saved before the rule would be
            session.execute(update(PSAMapping).values(billed_together=False))
        results = _push(engine, tenant_id)
        for k in ("h-001", "h-003"):
            assert results[k].outcome == "failed" and "not billed together" in (results[k].reason or "")
        assert sandbox.licences[shared]["count"] == 0
