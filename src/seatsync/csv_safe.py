"""The one way seatsync writes CSV: cells a spreadsheet would read as a formula are neutralised.

A name or an email such as ``=HYPERLINK(...)``, ``+1+cmd|...``, ``-2+3`` or ``@SUM(...)`` becomes a formula when the
file is opened in Excel, LibreOffice or Google Sheets (CSV injection). Every text cell starting with ``=``, ``+``,
``-``, ``@``, a tab or a carriage return gets the usual leading ``'``, which spreadsheets show as text and hide.
Numbers are written as numbers (a negative quantity stays ``-3``). Every CSV the product writes goes through here:
the report attached to ConnectWise, results and run downloads, and the CLI's ``--format csv`` output.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from typing import Any, Protocol

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


class _Writable(Protocol):
    def write(self, text: str, /) -> Any: ...


def safe_cell(value: Any) -> Any:
    """``value`` with a leading ``'`` if it is text a spreadsheet would run as a formula."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


class SafeWriter:
    """``csv.writer`` whose every text cell passes ``safe_cell``."""

    def __init__(self, out: _Writable) -> None:
        self._writer = csv.writer(out, lineterminator="\n")

    def writerow(self, row: Iterable[Any]) -> None:
        self._writer.writerow([safe_cell(v) for v in row])

    def writerows(self, rows: Iterable[Iterable[Any]]) -> None:
        for row in rows:
            self.writerow(row)


def csv_text(header: Sequence[Any] | None, rows: Iterable[Iterable[Any]]) -> str:
    """A whole CSV document as text (``\\n`` line ends)."""
    buffer = io.StringIO()
    writer = SafeWriter(buffer)
    if header is not None:
        writer.writerow(header)
    writer.writerows(rows)
    return buffer.getvalue()


__all__ = ["FORMULA_STARTS", "SafeWriter", "csv_text", "safe_cell"]
