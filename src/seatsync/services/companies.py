"""Finding a tenant's companies (the API and the Companies page share this)."""

from __future__ import annotations

from seatsync.services.directory import Directory, Entry


def search_companies(directory: Directory, *, q: str | None, page: int, per_page: int) -> tuple[int, list[Entry]]:
    """One page of the directory's companies whose name or id contains ``q`` (any case), sorted by id; and how
    many match."""
    found = directory.companies(q)
    return len(found), found[(page - 1) * per_page : page * per_page]
