"""HaloPSA commands: ``sandbox halopsa`` and ``connect halopsa``."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import click

from seatsync.cli.context import (
    app_context,
    billed_together_option,
    clear_option,
    cleared_psa_mapping,
    database_option,
)
from seatsync.cli.push import PushCommand, number, push_options
from seatsync.db.engine import transaction
from seatsync.push import runs


@click.command("halopsa")
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to listen on.")
@click.option("--port", default=8103, show_default=True, type=int, help="Port (0 picks a free one).")
@click.option("--latency-ms", default=0.0, show_default=True, type=float, help="Added to every API answer.")
@click.option(
    "--rate-limit",
    default=60.0,
    show_default=True,
    type=float,
    help="Requests a minute, counted over the rolling window (hosted Halo: 300 per 5 minutes; 0: none).",
)
@click.option(
    "--rate-window",
    default=300.0,
    show_default=True,
    type=click.FloatRange(min=0.001),
    help="Seconds of the rolling window (a shorter one keeps the same ratio, for benchmarks).",
)
@click.option("--fault-rate", default=0.0, show_default=True, type=click.FloatRange(0, 1), help="Share of 500s/drops.")
@click.option("--seed", type=click.Choice(["demo", "empty"]), default="demo", show_default=True)
def sandbox_halopsa(
    host: str, port: int, latency_ms: float, rate_limit: float, rate_window: float, fault_rate: float, seed: str
) -> None:
    """A HaloPSA simulator (applications demo-client/demo-secret, scope all, and readonly-client/readonly-secret)."""
    import uvicorn

    from seatsync.sandboxes.halopsa import HaloPSASandbox, create_app, rate_limit_per_window
    from seatsync.sandboxes.server import free_port

    state = HaloPSASandbox(
        seed=seed,
        latency_ms=latency_ms,
        fault_rate=fault_rate,
        rate_limit=rate_limit_per_window(rate_limit, rate_window) if rate_limit else None,
        rate_window_seconds=rate_window,
    )
    port = port or free_port(host)
    url = f"http://{host}:{port}"
    limit = f"{state.rate_limit} requests per rolling {rate_window:g} s" if state.rate_limit else "no rate limit"
    click.echo(f"HaloPSA sandbox at {url} (token at {url}/auth/token, API at {url}/api; seed {seed}; {limit})")
    click.echo(f"  connect with: --url {url} --client-id demo-client --client-secret demo-secret")
    click.echo(f"  state: {url}/_sandbox/state")
    uvicorn.run(create_app(state), host=host, port=port, log_level="warning")


@click.command("halopsa")
@click.option("--tenant", "tenant_slug", required=True, help="Tenant slug.")
@click.option("--url", required=True, help="The HaloPSA address, e.g. https://acme.halopsa.com (the API is {url}/api).")
@click.option("--client-id", required=True, help="The API application's client id.")
@click.option(
    "--client-secret", prompt=True, hide_input=True, help="The API application's client secret (prompted if left out)."
)
@click.option("--auth-url", default=None, help="The authorisation server (default: {url}/auth; the token at /token).")
@click.option(
    "--halo-tenant", default=None, help="Hosted Halo's tenant name (sent as ?tenant= with the token request)."
)
@database_option
def connect_halopsa(
    tenant_slug: str, url: str, client_id: str, client_secret: str, auth_url: str | None, halo_tenant: str | None
) -> None:
    """Check the API application and each permission the billing push needs, and store it (encrypted)."""
    from seatsync.services import halopsa_connection as service
    from seatsync.services.tenants import get_tenant

    with transaction(app_context().engine) as session:
        tenant = get_tenant(session, slug=tenant_slug)
        result = service.connect(
            session,
            tenant=tenant,
            url=url,
            client_id=client_id,
            client_secret=client_secret,
            auth_url=auth_url,
            halo_tenant=halo_tenant,
            settings=app_context().settings,
        )
    for check in result.checks:
        click.echo(str(check))
    if result.status is service.IntegrationStatus.CONNECTED:
        click.echo(f"connected: {tenant_slug} -> HaloPSA at {url}")
        return
    if not result.stored:
        raise click.ClickException(f"the check failed: {result.reason}")
    raise click.ClickException(f"credentials stored, but the connection is {result.status.value}: {result.reason}")


@click.command("halopsa")
@click.option("--tenant", "tenant_slug", required=True, help="Tenant slug.")
@click.option("--company", "company_id", required=True, help="The company's id in seatsync.")
@click.option("--client", "client_id", type=int, default=None, help="HaloPSA client id (required unless --clear).")
@click.option("--licence", "licence_id", type=int, default=None, help="HaloPSA subscription (software licence) id.")
@click.option(
    "--create-subscription",
    "new_name",
    default=None,
    help="Create a subscription with this name under the client (count 0 until the first push) and map it.",
)
@click.option("--item", "item_id", type=int, default=None, help="The Halo item the new subscription bills.")
@click.option(
    "--start-date", type=click.DateTime(["%Y-%m-%d"]), default=None, help="The new subscription's start date."
)
@click.option(
    "--product", type=click.Choice(["sat", "phishing"]), default=None, help="Map only this product (default: all)."
)
@billed_together_option("subscription")
@clear_option
@click.option("--by", default="cli", show_default=True, help="Who makes the change (kept in the mapping history).")
@database_option
def map_halopsa(
    tenant_slug: str,
    company_id: str,
    client_id: int | None,
    licence_id: int | None,
    new_name: str | None,
    item_id: int | None,
    start_date: datetime | None,
    product: str | None,
    billed_together: bool,
    clear: bool,
    by: str,
) -> None:
    """Map one company to a HaloPSA client and subscription (checked against HaloPSA first)."""
    if cleared_psa_mapping(
        clear=clear,
        chain="--client",
        chained=client_id is not None,
        others=billed_together,
        tenant_slug=tenant_slug,
        target="halopsa",
        label="HaloPSA",
        company_id=company_id,
        product=product or "",
        by=by,
    ):
        return
    assert client_id is not None
    from seatsync.services import halopsa_connection, halopsa_mappings
    from seatsync.services.tenants import get_tenant

    if new_name is not None and licence_id is not None:
        raise click.UsageError("give either --licence or --create-subscription, not both")
    with transaction(app_context().engine) as session:
        tenant = get_tenant(session, slug=tenant_slug)
        with halopsa_connection.client_for(session, tenant=tenant, settings=app_context().settings) as client:
            if new_name is not None:
                saved = halopsa_mappings.create_subscription(
                    session,
                    tenant=tenant,
                    company_id=company_id,
                    client_id=client_id,
                    name=new_name,
                    item_id=item_id,
                    start_date=start_date.date() if start_date else None,
                    product=product or "",
                    by=by,
                    client=client,
                )
            else:
                saved = halopsa_mappings.set_mapping(
                    session,
                    tenant=tenant,
                    company_id=company_id,
                    client_id=client_id,
                    licence_id=licence_id,
                    product=product or "",
                    by=by,
                    client=client,
                    billed_together=billed_together,
                )
        what = f" ({product})" if product else ""
        click.echo(
            f"mapping saved for {company_id}{what}: {saved.psa_company_name} ({saved.psa_company_id})"
            f" / {saved.item_name or '-'} ({saved.item_id or '-'})"
        )


class _HaloPSAPush(PushCommand):
    key = "halopsa"  # a dry run is a run of its own: its rows say what would be set

    def table(self, results: list[runs.ResultRow]) -> tuple[list[str], list[list[object]]]:
        header = ["company_id", "company", "product", "subscription", "before", "after", "outcome", "reason"]
        rows: list[list[object]] = [
            [
                x.company_id,
                x.company_name,
                x.result.product or "all",
                x.result.item_id or "",
                number(x.result.quantity_before),
                number(x.result.quantity_after),
                x.result.outcome,
                x.result.reason or "",
            ]
            for x in results
        ]
        return header, rows


@click.command("halopsa")
@push_options(
    dry_run="Record what would be set (before -> after, reason); send nothing.",
    retry_failed="Re-run only the companies that failed in the latest push.",
    force="Also push blocked rows (a count changed in HaloPSA, an inactive one).",
)
def push_halopsa(**flags: Any) -> None:
    """Set each mapped company's HaloPSA subscription count to its billable users (evidence in its notes).

    Exits 0 only when every mapped company ended succeeded or unchanged (or, in a dry run, planned).
    """
    _HaloPSAPush().run(**flags)


def suggestions(
    tenant_slug: str, *, accept_above: float | None, refresh: bool, by: str
) -> tuple[list[str], list[list[str]], int]:
    """``seatsync map suggest halopsa``: the table's header and rows, and how many were saved."""
    from seatsync.services import halopsa_connection, halopsa_mappings
    from seatsync.services.tenants import get_tenant

    saved = 0
    with transaction(app_context().engine) as session:
        tenant = get_tenant(session, slug=tenant_slug)
        with halopsa_connection.client_for(session, tenant=tenant, settings=app_context().settings) as client:
            if refresh:
                halopsa_mappings.refresh_clients(session, tenant=tenant, client=client)
            found = halopsa_mappings.suggest(session, tenant=tenant, client=client)
            for suggestion in found:
                if accept_above is not None and suggestion.confidence >= accept_above:
                    halopsa_mappings.accept(session, tenant=tenant, suggestion=suggestion, by=by, client=client)
                    saved += 1
    header = ["company_id", "company", "halo_client", "confidence", "subscription", "note"]
    rows = [
        [
            s.company_id,
            s.company_name,
            f"{s.client_name} ({s.client_id})",
            f"{s.confidence:.2f}",
            f"{s.licence_name} ({s.licence_id})" if s.licence_id else "-",
            s.note or "",
        ]
        for s in found
    ]
    return header, rows, saved
