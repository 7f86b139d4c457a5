"""Autotask commands: ``sandbox autotask`` and ``connect autotask``."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

import click

from seatsync.cli.context import (
    app_context,
    billed_together_option,
    clear_option,
    cleared_psa_mapping,
    database_option,
)
from seatsync.cli.output import render
from seatsync.cli.push import PushCommand, number, push_options
from seatsync.db.engine import transaction
from seatsync.push import runs

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from seatsync.db.models import Tenant
    from seatsync.targets.base import PushOptions

_PER_MINUTE = re.compile(r"^\s*(\d+)\s*(?:/\s*min)?\s*$")


def _per_minute(_ctx: click.Context, _param: click.Parameter, value: str | None) -> int | None:
    if value is None:
        return None
    match = _PER_MINUTE.match(value)
    if not match or int(match.group(1)) < 1:
        raise click.BadParameter("requests per minute, e.g. 600 or 600/min", param_hint="--rate-limit")
    return int(match.group(1))


@click.command("autotask")
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to listen on.")
@click.option("--port", default=8102, show_default=True, type=int, help="Port (0 picks a free one).")
@click.option("--latency-ms", default=0.0, show_default=True, type=float, help="Added to every API answer.")
@click.option(
    "--rate-limit", default=None, callback=_per_minute, help="Requests a minute per integration code before 429."
)
@click.option("--fault-rate", default=0.0, show_default=True, type=float, help="Share of API calls that fail (0-1).")
@click.option("--threshold", default=10_000, show_default=True, type=int, help="The MSP's requests per rolling hour.")
@click.option(
    "--other-integrations",
    default=0,
    show_default=True,
    type=int,
    help="Requests of the hourly threshold other integrations have already spent.",
)
@click.option("--seed", type=click.Choice(["demo", "empty"]), default="demo", show_default=True)
def sandbox_autotask(
    host: str,
    port: int,
    latency_ms: float,
    rate_limit: int | None,
    fault_rate: float,
    threshold: int,
    other_integrations: int,
    seed: str,
) -> None:
    """An Autotask PSA simulator (zone look-up and REST API; users demo-api@example.com/demo-secret and
    readonly-api@example.com/readonly-secret)."""
    import uvicorn

    from seatsync.sandboxes.autotask import DEMO_INTEGRATION_CODE, AutotaskSandbox, create_app
    from seatsync.sandboxes.server import free_port

    if not 0 <= fault_rate <= 1:
        raise click.BadParameter("a probability between 0 and 1", param_hint="--fault-rate")
    if threshold < 1 or not 0 <= other_integrations <= threshold:
        raise click.BadParameter("--other-integrations must be between 0 and --threshold", param_hint="--threshold")
    state = AutotaskSandbox(
        seed=seed,
        latency_ms=latency_ms,
        fault_rate=fault_rate,
        rate_limit=rate_limit,
        threshold=threshold,
        other_integrations=other_integrations,
    )
    port = port or free_port(host)
    click.echo(f"Autotask sandbox at http://{host}:{port} (seed {seed})")
    click.echo(
        f"  connect with: --zone-url http://{host}:{port} --username demo-api@example.com --secret demo-secret "
        f"--integration-code {DEMO_INTEGRATION_CODE}"
    )
    click.echo(f"  state: http://{host}:{port}/_sandbox/state")
    uvicorn.run(create_app(state), host=host, port=port, log_level="warning")


@click.command("autotask")
@click.option("--tenant", "tenant_slug", required=True, help="Tenant slug.")
@click.option("--username", required=True, help="The API user's user name (an e-mail address).")
@click.option("--secret", prompt=True, hide_input=True, help="The API user's secret (prompted if left out).")
@click.option(
    "--integration-code",
    required=True,
    envvar="SEATSYNC_AUTOTASK_INTEGRATION_CODE",
    help="The API tracking identifier (integration code) chosen for the API user.",
)
@click.option(
    "--zone-url",
    default="https://webservices.autotask.net",
    show_default=True,
    help="Where the zone is looked up; a sandbox gives its own address, e.g. http://127.0.0.1:8102.",
)
@database_option
def connect_autotask(tenant_slug: str, username: str, secret: str, integration_code: str, zone_url: str) -> None:
    """Find the tenant's zone, check the API user and each permission, and store it (encrypted)."""
    from seatsync.services import autotask_connection as service
    from seatsync.services.tenants import get_tenant

    with transaction(app_context().engine) as session:
        tenant = get_tenant(session, slug=tenant_slug)
        result = service.connect(
            session,
            tenant=tenant,
            username=username,
            secret=secret,
            integration_code=integration_code,
            zone_url=zone_url,
            settings=app_context().settings,
        )
    for check in result.checks:
        click.echo(str(check))
    if result.status is service.IntegrationStatus.CONNECTED:
        click.echo(f"connected: {tenant_slug} -> Autotask as {username}")
        return
    stored = "nothing changed" if result.kept_previous else "credentials stored"
    raise click.ClickException(f"{stored}, but the connection is {result.status.value}: {result.reason}")


@click.command("autotask")
@click.option("--tenant", "tenant_slug", required=True, help="Tenant slug.")
@click.option("--company", "company_id", required=True, help="The company's id in seatsync.")
@click.option("--at-company", type=int, default=None, help="Autotask company id (required unless --clear).")
@click.option("--contract", type=int, default=None, help="Its active recurring-service contract's id.")
@click.option("--service", type=int, default=None, help="The contract service's id (or the catalog service's).")
@click.option(
    "--product", type=click.Choice(["sat", "phishing"]), default=None, help="Map only this product (default: all)."
)
@billed_together_option("contract service")
@clear_option
@click.option("--by", default="cli", show_default=True, help="Who makes the change (kept in the mapping history).")
@database_option
def map_autotask(
    tenant_slug: str,
    company_id: str,
    at_company: int | None,
    contract: int | None,
    service: int | None,
    product: str | None,
    billed_together: bool,
    clear: bool,
    by: str,
) -> None:
    """Map one company to an Autotask company, contract and contract service (checked against Autotask first)."""
    if cleared_psa_mapping(
        clear=clear,
        chain="--at-company",
        chained=at_company is not None,
        others=billed_together,
        tenant_slug=tenant_slug,
        target="autotask",
        label="Autotask",
        company_id=company_id,
        product=product or "",
        by=by,
    ):
        return
    assert at_company is not None
    from seatsync.services import autotask_connection, autotask_mappings
    from seatsync.services.tenants import get_tenant

    with transaction(app_context().engine) as session:
        tenant = get_tenant(session, slug=tenant_slug)
        with autotask_connection.client_for(session, tenant=tenant, settings=app_context().settings) as client:
            saved = autotask_mappings.set_mapping(
                session,
                tenant=tenant,
                company_id=company_id,
                at_company=at_company,
                contract=contract,
                service=service,
                product=product or "",
                by=by,
                client=client,
                billed_together=billed_together,
            )
        what = f" ({product})" if product else ""
        click.echo(
            f"mapping saved for {company_id}{what}: {saved.psa_company_name} ({saved.psa_company_id})"
            f" / {saved.contract_name or '-'} ({saved.contract_id or '-'})"
            f" / {saved.item_name or '-'} ({saved.item_id or '-'})"
        )


def suggestions(
    tenant_slug: str, *, accept_above: float | None, refresh: bool, by: str
) -> tuple[list[str], list[list[str]], int]:
    """``seatsync map suggest autotask``: the table's header and rows, and how many were saved."""
    from seatsync.services import autotask_connection, autotask_mappings
    from seatsync.services.tenants import get_tenant

    saved = 0
    with transaction(app_context().engine) as session:
        tenant = get_tenant(session, slug=tenant_slug)
        with autotask_connection.client_for(session, tenant=tenant, settings=app_context().settings) as client:
            if refresh:
                autotask_mappings.refresh_companies(session, tenant=tenant, client=client)
            found = autotask_mappings.suggest(session, tenant=tenant, client=client)
            for suggestion in found:
                if accept_above is not None and suggestion.confidence >= accept_above:
                    autotask_mappings.accept(session, tenant=tenant, suggestion=suggestion, by=by, client=client)
                    saved += 1
    header = ["company_id", "company", "at_company", "confidence", "contract", "service", "note"]
    rows = [
        [
            s.company_id,
            s.company_name,
            f"{s.at_company_name} ({s.at_company_id})",
            f"{s.confidence:.2f}",
            f"{s.contract_name} ({s.contract_id})" if s.contract_id else "-",
            f"{s.service_name} ({s.service_id})" if s.service_id else "-",
            s.note or "",
        ]
        for s in found
    ]
    return header, rows, saved


class _AutotaskPush(PushCommand):
    key = "autotask"
    progress = False

    def plan(self, session: Session, tenant: Tenant, *, options: PushOptions, shown: str, tenant_slug: str) -> bool:
        from seatsync.services import autotask_connection
        from seatsync.targets.autotask import TARGET

        with autotask_connection.client_for(session, tenant=tenant, settings=app_context().settings) as client:
            plan = TARGET.plan(session, tenant=tenant, period=options.period, client=client)
        header = ["company_id", "company", "product", "before", "after", "action", "reason"]
        rows = [
            [r.company.company_id, r.company.name, r.product or "all", number(r.before), number(r.after),
             r.action.value, r.reason or ""]
            for r in plan
        ]  # fmt: skip
        click.echo(f"plan for {tenant_slug}, {shown} (dry run: nothing is written)")
        click.echo(render(header, rows, "table"), nl=False)
        return True

    def table(self, results: list[runs.ResultRow]) -> tuple[list[str], list[list[object]]]:
        header = ["company_id", "company", "product", "before", "after", "outcome", "reason"]
        rows: list[list[object]] = [
            [x.company_id, x.company_name, x.result.product or "all", number(x.result.quantity_before),
             number(x.result.quantity_after), x.result.outcome, x.result.reason or ""]
            for x in results
        ]  # fmt: skip
        return header, rows


@click.command("autotask")
@push_options(
    retry_failed="Re-run only the items that failed in the latest push.",
    force="Also push rows blocked as drift (a posted period is never changed).",
)
def push_autotask(**flags: Any) -> None:
    """Adjust each mapped contract service's units on the period's first day to the billable users and attach
    the report to a contract note.

    Exits 0 only when every mapped item ended succeeded or unchanged.
    """
    _AutotaskPush().run(**flags)


__all__ = [
    "connect_autotask",
    "map_autotask",
    "push_autotask",
    "sandbox_autotask",
    "suggestions",
]
