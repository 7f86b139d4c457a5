"""Service-desk tickets: after a push run, a company whose push failed or was blocked gets one ticket on the
chosen board of the PSA, on its mapped PSA company (the billing mapping); a later failure adds a note to the
same ticket; the next success for that company closes it. A ticket closed by hand in the PSA is left closed,
and the next failure opens a new one.

    sync_tickets(engine, settings=s, run_id=r)      # the push engine's on_run_finished hook

A PSA that refuses (a missing right, an outage) never fails the push: the refusal is logged and kept on the
ticket row (``last_error``), and the next run tries again.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from seatsync.config import Settings
from seatsync.db.engine import transaction
from seatsync.db.models import Company, CWMapping, PSAMapping, PushResult, PushRun, ServiceTicket, Tenant
from seatsync.errors import ConfigurationError, SeatsyncError, UserInputError
from seatsync.push.runs import BAD, GOOD
from seatsync.services import automation
from seatsync.services.notifications import TARGET_NAMES, run_link
from seatsync.tickets import BoardChoice, ConnectWiseTicketDesk, Problem, TicketDesk, close_note, description, summary
from seatsync.tickets import update_note as update_text

log = logging.getLogger(__name__)

DeskFactory = Callable[[Session, Tenant, str], TicketDesk]


def _now() -> datetime:
    return datetime.now(UTC)


def default_desk(settings: Settings) -> DeskFactory:
    """The desk of a tenant's PSA from its stored credentials."""

    def build(session: Session, tenant: Tenant, target: str) -> TicketDesk:
        if target == "connectwise":
            from seatsync.services import connectwise_connection as cw

            return ConnectWiseTicketDesk(cw.client_for(session, tenant=tenant, settings=settings))
        raise ConfigurationError(f"service-desk tickets are not available for {TARGET_NAMES.get(target, target)} yet")

    return build


def list_boards(session: Session, *, tenant: Tenant, target: str, settings: Settings) -> list[BoardChoice]:
    desk = default_desk(settings)(session, tenant, automation.check_target(target, psa_only=True))
    try:
        return desk.list_boards()
    finally:
        desk.close()


def choose_board(
    session: Session, *, tenant: Tenant, target: str, board_id: str | None, settings: Settings, by: str
) -> str | None:
    """Set (or, with None, clear) the board tickets go to; the board must be one the PSA lists. Its name."""
    if not board_id:
        automation.set_ticket_board(session, tenant=tenant, target=target, board_id=None, board_name=None, by=by)
        return None
    boards = {b.id: b for b in list_boards(session, tenant=tenant, target=target, settings=settings)}
    chosen = boards.get(str(board_id))
    if chosen is None:
        known = ", ".join(f"{b.id} ({b.name})" for b in boards.values()) or "none"
        raise UserInputError(f"{TARGET_NAMES[target]} has no active service board {board_id}; its boards: {known}")
    automation.set_ticket_board(
        session, tenant=tenant, target=target, board_id=chosen.id, board_name=chosen.name, by=by
    )
    return chosen.name


def psa_company_ids(session: Session, *, tenant_id: int, target: str, company_pks: set[int]) -> dict[int, str]:
    """Each company's PSA company (the shared billing mapping), as text."""
    if not company_pks:
        return {}
    if target == "connectwise":
        rows = session.execute(
            select(CWMapping.company_pk, CWMapping.cw_company_id).where(
                CWMapping.tenant_id == tenant_id, CWMapping.company_pk.in_(company_pks)
            )
        )
        return {pk: str(cw) for pk, cw in rows if cw is not None}
    found: dict[int, str] = {}
    for pk, remote in session.execute(
        select(PSAMapping.company_pk, PSAMapping.psa_company_id).where(
            PSAMapping.tenant_id == tenant_id, PSAMapping.target == target, PSAMapping.company_pk.in_(company_pks)
        )
    ):
        if remote:
            found.setdefault(pk, remote)
    return found


@dataclass
class TicketReport:
    opened: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    closed: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class _CompanyOutcome:
    pk: int
    company_id: str
    name: str
    bad: bool
    details: tuple[str, ...]
    blocked_only: bool


def _outcomes(session: Session, run: PushRun) -> list[_CompanyOutcome]:
    rows = session.execute(
        select(
            PushResult.company_pk,
            Company.company_id,
            Company.name,
            PushResult.outcome,
            PushResult.reason,
            PushResult.product,
        )
        .join(Company, Company.id == PushResult.company_pk)
        .where(PushResult.run_id == run.id)
        .order_by(Company.company_id, PushResult.product)
    ).all()
    by_company: dict[int, list[tuple[str, str, str, str | None, str | None]]] = {}
    for pk, cid, name, outcome, reason, product in rows:
        by_company.setdefault(pk, []).append((cid, name, outcome, reason, product))
    found: list[_CompanyOutcome] = []
    for pk, items in by_company.items():
        bad = [i for i in items if i[2] in BAD]
        good = [i for i in items if i[2] in GOOD]
        if not bad and not good:
            continue  # skipped, not mapped: says nothing about the ticket
        details = tuple(
            f"{outcome}{f' ({product})' if product else ''}: {reason or 'no reason recorded'}"
            for _, _, outcome, reason, product in bad
        )
        found.append(
            _CompanyOutcome(pk, items[0][0], items[0][1], bool(bad), details, all(i[2] == "blocked" for i in bad))
        )
    return found


def sync_tickets(
    engine: Engine, *, settings: Settings, run_id: int, desk_factory: DeskFactory | None = None
) -> TicketReport:
    """Open, update and close the tickets a finished run calls for. Never raises for a PSA's refusal."""
    report = TicketReport()
    with transaction(engine) as session:
        run = session.get(PushRun, run_id)
        if run is None or run.dry_run or run.target not in automation.PSAS:
            return report
        chosen = automation.automation_for(session, tenant_id=run.tenant_id, target=run.target)
        if chosen is None or not chosen.ticket_board_id:
            return report
        board_id = chosen.ticket_board_id
        tenant = session.get(Tenant, run.tenant_id)
        assert tenant is not None
        outcomes = _outcomes(session, run)
        open_rows = {
            t.company_pk: t
            for t in session.scalars(
                select(ServiceTicket).where(
                    ServiceTicket.tenant_id == tenant.id,
                    ServiceTicket.target == run.target,
                    ServiceTicket.closed_at.is_(None),
                )
            )
        }
        work = [o for o in outcomes if o.bad or o.pk in open_rows]
        if not work:
            return report
        psa_companies = psa_company_ids(
            session, tenant_id=tenant.id, target=run.target, company_pks={o.pk for o in work}
        )
        try:
            desk = (desk_factory or default_desk(settings))(session, tenant, run.target)
        except SeatsyncError as exc:
            report.errors.append(str(exc))
            log.warning("tickets for run %s: %s", run_id, exc)
            return report
        target_name = TARGET_NAMES.get(run.target, run.target)
        link = run_link(settings, run.id)
        try:
            for outcome in work:
                try:
                    _one(
                        session,
                        desk,
                        run,
                        tenant,
                        board_id,
                        outcome,
                        open_rows.get(outcome.pk),
                        psa_companies.get(outcome.pk),
                        target_name,
                        link,
                        report,
                    )
                except SeatsyncError as exc:
                    message = f"{outcome.name} ({outcome.company_id}): {exc}"
                    report.errors.append(message)
                    log.warning("ticket for %s: %s", outcome.company_id, exc)
                    row = open_rows.get(outcome.pk)
                    if row is not None:
                        row.last_error = str(exc)
                session.flush()
        finally:
            desk.close()
    return report


def _one(
    session: Session,
    desk: TicketDesk,
    run: PushRun,
    tenant: Tenant,
    board_id: str,
    outcome: _CompanyOutcome,
    row: ServiceTicket | None,
    psa_company: str | None,
    target_name: str,
    link: str,
    report: TicketReport,
) -> None:
    now = _now()
    if not outcome.bad:
        assert row is not None
        desk.close_ticket(
            board_id=row.board_id,
            ticket_id=row.ticket_id,
            note=close_note(target_name=target_name, period=run.period, link=link),
        )
        row.closed_at, row.closed_run_id, row.last_error = now, run.id, None
        report.closed.append(row.ticket_id)
        return
    problem = Problem(
        company_id=outcome.company_id,
        company_name=outcome.name,
        target_name=target_name,
        period=run.period,
        details=outcome.details,
        blocked_only=outcome.blocked_only,
        link=link,
    )
    if row is not None and desk.is_open(row.ticket_id):
        desk.add_note(row.ticket_id, update_text(problem))
        row.updates += 1
        row.updated_at, row.last_run_id, row.last_error = now, run.id, None
        report.updated.append(row.ticket_id)
        return
    if row is not None:  # closed by hand in the PSA: that one stays closed
        row.closed_at = now
    if psa_company is None:
        raise ConfigurationError(f"it has no {target_name} company mapped, so no ticket can be opened for it")
    text = summary(problem)
    ticket_id = desk.open_ticket(
        board_id=board_id, psa_company_id=psa_company, summary=text, description=description(problem)
    )
    session.add(
        ServiceTicket(
            tenant_id=tenant.id,
            target=run.target,
            company_pk=outcome.pk,
            board_id=board_id,
            ticket_id=ticket_id,
            psa_company_id=psa_company,
            summary=text,
            opened_at=now,
            opened_run_id=run.id,
            updated_at=now,
            last_run_id=run.id,
        )
    )
    report.opened.append(ticket_id)


def tenant_tickets(session: Session, *, tenant: Tenant, limit: int = 50) -> list[tuple[ServiceTicket, str, str]]:
    """The newest tickets with their company's id and name: open first."""
    rows = session.execute(
        select(ServiceTicket, Company.company_id, Company.name)
        .join(Company, Company.id == ServiceTicket.company_pk)
        .where(ServiceTicket.tenant_id == tenant.id)
        .order_by(ServiceTicket.closed_at.is_not(None), ServiceTicket.opened_at.desc(), ServiceTicket.id.desc())
        .limit(limit)
    )
    return [(t, cid, name) for t, cid, name in rows]
