"""ConnectWise › Catalog settings: the catalog products auto-map looks for and "Create addition" makes (one page,
its form posts to itself; the same service as ``PUT /api/v1/connectwise/catalog``)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, Response

from seatsync.db.models import Tenant as TenantRow
from seatsync.errors import SeatsyncError
from seatsync.services import cw_catalog
from seatsync.web.deps import AdminOperator, CurrentOperator, DbSession, Tenant
from seatsync.web.flash import flash_redirect
from seatsync.web.pages import page

router = APIRouter(include_in_schema=False)
CATALOG = "/connectwise/catalog"
ITEM_LABELS = {"": "One addition for all of a company's products", "sat": "Training (sat)", "phishing": "Phishing"}


def catalog_page(
    request: Request,
    tenant: TenantRow,
    settings: cw_catalog.CatalogSettings,
    *,
    flash: str | None = None,
    flash_kind: str = "ok",
    status_code: int = 200,
) -> HTMLResponse:
    return page(
        request,
        "catalog.html",
        {
            "nav": "billing",
            "tenant": tenant,
            "settings": settings,
            "items": [(key, ITEM_LABELS[key], settings.products[key]) for key in cw_catalog.ITEM_KEYS],
            "flash": flash,
            "flash_kind": flash_kind,
        },
        status_code,
    )


@router.get("/connectwise/catalog")
def catalog_view(request: Request, principal: CurrentOperator, tenant: Tenant, db: DbSession) -> Response:
    return catalog_page(request, tenant, cw_catalog.catalog_settings(db, tenant=tenant))


@router.post("/connectwise/catalog")
def catalog_submit(
    request: Request,
    principal: AdminOperator,
    tenant: Tenant,
    db: DbSession,
    subcategory: Annotated[str, Form(max_length=100)] = "",
    product_type: Annotated[str, Form(max_length=100)] = "",
    identifier_all: Annotated[str, Form(max_length=200)] = "",
    description_all: Annotated[str, Form(max_length=200)] = "",
    identifier_sat: Annotated[str, Form(max_length=200)] = "",
    description_sat: Annotated[str, Form(max_length=200)] = "",
    identifier_phishing: Annotated[str, Form(max_length=200)] = "",
    description_phishing: Annotated[str, Form(max_length=200)] = "",
) -> Response:
    given = {
        "": (identifier_all, description_all),
        "sat": (identifier_sat, description_sat),
        "phishing": (identifier_phishing, description_phishing),
    }
    try:
        saved = cw_catalog.save_catalog_settings(
            db,
            tenant=tenant,
            subcategory=subcategory,
            product_type=product_type,
            products={key: cw_catalog.ProductSetting(i, d) for key, (i, d) in given.items()},
        )
    except SeatsyncError as exc:
        db.rollback()
        return flash_redirect(CATALOG, f"Not saved: {exc}", "error")
    assert saved is not None
    return flash_redirect(CATALOG, "Catalog settings saved.")
