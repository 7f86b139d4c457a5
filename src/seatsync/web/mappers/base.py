"""One mapper page for every target: what a target says about its mapper, and the cells of one row.

A target's mapper is a chain of choices (``Level``): ConnectWise Company → Agreement → Addition, Autotask
company → contract → contract service, HaloPSA client → subscription. The first level is a searchable box, the
others are lists read live from the PSA, each filtered by the choice before it. The last level is the **item**; a
company whose products are billed apart gets one item choice per product in its row.

A target registers a ``MapperSource`` (``seatsync.web.mappers.register``): its ``MapperLayout`` (headings, the
save and choice addresses) and ``choices`` (the options of one level under a parent). The page
(``templates/mapper.html``) and the script (``static/mapper.js``) know nothing else about the target. Rows are
``RowCells``: every value ready to print, so that rendering 50 rows stays cheap; ``extras`` are cells a feature
adds after the item (e.g. invoice timing), each already HTML-escaped, in the order of ``MapperLayout.extra_columns``.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

from markupsafe import Markup

from seatsync.services import automation

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from seatsync.config import Settings
    from seatsync.db.models import Tenant

#: product keys of a per-product item ("" = one item for all the company's products)
PRODUCT_LABELS = {"": "", "sat": "Training", "phishing": "Phishing"}


def switch_label(apart: bool) -> str:
    """What a row's switch between one item for all products and one per product says (docs say the same)."""
    return "One item for all products" if apart else "Bill products separately"


@dataclass(frozen=True, slots=True)
class Level:
    """One choice of the chain."""

    #: the key the choices address uses: ``/api/v1/mapper/{target}/choices/{key}``
    key: str
    #: the column's heading, e.g. "ConnectWise Agreement"
    heading: str
    #: the field of the save request's body that carries this level's id
    field: str
    #: what a user chooses, in a sentence: "agreement" ("Not pushed: choose agreement and addition")
    noun: str
    #: the empty option of the list once the level above is chosen
    placeholder: str


@dataclass(frozen=True, slots=True)
class ExtraColumn:
    """A column a feature adds after the item (its cells come in ``RowCells.extras``)."""

    key: str
    heading: str
    #: a CSS width, e.g. "7rem"
    width: str = "7rem"


@dataclass(frozen=True, slots=True)
class CreateField:
    """A field the "Create ..." dialog asks for before the item is made (sent as ``key`` when filled in)."""

    key: str
    label: str
    #: said in the empty box (e.g. what is used when it is left empty)
    placeholder: str = ""
    #: a list to choose from: ``GET`` answers ``[{"id": ..., "name": ...}]``; "" for a text box
    choices_url: str = ""


@dataclass(frozen=True, slots=True)
class MapperLayout:
    target: str
    #: the PSA's name, e.g. "ConnectWise"
    name: str
    #: the page's address, e.g. "/connectwise/billing"
    path: str
    levels: tuple[Level, ...]
    #: ``PUT`` saves, ``DELETE`` clears a company's mapping; ``{company}`` is replaced by its id
    save_url: str
    extra_columns: tuple[ExtraColumn, ...] = ()
    #: the JSON field that names the product of a per-product item (sent only when the row bills products apart)
    product_field: str = "product"
    #: "Create addition": ``POST`` here with ``company_id`` and the ids of every level above the item makes the
    #: item in the PSA and maps it (answers ``{"<item field>": id, "mapping": {...}}``); "" when the PSA has none
    create_item_url: str = ""
    create_item_label: str = ""
    #: what "Create ..." asks for first (a dialog); none: the item is made at once with the PSA's defaults
    create_fields: tuple[CreateField, ...] = ()
    #: links in the page's head, e.g. ``(("Catalog settings", "/connectwise/catalog"),)``
    links: tuple[tuple[str, str], ...] = ()

    @property
    def skips_invoiced(self) -> bool:
        """The target can leave out rows whose period is already invoiced (``PushOptions.skip_invoiced``): the push
        dialogs offer it. The target's own ``check_options`` decides, as for its pushes and schedules."""
        return automation.skips_invoiced(self.target)

    @property
    def title(self) -> str:
        return f"{self.name} › Billing"

    @property
    def choices_url(self) -> str:
        return f"/api/v1/mapper/{self.target}/choices"

    def script_config(self) -> str:
        """What ``mapper.js`` needs, as JSON for a ``data-`` attribute (escaped by the template)."""
        return json.dumps(
            {
                "target": self.target,
                "name": self.name,
                "save": self.save_url,
                "choices": self.choices_url,
                "product": self.product_field,
                "create": {
                    "url": self.create_item_url,
                    "label": self.create_item_label,
                    "fields": [
                        {"key": f.key, "label": f.label, "placeholder": f.placeholder, "choices": f.choices_url}
                        for f in self.create_fields
                    ],
                }
                if self.create_item_url
                else None,
                "levels": [
                    {"key": v.key, "field": v.field, "noun": v.noun, "placeholder": v.placeholder} for v in self.levels
                ],
            },
            separators=(",", ":"),
        )

    def missing(self, chosen: int) -> str:
        """The row's status when only the first ``chosen`` levels are set: "Not mapped" (nothing chosen), "Not
        pushed: choose addition"."""
        if chosen == 0:
            return "Not mapped"
        nouns = [v.noun for v in self.levels[chosen:]]
        said = nouns[0] if len(nouns) == 1 else ", ".join(nouns[:-1]) + " and " + nouns[-1]
        return f"Not pushed: choose {said}"


# The cells of a row are not frozen dataclasses: a page builds some 250 of them, and a frozen dataclass's
# ``__init__`` (``object.__setattr__`` per field) costs about three times a plain one. Nothing changes them.
@dataclass(slots=True)
class ChoiceCell:
    """One choice box of a row: its saved value (shown at once; the full list is read when the box is opened)."""

    value: str = ""
    label: str = ""
    #: no choice above it yet, or a viewer: the box cannot be used
    disabled: bool = True
    #: "" for one item for all the company's products, else the product this item bills
    product: str = ""

    @property
    def product_label(self) -> str:
        return PRODUCT_LABELS.get(self.product, self.product)


@dataclass(slots=True)
class StatusCell:
    #: "ok" | "bad" (a button opening the details) | "none" (a plain label)
    kind: str
    label: str
    title: str = ""
    #: for the details view: the run and "before → after" as the row shows it
    run: str = ""
    quantity: str = ""


@dataclass(slots=True)
class RowCells:
    #: the company's row id in the page (its primary key) and its own id
    pk: int
    company_id: str
    name: str
    billable: int
    #: one tuple per level; the item level has one cell per product when the company's products are billed apart
    choices: tuple[tuple[ChoiceCell, ...], ...]
    status: StatusCell
    saved_date: str
    saved_title: str
    extras: tuple[Markup, ...] = field(default=())

    @property
    def apart(self) -> bool:
        """The company's products are billed on separate items (the item level has one cell per product)."""
        return bool(self.choices and any(c.product for c in self.choices[-1]))

    @property
    def mapped(self) -> bool:
        return bool(self.choices and self.choices[0] and self.choices[0][0].value)


@dataclass(frozen=True, slots=True)
class Choice:
    """One option of a level, as the choices API returns it."""

    id: str
    label: str
    #: a second line in the search box's list (e.g. the PSA's identifier), or ""
    detail: str = ""


class MapperSource(Protocol):
    """What a target gives the mapper page."""

    @property
    def layout(self) -> MapperLayout: ...

    def choices(
        self, session: Session, *, tenant: Tenant, settings: Settings, level: str, parent: str | None, q: str
    ) -> Sequence[Choice]:
        """The options of ``level`` under ``parent`` (the chosen id of the level above; ``None`` for the first
        level, which is searched with ``q``). ``NotFound`` for an unknown level."""
        ...


_SOURCES: dict[str, MapperSource] = {}


def register(source: MapperSource) -> None:
    _SOURCES[source.layout.target] = source


def mapper_source(target: str) -> MapperSource:
    from seatsync.errors import NotFound

    found = _SOURCES.get(target)
    if found is None:
        raise NotFound(f"no mapper for target {target!r}; known: {', '.join(sorted(_SOURCES)) or 'none'}")
    return found


def mapper_sources() -> list[MapperSource]:
    return list(_SOURCES.values())
