"""One Autotask contract service billed by two companies: refused unless they are billed together, and then its
units are their sum. An adjustment is a difference, so the rows of a shared service are read live and adjusted one
at a time: the sum is posted once, even when the engine's pool applies both rows at once."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import Engine, select, update

from seatsync.connectors.autotask import AutotaskClient
from seatsync.db.engine import transaction
from seatsync.db.models import PSAMapping, Tenant
from seatsync.errors import Conflict
from seatsync.push.runs import Outcome
from seatsync.sandboxes.autotask import AutotaskSandbox
from seatsync.services import autotask_mappings
from seatsync.targets.autotask import TARGET
from seatsync.targets.base import PushOptions, RowResult
from tests.autotask.pushing import DAY, PERIOD, Mapped, mapped_tenant
from tests.autotask.test_push import by_company, run


def _share(engine: Engine, mapped: Mapped, client: AutotaskClient, *, together: bool) -> None:
    """Map globex to acme's Autotask company, contract and contract service."""
    contract, service = mapped.items["acme"]
    with transaction(engine) as session:
        tenant = session.get(Tenant, mapped.tenant.id)
        assert tenant is not None
        first = session.scalars(select(PSAMapping).where(PSAMapping.item_id == str(service))).one()
        autotask_mappings.set_mapping(
            session,
            tenant=tenant,
            company_id="globex",
            at_company=int(first.psa_company_id or 0),
            contract=contract,
            service=service,
            by="t",
            client=client,
            billed_together=together,
        )


def _concurrently(engine: Engine, mapped: Mapped, client: AutotaskClient) -> list[RowResult]:
    """As the engine applies units: on a pool, at once."""
    options = PushOptions(period=PERIOD)
    with transaction(engine) as session, ThreadPoolExecutor(4) as pool:
        tenant = session.get(Tenant, mapped.tenant.id)
        assert tenant is not None
        prepared = TARGET.prepare(
            session, tenant=tenant, client=client, options=options, scope=None, attempts={}, pool=pool
        )
        done = list(pool.map(lambda u: TARGET.apply(client, u, options=options, final=False), prepared.units))
    return list(prepared.local) + done


def test_two_companies_billed_together_on_one_contract_service_get_their_sum(
    engine: Engine, sandbox: AutotaskSandbox, client: AutotaskClient
) -> None:
    mapped = mapped_tenant(engine, sandbox, client, {"acme": 8, "globex": 3})
    with pytest.raises(Conflict, match="already bills acme"):
        _share(engine, mapped, client, together=False)
    _share(engine, mapped, client, together=True)
    shared, own = mapped.items["acme"][1], mapped.items["globex"][1]
    results = by_company(_concurrently(engine, mapped, client))
    assert sandbox.units_on(shared, DAY) == 11  # 8 + 3, never the count of whichever was pushed last
    assert sandbox.units_on(own, DAY) == 5  # globex's own service is no longer mapped
    assert [a["unitChange"] for a in sandbox.adjustments if a["contractServiceID"] == shared] == [6]  # once
    assert sorted(r.outcome for r in results.values()) == [Outcome.SUCCEEDED, Outcome.UNCHANGED]
    assert {r.after for r in results.values()} == {11}
    said = " ".join(r.reason or "" for r in results.values())
    assert "billed together with globex (3): 8 + 3 = 11" in said or "billed together with acme (8): 3 + 8 = 11" in said
    assert len(sandbox.attachments) == 2  # each company's report on the contract
    again = by_company(run(engine, mapped, client))
    assert {r.outcome for r in again.values()} == {Outcome.UNCHANGED}  # the sum is found right: no drift
    assert len(sandbox.adjustments) == 1


def test_a_contract_service_shared_without_billed_together_is_adjusted_by_neither(
    engine: Engine, sandbox: AutotaskSandbox, client: AutotaskClient
) -> None:
    mapped = mapped_tenant(engine, sandbox, client, {"acme": 8, "globex": 3})
    _share(engine, mapped, client, together=True)
    with transaction(engine) as session:  # as mappings saved before the rule would be
        session.execute(update(PSAMapping).values(billed_together=False))
    results = by_company(run(engine, mapped, client))
    for company_id in ("acme", "globex"):
        assert results[company_id].outcome is Outcome.FAILED
        assert "not billed together" in (results[company_id].reason or "")
    assert sandbox.adjustments == []
