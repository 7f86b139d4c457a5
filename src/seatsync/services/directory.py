"""A tenant's company directory: every company with what the mapper and the company search need, kept in memory
per process and read again only when the tenant's ``directory_revision`` moved.

Searching 10,000 companies by part of a name in SQL means reading and lower-casing every row twice (the count and
the page); here it is a substring test over prepared keys. The revision is raised in the same transaction as any
change to the tenant's companies or mappings (``seatsync.db.models.raise_directory_revision``), and the caller reads
it with the tenant (the request's first query), so a cached copy is never used after a change was committed.

Matching folds case the Unicode way (``str.casefold``: "ZÜRICH" finds "Zürich"), the same on every database.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
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
    created_at: datetime
    #: casefolded name and company id (the company search)
    key: str
    #: casefolded name of the mapped ConnectWise company ("" when unmapped)
    cw_key: str
    #: mapped to a ConnectWise company, agreement and addition: the row is pushed
    complete: bool


def fold(text: str) -> str:
    """What a search compares: case folded, surrounding spaces dropped."""
    return text.strip().casefold()


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
    def all_by_company_id(self) -> tuple[Entry, ...]:
        return tuple(sorted(self.entries, key=lambda e: e.company_id))

    def search(self, entries: Iterable[Entry], q: str | None, *, with_connectwise: bool = False) -> list[Entry]:
        """The entries whose name or company id (or, ``with_connectwise``, mapped ConnectWise company name)
        contains ``q``, in their given order."""
        needle = fold(q or "")
        if not needle:
            return list(entries)
        if with_connectwise:
            return [e for e in entries if needle in e.key or needle in e.cw_key]
        return [e for e in entries if needle in e.key]


def load_directory(session: Session, *, tenant_id: int, revision: int) -> Directory:
    """Every company of the tenant with its mapping's state, in one query."""
    rows = session.execute(
        select(
            Company.id,
            Company.company_id,
            Company.name,
            Company.products,
            Company.archived,
            Company.created_at,
            CWMapping.cw_company_name,
            CWMapping.cw_company_id,
            CWMapping.agreement_id,
            CWMapping.addition_id,
        )
        .outerjoin(CWMapping, CWMapping.company_pk == Company.id)
        .where(Company.tenant_id == tenant_id)
    )
    entries = tuple(
        Entry(
            pk,
            company_id,
            name,
            products,
            bool(archived),
            created_at,
            f"{name.casefold()}\n{company_id.casefold()}",
            (cw_name or "").casefold(),
            cw_company is not None and agreement is not None and addition is not None,
        )
        for pk, company_id, name, products, archived, created_at, cw_name, cw_company, agreement, addition in rows
    )
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
