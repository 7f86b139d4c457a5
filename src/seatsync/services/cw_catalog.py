"""The tenant's ConnectWise catalog products, and "Create addition": make what is missing in ConnectWise.

    settings = catalog_settings(session, tenant=t)        # identifiers per item, subcategory, type
    save_catalog_settings(session, tenant=t, subcategory="Security", product_type="Service",
                          products={"": ProductSetting("PHISH-SAT", "Security awareness training & phishing")})
    created = create_addition(session, tenant=t, company_id="acme", cw_company=250, agreement=100,
                              product="", by="ops@msp.example", client=client)

The settings are chosen once per tenant (the ConnectWise › Catalog settings page, ``seatsync connectwise
catalog``, ``PUT /api/v1/connectwise/catalog``) and kept with the ConnectWise integration (a reconnect keeps
them). The item for all of a company's products uses the identifier under ``""``; an item per product uses the
identifier under ``"sat"`` or ``"phishing"``. Auto-map looks for additions of these identifiers.

Creating an addition checks the rights it needs first and names every one that is missing, without changing
anything: Finance › Agreements › Edit (the addition) and, when the catalog product is absent, Procurement ›
Product Catalog › Add. Then it creates the catalog product if absent, the addition (quantity 0) on the chosen
agreement, and saves the company's mapping to it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from sqlalchemy import select
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import flag_modified

from seatsync.connectors.connectwise import Addition, CatalogItem, Right, where
from seatsync.connectors.connectwise.api import ConnectWiseApi
from seatsync.db.models import CWMapping, Integration, Tenant
from seatsync.errors import (
    AuthenticationFailed,
    ConfigurationError,
    ConnectorError,
    MissingRights,
    PermissionDenied,
    UserInputError,
)
from seatsync.services import mappings

KIND = "connectwise"
#: the item key of "one item for all the company's products"
ALL_PRODUCTS = ""
ITEM_KEYS = (ALL_PRODUCTS, "sat", "phishing")
IDENTIFIER_LIMIT = 75
DESCRIPTION_LIMIT = 60


@dataclass(frozen=True, slots=True)
class ProductSetting:
    identifier: str
    description: str


DEFAULT_PRODUCTS: dict[str, ProductSetting] = {
    ALL_PRODUCTS: ProductSetting("PHISH-SAT", "Security awareness training & phishing"),
    "sat": ProductSetting("PHISH-SAT-TRAINING", "Security awareness training"),
    "phishing": ProductSetting("PHISH-SAT-PHISHING", "Phishing simulation"),
}


@dataclass(frozen=True, slots=True)
class CatalogSettings:
    products: dict[str, ProductSetting] = field(default_factory=lambda: dict(DEFAULT_PRODUCTS))
    #: a ConnectWise product subcategory and type, by name (or id as digits); "" = not chosen yet
    subcategory: str = ""
    product_type: str = ""

    def identifier(self, item: str = ALL_PRODUCTS) -> str:
        return self.products.get(item, DEFAULT_PRODUCTS[item]).identifier

    def as_dict(self) -> dict[str, Any]:
        return {
            "subcategory": self.subcategory,
            "type": self.product_type,
            "products": {
                k: {"identifier": v.identifier, "description": v.description} for k, v in self.products.items()
            },
        }


class CatalogApi(ConnectWiseApi, Protocol):
    """The ConnectWise calls "Create addition" makes (``ConnectWiseClient`` has them)."""

    def list_catalog(self, conditions: Any = None) -> list[CatalogItem]: ...

    def create_catalog_item(
        self,
        *,
        identifier: str,
        description: str,
        subcategory: Mapping[str, Any],
        product_type: Mapping[str, Any],
        customer_description: str | None = None,
    ) -> CatalogItem: ...

    def create_addition(
        self,
        agreement_id: int,
        *,
        product_id: int,
        quantity: float = 0.0,
        description: str | None = None,
        effective_date: str | None = None,
    ) -> Addition: ...

    def probe_create(self, path: str, right: Right) -> int: ...


def _integration(session: Session, tenant: Tenant) -> Integration | None:
    return session.scalar(select(Integration).where(Integration.tenant_id == tenant.id, Integration.kind == KIND))


def catalog_settings(session: Session, *, tenant: Tenant) -> CatalogSettings:
    integration = _integration(session, tenant)
    stored: dict[str, Any] = dict((integration.settings or {}).get("catalog") or {}) if integration else {}
    legacy = (integration.settings or {}).get("catalog_identifier") if integration else None
    products = dict(DEFAULT_PRODUCTS)
    if legacy:
        products[ALL_PRODUCTS] = ProductSetting(str(legacy), DEFAULT_PRODUCTS[ALL_PRODUCTS].description)
    for key, value in (stored.get("products") or {}).items():
        if key in ITEM_KEYS and isinstance(value, dict) and value.get("identifier"):
            products[key] = ProductSetting(
                str(value["identifier"]), str(value.get("description") or DEFAULT_PRODUCTS[key].description)
            )
    return CatalogSettings(products, str(stored.get("subcategory") or ""), str(stored.get("type") or ""))


def _clean(value: str, what: str, limit: int) -> str:
    text = value.strip()
    if not text:
        raise UserInputError(f"the {what} is empty")
    if len(text) > limit:
        raise UserInputError(f"the {what} {text[:20]!r}… is longer than ConnectWise's {limit} characters")
    return text


def save_catalog_settings(
    session: Session,
    *,
    tenant: Tenant,
    subcategory: str,
    product_type: str,
    products: Mapping[str, ProductSetting],
) -> CatalogSettings:
    """Store the tenant's choice (the ConnectWise integration must exist: connect first)."""
    integration = _integration(session, tenant)
    if integration is None:
        raise ConfigurationError(
            f"tenant {tenant.slug!r} is not connected to ConnectWise; connect it before choosing catalog products"
        )
    chosen = dict(catalog_settings(session, tenant=tenant).products)
    for key, value in products.items():
        if key not in ITEM_KEYS:
            raise UserInputError(f"unknown item {key!r}: use '' (all products), 'sat' or 'phishing'")
        item = "" if key == ALL_PRODUCTS else f" of {key}"
        chosen[key] = ProductSetting(
            _clean(value.identifier, f"catalog identifier{item}", IDENTIFIER_LIMIT),
            _clean(value.description, f"catalog description{item}", DESCRIPTION_LIMIT),
        )
    identifiers = [p.identifier.casefold() for p in chosen.values()]
    if len(set(identifiers)) != len(identifiers):
        raise UserInputError("each item needs its own catalog identifier (two items share one)")
    result = CatalogSettings(
        chosen,
        _clean(subcategory, "product subcategory", 100),
        _clean(product_type, "product type", 100),
    )
    integration.settings = {**(integration.settings or {}), "catalog": result.as_dict()}
    flag_modified(integration, "settings")
    session.flush()
    return result


def reference(value: str) -> dict[str, Any]:
    """A ConnectWise reference from a setting: digits are an id, anything else a name."""
    text = value.strip()
    return {"id": int(text)} if text.isdigit() else {"name": text}


@dataclass(frozen=True, slots=True)
class CreatedAddition:
    catalog_item: CatalogItem
    catalog_created: bool
    addition: Addition
    mapping: CWMapping


def find_catalog_item(client: CatalogApi, identifier: str) -> CatalogItem | None:
    found = [
        c
        for c in client.list_catalog(where("identifier", "=", identifier))
        if c.identifier.casefold() == identifier.casefold()
    ]
    return found[0] if found else None


def _has(client: CatalogApi, path: str, right: Right) -> bool:
    try:
        client.probe_create(path, right)
    except PermissionDenied:
        return False
    return True


def required_rights(client: CatalogApi, *, agreement: int, catalog_missing: bool) -> list[Right]:
    """The rights "Create addition" needs that the API member lacks (probed; nothing is created)."""
    missing: list[Right] = []
    if catalog_missing and not _has(client, "/procurement/catalog", Right.CATALOG_ADD):
        missing.append(Right.CATALOG_ADD)
    if not _has(client, f"/finance/agreements/{int(agreement)}/additions", Right.AGREEMENTS_EDIT):
        missing.append(Right.AGREEMENTS_EDIT)
    return missing


def create_addition(
    session: Session,
    *,
    tenant: Tenant,
    company_id: str,
    cw_company: int,
    agreement: int,
    product: str = ALL_PRODUCTS,
    by: str,
    client: CatalogApi,
) -> CreatedAddition:
    """Make the catalog product (if absent) and an addition of it on ``agreement``, then map the company to it.

    Refused before anything is created when the chain is broken (``Conflict``) or a right is missing
    (``MissingRights``, naming each).
    """
    product = mappings.check_product_choice(session, tenant=tenant, company_id=company_id, product=product)
    settings = catalog_settings(session, tenant=tenant)
    setting = settings.products[product]
    mappings.validate_chain(client, cw_company=cw_company, agreement=agreement, addition=None)
    try:
        item = find_catalog_item(client, setting.identifier)
        if item is None and not (settings.subcategory and settings.product_type):
            raise ConfigurationError(
                f"the ConnectWise catalog has no product {setting.identifier!r}; choose the subcategory and type "
                "for new catalog products in ConnectWise › Catalog settings first"
            )
        missing = required_rights(client, agreement=agreement, catalog_missing=item is None)
        if missing:
            raise MissingRights(
                "the API member's security role lacks "
                + "; ".join(str(r) for r in missing)
                + ": grant it in ConnectWise (System › Security Roles) and try again",
                rights=tuple(str(r) for r in missing),
            )
        created = item is None
        if item is None:
            item = client.create_catalog_item(
                identifier=setting.identifier,
                description=setting.description,
                subcategory=reference(settings.subcategory),
                product_type=reference(settings.product_type),
            )
        addition = client.create_addition(agreement, product_id=item.id, quantity=0.0, description=setting.description)
    except AuthenticationFailed:
        raise
    except PermissionDenied as exc:
        raise MissingRights(str(exc), rights=(exc.right,) if exc.right else ()) from exc
    except ConnectorError:
        raise
    mapping = mappings.set_mapping(
        session,
        tenant=tenant,
        company_id=company_id,
        cw_company=cw_company,
        agreement=agreement,
        addition=addition.id,
        by=by,
        client=client,
        product=product,
    )
    return CreatedAddition(item, created, addition, mapping)


__all__ = [
    "ALL_PRODUCTS",
    "DEFAULT_PRODUCTS",
    "ITEM_KEYS",
    "CatalogApi",
    "CatalogSettings",
    "CreatedAddition",
    "ProductSetting",
    "catalog_settings",
    "create_addition",
    "find_catalog_item",
    "reference",
    "required_rights",
    "save_catalog_settings",
]
