"""A tenant's company directory: every company with what the mapper and the company search need, kept in memory
per process and read again only when the tenant's ``directory_revision`` moved.

Searching 10,000 companies by part of a name in SQL means reading and lower-casing every row twice (the count and
the page); here it is a substring test over prepared keys. The revision is raised by database triggers in the
same transaction as any change to the tenant's companies or mappings, however it is written (``seatsync.db.triggers``),
and the caller reads it with the tenant (the request's first query), so a cached copy is never used after a change
was committed.

Matching folds case the Unicode way (``str.casefold``: "ZÜRICH" finds "Zürich"), the same on every database.
"""

from __future__ import annotations

import bisect
import threading
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass, replace
from functools import cached_property

from sqlalchemy import select
from sqlalchemy.orm import Session

from seatsync.db.models import Company, CWMapping, Tenant


@dataclass(frozen=True, slots=True)
class Entry:
    """One company as lists and searches show it."""

    pk: int
    company_id: str
    name: str
    products: str
    archived: bool
    #: casefolded name and company id (the company search)
    key: str
    #: casefolded name of the mapped ConnectWise company ("" when unmapped)
    cw_key: str
    #: mapped to a ConnectWise company, agreement and addition: the row is pushed
    complete: bool
    #: the company's own billing rule (None: the tenant's)
    billing_rule: str | None = None


def fold(text: str) -> str:
    """What a search compares: case folded, surrounding spaces dropped, and no NUL (it separates the keys)."""
    return text.replace("\0", "").strip().casefold()


class _Index:
    """Substring search over many keys at C speed: the keys in one string (NUL between them), ``str.find`` over it,
    and each hit's entry found by its offset. (A Python loop over 10,000 entries is slower: it touches two objects
    per entry, scattered in memory.)"""

    def __init__(self, entries: tuple[Entry, ...], keys: Iterable[str]) -> None:
        self.entries = entries
        self.starts: list[int] = []
        parts: list[str] = []
        offset = 0
        for key in keys:
            self.starts.append(offset)
            parts.append(key)
            offset += len(key) + 1
        self.text = "\0".join(parts)

    def find(self, needle: str) -> list[Entry]:
        found: list[Entry] = []
        text, starts, entries = self.text, self.starts, self.entries
        at = text.find(needle)
        while at != -1:
            i = bisect.bisect_right(starts, at) - 1
            found.append(entries[i])
            if i + 1 == len(starts):
                break
            at = text.find(needle, starts[i + 1])  # the next entry's key: one hit per entry
        return found


@dataclass(frozen=True)
class Directory:
    tenant_id: int
    revision: int
    entries: tuple[Entry, ...]

    @cached_property
    def live_by_name(self) -> tuple[Entry, ...]:
        """Companies that are not archived, by name (case folded first, so "acme" sits beside "Acme")."""
        return tuple(
            sorted((e for e in self.entries if not e.archived), key=lambda e: (e.name.casefold(), e.name, e.pk))
        )

    @cached_property
    def live_ids(self) -> frozenset[int]:
        return frozenset(e.pk for e in self.live_by_name)

    @cached_property
    def unmapped(self) -> int:
        """Live companies not mapped down to the addition (not pushed)."""
        return len(self._unmapped_by_name)

    @cached_property
    def by_pk(self) -> dict[int, Entry]:
        return {e.pk: e for e in self.entries}

    @cached_property
    def own_rules(self) -> tuple[tuple[int, str], ...]:
        """(pk, rule) of every company with its own rule, archived too, by pk (as ``services.billing.own_rules``)."""
        return tuple(sorted((e.pk, e.billing_rule) for e in self.entries if e.billing_rule is not None))

    @cached_property
    def all_by_company_id(self) -> tuple[Entry, ...]:
        return tuple(sorted(self.entries, key=lambda e: e.company_id))

    @cached_property
    def _mapper_index(self) -> _Index:
        return _Index(self.live_by_name, (f"{e.key}\n{e.cw_key}" for e in self.live_by_name))

    @cached_property
    def _company_index(self) -> _Index:
        return _Index(self.all_by_company_id, (e.key for e in self.all_by_company_id))

    def mapper_rows(self, q: str | None) -> list[Entry]:
        """The live companies whose name, company id or mapped ConnectWise company name contains ``q``, by name."""
        needle = fold(q or "")
        return self._mapper_index.find(needle) if needle else list(self.live_by_name)

    @cached_property
    def _unmapped_by_name(self) -> tuple[Entry, ...]:
        return tuple(e for e in self.live_by_name if not e.complete)

    def unmapped_rows(self, q: str | None) -> list[Entry]:
        """``mapper_rows(q)`` of the companies not mapped down to the addition."""
        if fold(q or ""):
            return [e for e in self.mapper_rows(q) if not e.complete]
        return list(self._unmapped_by_name)

    def companies(self, q: str | None) -> list[Entry]:
        """All companies (archived too) whose name or company id contains ``q``, by company id."""
        needle = fold(q or "")
        return self._company_index.find(needle) if needle else list(self.all_by_company_id)


def load_directory(session: Session, *, tenant_id: int, revision: int) -> Directory:
    """Every company of the tenant with its mapping's state, in one query."""
    rows = session.connection().execute(  # plain rows: 10,000 ORM rows would cost several times more
        select(
            Company.id,
            Company.company_id,
            Company.name,
            Company.products,
            Company.archived,
            Company.billing_rule,
            CWMapping.cw_company_name,
            CWMapping.cw_company_id,
            CWMapping.agreement_id,
            CWMapping.addition_id,
        )
        .outerjoin(CWMapping, CWMapping.company_pk == Company.id)
        .where(Company.tenant_id == tenant_id)
    )
    # a company whose products are billed apart has a mapping per product: one entry, complete when each is,
    # found by any of its PSA companies' names
    merged: dict[int, Entry] = {}
    for pk, company_id, name, products, archived, own_rule, cw_name, cw_company, agreement, addition in rows:
        complete = cw_company is not None and agreement is not None and addition is not None
        found = merged.get(pk)
        if found is not None:
            cw_key = "\n".join(t for t in (found.cw_key, (cw_name or "").casefold()) if t)
            merged[pk] = replace(found, cw_key=cw_key, complete=found.complete and complete)
            continue
        merged[pk] = Entry(
            pk,
            company_id,
            name,
            products,
            bool(archived),
            f"{name.casefold()}\n{company_id.casefold()}",
            (cw_name or "").casefold(),
            complete,
            own_rule,
        )
    entries = tuple(merged.values())
    return Directory(tenant_id, revision, entries)


class DirectoryCache:
    """The directories of the most recently used tenants of one database (the web app keeps one; a few MB for
    10,000 companies)."""

    def __init__(self, size: int = 32) -> None:
        self._size = size
        self._lock = threading.Lock()
        self._store: OrderedDict[int, Directory] = OrderedDict()
        self._loading: dict[int, threading.Lock] = {}

    def get(self, session: Session, *, tenant: Tenant) -> Directory:
        """The tenant's directory as of ``tenant.directory_revision`` (read with the tenant in this session), or
        newer: another request may have loaded it after a later change."""
        revision = tenant.directory_revision
        found = self._current(tenant.id, revision)
        if found is not None:
            return found
        with self._lock:
            loading = self._loading.setdefault(tenant.id, threading.Lock())
        with loading:  # one load per tenant at a time: the others wait for it instead of loading the same rows
            found = self._current(tenant.id, revision)
            if found is not None:
                return found
            directory = load_directory(session, tenant_id=tenant.id, revision=revision)
            with self._lock:
                kept = self._store.get(tenant.id)
                if kept is None or kept.revision < directory.revision:
                    self._store[tenant.id] = directory
                self._store.move_to_end(tenant.id)
                while len(self._store) > self._size:
                    evicted, _ = self._store.popitem(last=False)
                    self._loading.pop(evicted, None)
            return directory

    def _current(self, tenant_id: int, revision: int) -> Directory | None:
        with self._lock:
            found = self._store.get(tenant_id)
            if found is not None and found.revision >= revision:
                self._store.move_to_end(tenant_id)
                return found
        return None
