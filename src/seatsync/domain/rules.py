"""The billing rules of PRODUCT.md, and a small pure-Python reference implementation of them.

The production count runs in the database (``seatsync.services.billing``); ``reference_count`` is the
readable definition that the property tests compare it with.

A user's status history is a list of events. Events are ordered by instant; events at the *same* instant
are ordered ``active`` < ``sleeping`` < ``deleted`` (then by company id), so a user made active and deleted
at one instant has passed through ``active`` and ends ``deleted``. Each event starts an interval that lasts
until the next event (or for ever): the user had that status, in that company, for ``[at, next_at)``.
"""

from __future__ import annotations

import enum
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime


class Status(enum.StrEnum):
    ACTIVE = "active"
    SLEEPING = "sleeping"
    DELETED = "deleted"


#: order of events that share an instant (lower first)
STATUS_RANK: Mapping[Status, int] = {Status.ACTIVE: 0, Status.SLEEPING: 1, Status.DELETED: 2}


class Rule(enum.StrEnum):
    ACTIVE = "active"
    ACTIVE_AT_END = "active-at-end"
    ENGAGED = "engaged"
    PEAK = "peak"


class Product(enum.StrEnum):
    SAT = "sat"
    PHISHING = "phishing"


ALL_PRODUCTS: tuple[Product, ...] = (Product.SAT, Product.PHISHING)

#: each product's name, as people (and Gradient's services) call it
PRODUCT_NAMES: dict[str, str] = {Product.SAT: "Security Awareness Training", Product.PHISHING: "Phishing Simulation"}


def product_name(product: str | None) -> str:
    """``sat`` -> ``Security Awareness Training``; an unknown code is shown as it is, none as ""."""
    return PRODUCT_NAMES.get(product or "", product or "")


class ActivityKind(enum.StrEnum):
    TRAINING = "training"
    PHISHING = "phishing"


@dataclass(frozen=True, slots=True)
class StatusEvent:
    user_id: str
    company_id: str
    status: Status
    at: datetime


@dataclass(frozen=True, slots=True)
class Activity:
    user_id: str
    kind: ActivityKind
    at: datetime


def event_order(event: StatusEvent) -> tuple[datetime, int, str]:
    return (event.at, STATUS_RANK[event.status], event.company_id)


@dataclass(frozen=True, slots=True)
class Interval:
    user_id: str
    company_id: str
    status: Status
    start: datetime
    end: datetime | None  # None: still in force


def intervals(events: Iterable[StatusEvent]) -> list[Interval]:
    """Status intervals per user, from events in any order (exact duplicates count once)."""
    by_user: dict[str, set[StatusEvent]] = defaultdict(set)
    for event in events:
        by_user[event.user_id].add(event)
    out: list[Interval] = []
    for user_events in by_user.values():
        ordered = sorted(user_events, key=event_order)
        for event, following in zip(ordered, [*ordered[1:], None], strict=True):
            end = following.at if following is not None else None
            out.append(Interval(event.user_id, event.company_id, event.status, event.at, end))
    return out


def reference_count(
    rule: Rule,
    events: Iterable[StatusEvent],
    start: datetime,
    end: datetime,
    activities: Iterable[Activity] = (),
) -> dict[str, set[str]]:
    """Company id → the users billable in ``[start, end)`` under ``rule``. Slow, obviously right."""
    billable: dict[str, set[str]] = defaultdict(set)
    spans = intervals(events)
    if rule is Rule.PEAK:
        return _peak(spans, start, end)
    if rule is Rule.ENGAGED:
        by_user: dict[str, list[Interval]] = defaultdict(list)
        for span in spans:
            by_user[span.user_id].append(span)
        for act in activities:
            if not start <= act.at < end:
                continue
            for span in by_user.get(act.user_id, []):
                if span.start <= act.at and (span.end is None or act.at < span.end):
                    billable[span.company_id].add(act.user_id)
        return dict(billable)
    for span in spans:
        if span.status is not Status.ACTIVE:
            continue
        if rule is Rule.ACTIVE:
            # overlaps the period; an instant-long interval inside the period counts too
            inside = span.start < end and (span.start >= start or span.end is None or span.end > start)
        else:  # ACTIVE_AT_END: in force at the period's last instant
            inside = span.start < end and (span.end is None or span.end >= end)
        if inside:
            billable[span.company_id].add(span.user_id)
    return dict(billable)


def active_at(span: Interval, instant: datetime) -> bool:
    """Whether an active interval holds at ``instant``: ``[start, end)``, or its one instant when it is instant-long
    (made active and changed again at one instant: the user passed through ``active`` there)."""
    if span.status is not Status.ACTIVE or span.start > instant:
        return False
    return span.end is None or span.end > instant or span.end == span.start == instant


def _peak(spans: list[Interval], start: datetime, end: datetime) -> dict[str, set[str]]:
    """Per company, the users active at the earliest instant of ``[start, end)`` where the most of them are.

    The count can only rise where an interval starts, so the candidates are the period's first instant and every
    active interval's start inside the period. A user has at most one interval in force in a company at an instant
    (its intervals follow each other), so a user replaced by another counts once, and a swap at one instant (one
    user's interval ends where the other's starts) counts the newcomer only.
    """
    by_company: dict[str, list[Interval]] = defaultdict(list)
    for span in spans:
        if span.status is Status.ACTIVE:
            by_company[span.company_id].append(span)
    out: dict[str, set[str]] = {}
    for company_id, company_spans in by_company.items():
        candidates = sorted({start} | {s.start for s in company_spans if start <= s.start < end})
        best: set[str] = set()
        for instant in candidates:
            present = {s.user_id for s in company_spans if active_at(s, instant)}
            if len(present) > len(best):
                best = present
        if best:
            out[company_id] = best
    return out
