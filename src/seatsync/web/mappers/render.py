"""The mapper's rows as HTML, printed in Python: a page of 50 rows through the template engine spent most of its
time in per-value escaping and attribute look-ups; here only text that comes from users or the PSA is escaped.
The markup is the template's (``templates/mapper.html`` prints the rest of the page); ``RowCells.extras`` are
cells a feature adds, already HTML."""

from __future__ import annotations

from collections.abc import Sequence

from markupsafe import Markup, escape

from seatsync.web.mappers.base import ChoiceCell, MapperLayout, RowCells, StatusCell, switch_label


def _attr(name: str, value: str) -> str:
    return f' {name}="{escape(value)}"' if value else ""


def _choice(layout: MapperLayout, level: int, pk: int, cell: ChoiceCell, readonly: str) -> str:
    product = (
        f'<span class="pp" id="p{level}{cell.product}{pk}">{escape(cell.product_label)}</span>' if cell.product else ""
    )
    labelled = f'aria-labelledby="h{level} n{pk}{f" p{level}{cell.product}{pk}" if cell.product else ""}"'
    data_p = _attr("data-p", cell.product)
    if level == 0:
        box = (
            f'<input class="pick" role="combobox" {labelled} value="{escape(cell.label)}" '
            f'data-id="{escape(cell.value)}"{data_p}{readonly}>'
        )
        # one box per product: each in its own wrapper, which places its clear button
        return f'{product}<span class="pw">{box}</span>' if cell.product else box
    disabled = " disabled" if cell.disabled else ""
    if cell.value:
        option = f'<option value="{escape(cell.value)}">{escape(cell.label)}'
    else:
        option = f'<option value="">{"—" if cell.disabled else escape(layout.levels[level].placeholder)}'
    return f'{product}<select data-l="{level}"{data_p} {labelled}{disabled}>{option}</select>'


def _status(s: StatusCell) -> str:
    if s.kind == "none":
        return f'<span class="status status-none"{_attr("title", s.title)}>{escape(s.label)}</span>'
    icon = "✓" if s.kind == "ok" else "✗"
    return (
        f'<button type="button" class="status status-{s.kind}" data-run="{escape(s.run)}" '
        f'data-q="{escape(s.quantity)}" title="{escape(s.title)}"><i aria-hidden="true">{icon}</i>'
        f"{escape(s.label)}</button>"
    )


def _switch(layout: MapperLayout, v: RowCells, csrf: str, back: str) -> str:
    """An admin's "Bill products separately" / "One item for all products" form (post/redirect/get)."""
    return (
        f'<form method="post" action="/{layout.target}/billing/products" class="products-switch">'
        f'<input type="hidden" name="csrf_token" value="{escape(csrf)}">'
        f'<input type="hidden" name="company_id" value="{escape(v.company_id)}">'
        f'<input type="hidden" name="mode" value="{"together" if v.apart else "separate"}">'
        f'<input type="hidden" name="back" value="{escape(back)}">'
        f'<button type="submit" class="small link-plain" aria-describedby="n{v.pk}">{switch_label(v.apart)}</button>'
        "</form>"
    )


def render_rows(
    layout: MapperLayout, rows: Sequence[RowCells], *, admin: bool, csrf: str | None = None, back: str = ""
) -> Markup:
    """``csrf`` (an admin's): rows of companies with both products get the switch between one item and one per
    product; ``back`` is the page it returns to."""
    readonly = "" if admin else " readonly"
    out: list[str] = []
    for v in rows:
        switch = _switch(layout, v, csrf, back or layout.path) if admin and csrf and v.both_products else ""
        # the switch sits under the item choices it changes (not in the row's heading, which names every box)
        cells = "".join(
            "\n<td>"
            + "".join(_choice(layout, level, v.pk, c, readonly) for c in column)
            + (switch if level == len(v.choices) - 1 else "")
            for level, column in enumerate(v.choices)
        )
        extras = "".join(f"\n<td>{x}" for x in v.extras)
        out.append(
            f'<tr data-company="{escape(v.company_id)}"><th scope="row" id="n{v.pk}">'
            f'<span class="company-name">{escape(v.name)}</span> <code>{escape(v.company_id)}</code>\n'
            f'<td class="num">{v.billable}{cells}{extras}\n<td>{_status(v.status)}\n'
            f'<td class="saved"{_attr("title", v.saved_title)}>{escape(v.saved_date)}\n'
        )
    return Markup("".join(out))  # noqa: S704 - every text above is escaped
