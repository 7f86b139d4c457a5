"""The evidence attached for a company and period: a CSV of the users counted (with why), the rule and the count,
and the change since the previous period that was pushed (users added, users no longer counted, by name).

    baselines = previous_pushed(session, tenant=t, target="connectwise", period=p, company_pks=[...])
    report = build_report(company_id=..., company_name=..., period="2026-10", users=users, rule="active",
                          previous=baselines.get(pk))

One table, one row per user: every counted user (``change`` is ``added`` when the previous pushed period did not
count it), then every user that period counted and this one does not (``change`` = ``no longer counted``). The
same inputs give byte-identical files (rows sorted, no generation timestamp), so the hash tells whether an
identical report is already attached; a short form of it is part of the document title.
"""

from __future__ import annotations

import hashlib
import io
import re
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from seatsync.csv_safe import SafeWriter
from seatsync.db.models import Company, PushResult, PushRun, Tenant
from seatsync.domain.periods import BillingPeriod
from seatsync.push.runs import GOOD
from seatsync.services.billing import BillableUser, billable_users, effective_rule

HEADER = ("user_id", "email", "name", "why_counted", "change")
ADDED = "added"
GONE = "no longer counted"
#: the hash prefix put in titles and file names (48 bits: collisions between reports of one agreement are moot)
TAG_LENGTH = 12
TITLE_LIMIT = 100
_TAG = re.compile(r"\[seatsync ([0-9a-f]{12})\]")


@dataclass(frozen=True, slots=True)
class Baseline:
    """The previous period that was pushed for a company, and who it counted (by the same rule, today's data)."""

    period: str
    users: tuple[BillableUser, ...] = ()


@dataclass(frozen=True, slots=True)
class Change:
    added: tuple[BillableUser, ...] = ()
    #: counted in the previous pushed period and not in this one
    gone: tuple[BillableUser, ...] = ()


@dataclass(frozen=True, slots=True)
class Report:
    company_id: str
    company_name: str
    period: str
    count: int
    content: bytes
    sha256: str
    previous_period: str | None = None
    change: Change = field(default_factory=Change)

    @property
    def tag(self) -> str:
        return self.sha256[:TAG_LENGTH]

    @property
    def title(self) -> str:
        suffix = f" {self.period}: {self.count} billable user{'s' if self.count != 1 else ''} [seatsync {self.tag}]"
        room = TITLE_LIMIT - len(suffix)
        name = self.company_name if len(self.company_name) <= room else self.company_name[: room - 1] + "…"
        return name + suffix

    @property
    def filename(self) -> str:
        safe = re.sub(r"[^A-Za-z0-9_.-]+", "-", self.company_id).strip("-")[:60] or "company"
        return f"billable-users-{safe}-{self.period}-{self.tag}.csv"


def diff(users: Iterable[BillableUser], previous: Baseline | None) -> Change:
    """Who was added and who is no longer counted, against the previous pushed period (nothing without one)."""
    if previous is None:
        return Change()
    now = {u.user_id: u for u in users}
    before = {u.user_id: u for u in previous.users}
    return Change(
        added=tuple(now[k] for k in sorted(now.keys() - before.keys())),
        gone=tuple(before[k] for k in sorted(before.keys() - now.keys())),
    )


def build_report(
    *,
    company_id: str,
    company_name: str,
    period: str,
    users: Iterable[BillableUser],
    rule: str | None = None,
    previous: Baseline | None = None,
) -> Report:
    """``rule`` is said when no user is counted (otherwise the users' own rule is)."""
    counted = sorted(users, key=lambda u: u.user_id)
    # the rule that counted them (a company is counted under one rule: its own, else the tenant's)
    rules = sorted({u.rule.value for u in counted})
    rule = rules[0] if len(rules) == 1 else rule
    change = diff(counted, previous)
    added = {u.user_id for u in change.added}
    buffer = io.StringIO()
    writer = SafeWriter(buffer)
    under = f" under rule {rule}" if rule else ""
    writer.writerow([f"# billable users of {company_name} ({company_id}) for {period}{under}"])
    writer.writerow([f"# count: {len(counted)}"])
    if previous is None:
        writer.writerow(["# change: no earlier period was pushed for this company"])
    else:
        writer.writerow(
            [
                f"# change since {previous.period} (the previous period pushed; {len(previous.users)} counted): "
                f"{len(change.added)} added; {len(change.gone)} no longer counted"
            ]
        )
    writer.writerow(HEADER)
    for u in counted:
        row = (u.user_id, u.email, u.name, u.reason, ADDED if u.user_id in added else "")
        writer.writerow(row)
    for u in change.gone:
        row = (u.user_id, u.email, u.name, f"counted in {previous.period if previous else ''}, not in {period}", GONE)
        writer.writerow(row)
    content = buffer.getvalue().encode()
    return Report(
        company_id,
        company_name,
        period,
        len(counted),
        content,
        hashlib.sha256(content).hexdigest(),
        previous.period if previous else None,
        change,
    )


def previous_pushed(
    session: Session,
    *,
    tenant: Tenant,
    target: str,
    period: BillingPeriod,
    company_pks: Sequence[int],
    product: str | None = None,
    before_run: int | None = None,
) -> dict[int, Baseline]:
    """Per company: the latest period before ``period`` whose push to ``target`` reached it (succeeded or
    unchanged, not a dry run), with the users that period counts now. Companies never pushed before are absent.

    ``product`` limits it to that item's results (``None``: any row of the company); ``before_run`` to runs
    started before that run (rebuilding the report that run attached).
    """
    if not company_pks:
        return {}
    query = (
        select(PushResult.company_pk, func.max(PushRun.period))
        .join(PushRun, PushRun.id == PushResult.run_id)
        .where(
            PushRun.tenant_id == tenant.id,
            PushRun.target == target,
            PushRun.dry_run.is_(False),
            PushRun.period < str(period),
            PushResult.company_pk.in_(list(company_pks)),
            PushResult.outcome.in_([o.value for o in GOOD]),
        )
        .group_by(PushResult.company_pk)
    )
    if product is not None:
        query = query.where(func.coalesce(PushResult.product, "") == product)
    if before_run is not None:
        query = query.where(PushRun.id < before_run)
    by_period: dict[str, list[int]] = defaultdict(list)
    for pk, last in session.execute(query):
        by_period[last].append(pk)
    found: dict[int, Baseline] = {}
    for last, pks in by_period.items():
        users: dict[str, list[BillableUser]] = defaultdict(list)
        for user in billable_users(session, tenant=tenant, period=BillingPeriod.parse(last), company_pks=pks):
            users[user.company_id].append(user)
        rows = session.execute(select(Company.id, Company.company_id).where(Company.id.in_(pks))).all()
        ids = {int(row[0]): str(row[1]) for row in rows}
        for pk in pks:
            found[pk] = Baseline(last, tuple(users.get(ids[pk], ())))
    return found


def rebuild_report(session: Session, *, tenant: Tenant, run: PushRun, company: Company) -> Report:
    """The report ``run`` attached for ``company``, rebuilt from the data (same rule, same previous period)."""
    period = BillingPeriod.parse(run.period)
    users = billable_users(session, tenant=tenant, period=period, company_pks=[company.id])
    baselines = previous_pushed(
        session, tenant=tenant, target=run.target, period=period, company_pks=[company.id], before_run=run.id
    )
    return build_report(
        company_id=company.company_id,
        company_name=company.name,
        period=run.period,
        users=users,
        rule=effective_rule(tenant, company).value,
        previous=baselines.get(company.id),
    )


def tag_in(title: str | None) -> str | None:
    """The report hash prefix a document title carries, if it is a seatsync report."""
    found = _TAG.search(title or "")
    return found.group(1) if found else None


__all__ = [
    "ADDED",
    "GONE",
    "Baseline",
    "Change",
    "Report",
    "build_report",
    "diff",
    "previous_pushed",
    "rebuild_report",
    "tag_in",
]
