"""The mapper's rows as HTML, printed in Python: a page of 50 rows through the template engine spent most of its
time in per-value escaping and attribute look-ups; here only text that comes from users or the PSA is escaped,
into plain strings (``markupsafe.escape`` makes a ``Markup`` object per value, which cost more than the escaping).
The markup is the template's (``templates/mapper.html`` prints the rest of the page); ``RowCells.extras`` are
cells a feature adds, already HTML."""

from __future__ import annotations

from collections.abc import Collection, Sequence

from markupsafe import Markup

from seatsync.web.mappers.base import ChoiceCell, MapperLayout, RowCells, StatusCell, switch_label


def _e(text: str) -> str:
    """HTML-escaped as ``markupsafe.escape`` escapes it (the same entities), as a plain string."""
    return (
        text.replace("&", "&amp;").replace(">", "&gt;").replace("<", "&lt;").replace("'", "&#39;").replace('"', "&#34;")
    )


def _choice(placeholder: str, level: int, pk: int, cell: ChoiceCell, readonly: str) -> str:
    """``placeholder``: the level's empty option, escaped."""
    product = cell.product
    if product:
        product_id = f"p{level}{product}{pk}"
        labelled = f'aria-labelledby="h{level} n{pk} {product_id}"'
        heading = f'<span class="pp" id="{product_id}">{_e(cell.product_label)}</span>'
        data_p = f' data-p="{_e(product)}"'
    else:
        labelled = f'aria-labelledby="h{level} n{pk}"'
        heading = data_p = ""
    if level == 0:
        box = f'<input class="pick" role="combobox" {labelled} value="{_e(cell.label)}" data-id="{_e(cell.value)}"{data_p}{readonly}>'
        # one box per product: each in its own wrapper, which places its clear button
        return f'{heading}<span class="pw">{box}</span>' if product else box
    if cell.value:
        option = f'<option value="{_e(cell.value)}">{_e(cell.label)}'
    else:
        option = f'<option value="">{"—" if cell.disabled else placeholder}'
    disabled = " disabled" if cell.disabled else ""
    return f'{heading}<select data-l="{level}"{data_p} {labelled}{disabled}>{option}</select>'


def _status(s: StatusCell) -> str:
    if s.kind == "none":
        title = f' title="{_e(s.title)}"' if s.title else ""
        return f'<span class="status status-none"{title}>{_e(s.label)}</span>'
    icon = "✓" if s.kind == "ok" else "✗"
    return (
        f'<button type="button" class="status status-{s.kind}" data-run="{_e(s.run)}" '
        f'data-q="{_e(s.quantity)}" title="{_e(s.title)}"><i aria-hidden="true">{icon}</i>'
        f"{_e(s.label)}</button>"
    )


def _switch(layout: MapperLayout, v: RowCells, csrf: str, back: str) -> str:
    """An admin's "Bill products separately" / "One item for all products" form (post/redirect/get)."""
    return (
        f'<form method="post" action="/{layout.target}/billing/products" class="products-switch">'
        f'<input type="hidden" name="csrf_token" value="{_e(csrf)}">'
        f'<input type="hidden" name="company_id" value="{_e(v.company_id)}">'
        f'<input type="hidden" name="mode" value="{"together" if v.apart else "separate"}">'
        f'<input type="hidden" name="back" value="{_e(back)}">'
        f'<button type="submit" class="small link-plain" aria-describedby="n{v.pk}">{switch_label(v.apart)}</button>'
        "</form>"
    )


def render_rows(
    layout: MapperLayout,
    rows: Sequence[RowCells],
    *,
    admin: bool,
    csrf: str | None = None,
    back: str = "",
    both_products: Collection[int] = (),
) -> Markup:
    """``csrf`` (an admin's): rows of the companies in ``both_products`` (they subscribe to both products) get the
    switch between one item and one per product; ``back`` is the page it returns to."""
    readonly = "" if admin else " readonly"
    placeholders = [_e(level.placeholder) for level in layout.levels]
    switches = admin and bool(csrf)
    back = back or layout.path
    out: list[str] = []
    for v in rows:
        pk = v.pk
        company_id = _e(v.company_id)
        out.append(
            f'<tr data-company="{company_id}"><th scope="row" id="n{pk}">'
            f'<span class="company-name">{_e(v.name)}</span> <code>{company_id}</code>\n'
            f'<td class="num">{v.billable}'
        )
        last = len(v.choices) - 1
        for level, column in enumerate(v.choices):
            out.append("\n<td>")
            placeholder = placeholders[level]
            for cell in column:
                out.append(_choice(placeholder, level, pk, cell, readonly))
            # the switch sits under the item choices it changes (not in the row's heading, which names every box)
            if level == last and switches and pk in both_products:
                out.append(_switch(layout, v, str(csrf), back))
        for extra in v.extras:
            out.append(f"\n<td>{extra}")
        saved_title = f' title="{_e(v.saved_title)}"' if v.saved_title else ""
        out.append(f'\n<td>{_status(v.status)}\n<td class="saved"{saved_title}>{_e(v.saved_date)}\n')
    return Markup("".join(out))  # noqa: S704 - every text above is escaped
