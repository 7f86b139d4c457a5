"""ConnectWise catalog products: the tenant's choice (identifier per item, subcategory, type) and "Create addition"
(the catalog product if absent, then an addition on the chosen agreement, mapped to the company)."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter
from pydantic import BaseModel, Field, StringConstraints

from seatsync.services import connectwise_connection as cw
from seatsync.services import cw_catalog
from seatsync.web.api.routes.mappings import MappingOut, mapping_out
from seatsync.web.deps import AdminOperator, CurrentOperator, DbSession, State, Tenant, commit_on_connector_error

router = APIRouter(prefix="/connectwise", tags=["connectwise"])

Item = Literal["", "sat", "phishing"]
Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]


class ProductOut(BaseModel):
    item: Item = Field(description='"" = the addition for all of a company\'s products; "sat" / "phishing" = that one')
    identifier: str
    description: str


class CatalogOut(BaseModel):
    subcategory: str = Field(description="product subcategory of new catalog products (name, or id); '' = not chosen")
    type: str = Field(description="product type of new catalog products (name, or id); '' = not chosen")
    products: list[ProductOut]


class ProductIn(BaseModel):
    item: Item
    identifier: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=75)]
    description: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=60)]


class CatalogIn(BaseModel):
    subcategory: Text
    type: Text
    products: list[ProductIn] = Field(default_factory=list, max_length=3)


class CreateAdditionIn(BaseModel):
    company_id: str = Field(min_length=1, max_length=200)
    cw_company_id: int = Field(ge=1, le=2_147_483_647)
    agreement_id: int = Field(ge=1, le=2_147_483_647)
    product: Item = ""


class CreatedAdditionOut(BaseModel):
    catalog_identifier: str
    catalog_created: bool = Field(description="the catalog product was made now (it was absent)")
    addition_id: int
    agreement_id: int
    mapping: MappingOut


def catalog_out(settings: cw_catalog.CatalogSettings) -> CatalogOut:
    return CatalogOut(
        subcategory=settings.subcategory,
        type=settings.product_type,
        products=[
            ProductOut(item=key, identifier=value.identifier, description=value.description)
            for key, value in settings.products.items()
        ],
    )


@router.get("/catalog")
def get_catalog(principal: CurrentOperator, tenant: Tenant, db: DbSession) -> CatalogOut:
    """The catalog products auto-map looks for and "Create addition" makes when absent."""
    return catalog_out(cw_catalog.catalog_settings(db, tenant=tenant))


@router.put("/catalog", responses={409: {"description": "ConnectWise is not connected"}})
def put_catalog(body: CatalogIn, principal: AdminOperator, tenant: Tenant, db: DbSession) -> CatalogOut:
    """Choose them once for the tenant (items left out keep their identifier)."""
    saved = cw_catalog.save_catalog_settings(
        db,
        tenant=tenant,
        subcategory=body.subcategory,
        product_type=body.type,
        products={p.item: cw_catalog.ProductSetting(p.identifier, p.description) for p in body.products},
    )
    return catalog_out(saved)


@router.post(
    "/additions",
    status_code=201,
    responses={
        404: {"description": "no such company"},
        409: {"description": "a broken chain, catalog settings missing, or rights missing (each named)"},
    },
)
def create_addition(
    body: CreateAdditionIn, principal: AdminOperator, tenant: Tenant, db: DbSession, state: State
) -> CreatedAdditionOut:
    """Create addition: check the rights first (naming each missing one), make the catalog product if absent,
    then the addition (quantity 0) on the agreement, and map the company (or its product) to it."""
    with commit_on_connector_error(db), cw.client_for(db, tenant=tenant, settings=state.settings) as client:
        created = cw_catalog.create_addition(
            db,
            tenant=tenant,
            company_id=body.company_id,
            cw_company=body.cw_company_id,
            agreement=body.agreement_id,
            product=body.product,
            by=principal.email,
            client=client,
        )
    return CreatedAdditionOut(
        catalog_identifier=created.catalog_item.identifier,
        catalog_created=created.catalog_created,
        addition_id=created.addition.id,
        agreement_id=body.agreement_id,
        mapping=mapping_out(db, tenant, body.company_id, created.mapping),
    )
