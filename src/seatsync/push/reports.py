"""The evidence attached to an agreement: a CSV of the users counted, and its content hash.

The same users give byte-identical files (rows sorted, no timestamps of generation), so the hash tells
whether an identical report is already attached; a short form of it is part of the document title.
"""

from __future__ import annotations

import csv
import hashlib
import io
import re
from collections.abc import Iterable
from dataclasses import dataclass

from seatsync.services.billing import BillableUser

HEADER = ("user_id", "email", "name", "why_counted")
#: the hash prefix put in titles and file names (48 bits: collisions between reports of one agreement are moot)
TAG_LENGTH = 12
TITLE_LIMIT = 100
_TAG = re.compile(r"\[seatsync ([0-9a-f]{12})\]")


@dataclass(frozen=True, slots=True)
class Report:
    company_id: str
    company_name: str
    period: str
    count: int
    content: bytes
    sha256: str

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


def build_report(*, company_id: str, company_name: str, period: str, users: Iterable[BillableUser]) -> Report:
    users = list(users)
    # the rule that counted them (a company is counted under one rule: its own, else the tenant's)
    rules = sorted({u.rule.value for u in users})
    under = f" under rule {rules[0]}" if len(rules) == 1 else ""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow([f"# billable users of {company_name} ({company_id}) for {period}{under}"])
    writer.writerow(HEADER)
    rows = sorted((u.user_id, u.email, u.name, u.reason) for u in users)
    writer.writerows(rows)
    content = buffer.getvalue().encode()
    return Report(company_id, company_name, period, len(rows), content, hashlib.sha256(content).hexdigest())


def tag_in(title: str | None) -> str | None:
    """The report hash prefix a document title carries, if it is a seatsync report."""
    found = _TAG.search(title or "")
    return found.group(1) if found else None
