"""The ConnectWise target per item: per-product additions with their own counts and results, companies billed
together on one addition (their sum), invoice timing in the preview, archived companies said."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import select

from seatsync.db.engine import transaction
from seatsync.db.models import CWMapping, PushResult
from seatsync.domain.periods import BillingPeriod
from seatsync.domain.planning import Action
from seatsync.push.connectwise import preview, run_push
from seatsync.services import mappings
from seatsync.services.companies import archive_company
from tests.push.conftest import World, make_client

OCTOBER = BillingPeriod(2026, 10)


def _map(world: World, company_id: str, agreement: int, addition: int, cw_company: int, **kw: object) -> None:
    with make_client(world.url) as client, transaction(world.engine) as session:
        mappings.set_mapping(
            session,
            tenant=world.tenant,
            company_id=company_id,
            cw_company=cw_company,
            agreement=agreement,
            addition=addition,
            by="t",
            client=client,
            **kw,  # type: ignore[arg-type]
        )


def _preview(world: World, period: BillingPeriod = OCTOBER):  # type: ignore[no-untyped-def]
    with make_client(world.url) as client, transaction(world.engine) as session:
        return preview(session, tenant=world.tenant, period=period, client=client)


def test_per_product_items_pushed_with_their_own_counts(world: World) -> None:
    sandbox = world.sandbox
    company = sandbox.add_company("CW Company C04")
    agreement = sandbox.add_agreement(company["id"])
    training = sandbox.add_addition(agreement["id"], quantity=0)
    phishing = sandbox.add_addition(agreement["id"], product="BACKUP-M365", quantity=9)
    _map(world, "c04", agreement["id"], training["id"], company["id"], product="sat")
    _map(world, "c04", agreement["id"], phishing["id"], company["id"], product="phishing")
    plan = _preview(world)
    rows = {(r.company.company_id, r.product): r for r in plan.rows}
    assert (rows[("c04", "sat")].current_quantity, rows[("c04", "sat")].proposed_quantity) == (0, 4)
    assert (rows[("c04", "phishing")].current_quantity, rows[("c04", "phishing")].proposed_quantity) == (9, 4)

    run_push(world.engine, tenant_id=world.tenant.id, period=OCTOBER, client_factory=world.factory())
    assert sandbox.additions[training["id"]]["quantity"] == 4
    assert sandbox.additions[phishing["id"]]["quantity"] == 4
    with transaction(world.engine) as session:
        results = session.execute(
            select(PushResult.product, PushResult.addition_id, PushResult.quantity_before, PushResult.quantity_after)
            .where(PushResult.addition_id.in_([training["id"], phishing["id"]]))
            .order_by(PushResult.product)
        ).all()
        assert [tuple(r) for r in results] == [
            ("phishing", phishing["id"], 9.0, 4.0),
            ("sat", training["id"], 0.0, 4.0),
        ]
        remembered = dict(
            session.execute(
                select(CWMapping.product, CWMapping.last_pushed_quantity).where(
                    CWMapping.addition_id.in_([training["id"], phishing["id"]])
                )
            ).all()
        )
        assert remembered == {"sat": 4.0, "phishing": 4.0}
    # a re-push changes nothing: each item already holds its count
    again = _preview(world)
    assert {r.action for r in again.rows if r.company.company_id == "c04"} == {Action.UNCHANGED}


def test_companies_billed_together_get_their_sum(world: World) -> None:
    taken = world.mapped["c01"]
    _map(world, "c04", taken.agreement, taken.addition, taken.cw_company, billed_together=True)
    rows = {r.company.company_id: r for r in _preview(world).rows}
    assert rows["c01"].proposed_quantity == rows["c04"].proposed_quantity == 5  # 1 + 4
    assert rows["c04"].note == "billed together with c01 (1): 4 + 1 = 5"
    run_push(world.engine, tenant_id=world.tenant.id, period=OCTOBER, client_factory=world.factory())
    assert world.quantity("c01") == 5  # never the count of whichever was pushed last (alpha 7, beta 3 ended at 3)
    run_push(world.engine, tenant_id=world.tenant.id, period=OCTOBER, client_factory=world.factory(), force=True)
    assert world.quantity("c01") == 5


def test_a_shared_item_without_billed_together_is_not_pushed(world: World) -> None:
    taken = world.mapped["c01"]
    _map(world, "c04", taken.agreement, taken.addition, taken.cw_company, billed_together=True)
    with transaction(world.engine) as session:  # as a mapping saved before the rule would be
        for m in session.scalars(select(CWMapping).where(CWMapping.addition_id == taken.addition)):
            m.billed_together = False
    rows = {r.company.company_id: r for r in _preview(world).rows}
    assert rows["c01"].action is Action.ERROR and "not billed together" in (rows["c01"].reason or "")
    run_push(world.engine, tenant_id=world.tenant.id, period=OCTOBER, client_factory=world.factory())
    assert world.quantity("c01") == 0


def test_preview_of_an_agreement_whose_next_invoice_is_after_the_period(world: World) -> None:
    c01, c02 = world.mapped["c01"], world.mapped["c02"]
    world.sandbox.agreements[c01.agreement].update(nextInvoiceDate="2026-12-01T00:00:00Z", prorateFlag=False)
    world.sandbox.additions[c01.addition]["lessIncluded"] = 5.0
    world.sandbox.agreements[c02.agreement].update(nextInvoiceDate="2026-10-01T00:00:00Z", prorateFlag=True)
    rows = {r.company.company_id: r for r in _preview(world).rows}
    late = rows["c01"]
    assert late.already_invoiced
    assert late.invoice is not None
    assert late.invoice.invoice_date is not None and late.invoice.invoice_date.isoformat() == "2026-12-01"
    assert late.invoice.billed_quantity == 0  # 1 seat, 5 included
    assert "period already invoiced" in late.invoice.describe()
    on_time = rows["c02"]
    assert not on_time.already_invoiced
    assert on_time.invoice is not None
    assert on_time.invoice.describe() == "lands on the Monthly invoice of 2026-10-01; bills 2"


def test_an_archived_company_is_said_in_its_period_and_absent_after(world: World) -> None:
    with transaction(world.engine) as session:
        archive_company(session, tenant=world.tenant, company_id="c02", at=datetime(2026, 10, 20, tzinfo=UTC))
    rows = {r.company.company_id: r for r in _preview(world).rows}
    assert rows["c02"].note == "archived on 2026-10-20 (the client left): pushed for 2026-10, not after"
    assert rows["c02"].action is Action.UPDATE
    assert "c02" not in {r.company.company_id for r in _preview(world, BillingPeriod(2026, 11)).rows}
