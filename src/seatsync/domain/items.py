"""Which count each item gets: one item (addition, contract service, subscription) is billed by one mapping,
unless the companies on it are billed together, and then it gets their sum. Pure, no I/O; every target's plan
uses it.

    shares = [ItemShare(key=(1, ""), item="add:1000", count=7, together=True, label="alpha"),
              ItemShare(key=(2, ""), item="add:1000", count=3, together=True, label="beta")]
    quantities(shares)[(1, "")].total == 10

An item shared by mappings that are not all marked "billed together" (possible only for mappings saved before the
rule) is an error on each of its rows: pushing either count would drop the other's seats.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Hashable, Iterable
from dataclasses import dataclass

#: one mapping's row: (company pk, product); product "" when one item bills all the company's products
Key = tuple[int, str]


@dataclass(frozen=True, slots=True)
class ItemShare:
    key: Key
    #: the remote item's identity (None: not mapped to an item yet)
    item: Hashable | None
    count: int
    #: the mapping says its companies are billed together on this item
    together: bool = False
    #: how people know the row ("alpha (sat)")
    label: str = ""


@dataclass(frozen=True, slots=True)
class ItemQuantity:
    #: what the item is set to
    total: int
    #: the other rows billed on the same item (empty: the item is this row's alone)
    partners: tuple[ItemShare, ...] = ()
    #: why the row must not be pushed
    error: str | None = None

    @property
    def shared(self) -> bool:
        return bool(self.partners)

    def describe(self, own: ItemShare) -> str | None:
        """The preview's words for a shared item: "billed together with beta (3): 7 + 3 = 10"."""
        if not self.partners or self.error:
            return self.error
        others = ", ".join(f"{p.label} ({p.count})" for p in self.partners)
        terms = " + ".join(str(n) for n in (own.count, *(p.count for p in self.partners)))
        return f"billed together with {others}: {terms} = {self.total}"


def quantities(shares: Iterable[ItemShare]) -> dict[Key, ItemQuantity]:
    """Each row's item quantity: its own count, or the sum of the rows billed together on its item."""
    rows = list(shares)
    by_item: dict[Hashable, list[ItemShare]] = defaultdict(list)
    for share in rows:
        if share.item is not None:
            by_item[share.item].append(share)
    out: dict[Key, ItemQuantity] = {}
    for share in rows:
        group = by_item.get(share.item, [share]) if share.item is not None else [share]
        partners = tuple(p for p in group if p.key != share.key)
        if not partners:
            out[share.key] = ItemQuantity(share.count)
            continue
        total = sum(p.count for p in group)
        if not all(p.together for p in group):
            names = ", ".join(p.label or str(p.key) for p in partners)
            out[share.key] = ItemQuantity(
                total,
                partners,
                f"the item is also mapped to {names} and they are not billed together: pushing one count would drop "
                "the other's seats; map another item, or say they are billed together (the item gets their sum)",
            )
            continue
        out[share.key] = ItemQuantity(total, partners)
    return out


@dataclass(frozen=True, slots=True)
class ItemSum:
    """What one row's item gets, ready for a target's plan: ``total`` None when the item is the row's alone (its
    own count); otherwise the sum and the words for it (``note``), or why the row must not be pushed (``error``)."""

    total: int | None = None
    note: str | None = None
    error: str | None = None
    #: every row billed together on the item (this one included), as (label, count) by label: the lines a
    #: target's evidence lists under the sum; empty when the item is the row's alone
    members: tuple[tuple[str, int], ...] = ()

    def quantity(self, own: int) -> int:
        return own if self.total is None else self.total


def item_sums(shares: Iterable[ItemShare]) -> dict[Key, ItemSum]:
    """``quantities`` as each target's plan uses it: per row, its item's quantity, note and refusal."""
    rows = {share.key: share for share in shares}
    out: dict[Key, ItemSum] = {}
    for key, found in quantities(rows.values()).items():
        if not found.shared:
            out[key] = ItemSum()
        elif found.error is not None:
            out[key] = ItemSum(found.total, None, found.error)
        else:
            own = rows[key]
            members = tuple(sorted((p.label or str(p.key), p.count) for p in (own, *found.partners)))
            out[key] = ItemSum(found.total, found.describe(own), members=members)
    return out


__all__ = ["ItemQuantity", "ItemShare", "ItemSum", "Key", "item_sums", "quantities"]
