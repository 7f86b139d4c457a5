"""``seatsync catalog connectwise``: the tenant's ConnectWise catalog products ("Create addition" makes them)."""

from __future__ import annotations

import click

from seatsync.cli.context import app_context, database_option
from seatsync.cli.output import render
from seatsync.db.engine import transaction


@click.group("catalog")
def catalog() -> None:
    """The catalog products a target's new items are made of."""


@catalog.command("connectwise")
@click.option("--tenant", "tenant_slug", required=True, help="Tenant slug.")
@click.option("--subcategory", default=None, help="Product subcategory for new catalog products (name, or id).")
@click.option("--type", "product_type", default=None, help="Product type for new catalog products (name, or id).")
@click.option("--identifier", default=None, help="Catalog identifier of the addition for all of a company's products.")
@click.option("--description", default=None, help="Its description (60 characters at most).")
@click.option("--sat-identifier", default=None, help="Catalog identifier of the training (sat) addition.")
@click.option("--sat-description", default=None, help="Its description.")
@click.option("--phishing-identifier", default=None, help="Catalog identifier of the phishing addition.")
@click.option("--phishing-description", default=None, help="Its description.")
@click.option("--format", "fmt", type=click.Choice(["table", "csv", "json"]), default="table", show_default=True)
@database_option
def catalog_connectwise(
    tenant_slug: str,
    subcategory: str | None,
    product_type: str | None,
    identifier: str | None,
    description: str | None,
    sat_identifier: str | None,
    sat_description: str | None,
    phishing_identifier: str | None,
    phishing_description: str | None,
    fmt: str,
) -> None:
    """Show, or set, the catalog products auto-map looks for and "Create addition" makes when absent."""
    from seatsync.services import cw_catalog
    from seatsync.services.tenants import get_tenant

    given = {
        "": (identifier, description),
        "sat": (sat_identifier, sat_description),
        "phishing": (phishing_identifier, phishing_description),
    }
    with transaction(app_context().engine) as session:
        tenant = get_tenant(session, slug=tenant_slug)
        current = cw_catalog.catalog_settings(session, tenant=tenant)
        if subcategory or product_type or any(a or b for a, b in given.values()):
            products = {
                key: cw_catalog.ProductSetting(
                    new_identifier or current.products[key].identifier,
                    new_description or current.products[key].description,
                )
                for key, (new_identifier, new_description) in given.items()
                if new_identifier or new_description
            }
            current = cw_catalog.save_catalog_settings(
                session,
                tenant=tenant,
                subcategory=subcategory or current.subcategory,
                product_type=product_type or current.product_type,
                products=products,
            )
    rows: list[list[object]] = [
        [key or "all", setting.identifier, setting.description] for key, setting in current.products.items()
    ]
    click.echo(render(["item", "identifier", "description"], rows, fmt), nl=False)
    if fmt == "table":
        click.echo(
            f"subcategory: {current.subcategory or '(not chosen)'}; type: {current.product_type or '(not chosen)'}"
        )
