"""Mapping and push commands: ``map connectwise``, ``map suggest``, ``push connectwise``, ``history``.

``push`` is a group: other targets add their subcommand to it (``push gradient``).
"""

from __future__ import annotations

import dataclasses
import importlib
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import click

from seatsync.cli.context import F, app_context, billed_together_option, database_option, skip_invoiced_option
from seatsync.cli.output import render
from seatsync.db.engine import transaction
from seatsync.domain.periods import BillingPeriod, time_zone
from seatsync.domain.rules import product_name
from seatsync.push import runs
from seatsync.push.runs import GOOD, Outcome

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from seatsync.db.models import PushRun, Tenant
    from seatsync.targets.base import ClientFactory, PushOptions

NOT_PUSHED = (Outcome.NOT_MAPPED.value, Outcome.SKIPPED.value)


def number(value: float | int | None) -> str:
    if value is None:
        return "-"
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


RESULT_HEADER = ["company_id", "company", "before", "after", "outcome", "document", "reason"]


def result_rows(results: list[runs.ResultRow]) -> list[list[object]]:
    return [
        [
            x.company_id,
            x.company_name,
            number(x.result.quantity_before),
            number(x.result.quantity_after),
            x.result.outcome,
            x.result.document_id or "",
            x.result.reason or "",
        ]
        for x in results
    ]


def _client(session: Any, tenant: Any) -> Any:
    from seatsync.services.connectwise_connection import client_for

    return client_for(session, tenant=tenant, settings=app_context().settings)


@click.group("map")
def map_group() -> None:
    """Map companies to ConnectWise (company, agreement, addition)."""


@map_group.command("connectwise")
@click.option("--tenant", "tenant_slug", required=True, help="Tenant slug.")
@click.option("--company", "company_id", required=True, help="The company's id in seatsync.")
@click.option("--cw-company", type=int, default=None, help="ConnectWise company id (required unless --clear).")
@click.option("--agreement", type=int, default=None, help="ConnectWise agreement id (of that company).")
@click.option("--addition", type=int, default=None, help="ConnectWise addition id (on that agreement).")
@click.option(
    "--product",
    type=click.Choice(["sat", "phishing"]),
    default=None,
    help="Map that product's addition (default: one addition for all the company's products).",
)
@billed_together_option("addition")
@click.option(
    "--create-addition",
    is_flag=True,
    help="Make the addition on --agreement (and the catalog product if absent; `seatsync catalog connectwise`).",
)
@click.option(
    "--clear", is_flag=True, help="Clear the mapping (with --product: that product's): the company is no longer pushed."
)
@click.option("--by", default="cli", show_default=True, help="Who makes the change (kept in the mapping history).")
@database_option
def map_connectwise(
    tenant_slug: str,
    company_id: str,
    cw_company: int | None,
    agreement: int | None,
    addition: int | None,
    product: str | None,
    billed_together: bool,
    create_addition: bool,
    clear: bool,
    by: str,
) -> None:
    """Set one company's mapping (the chain is checked against ConnectWise first), or clear it with --clear."""
    from seatsync.services import cw_catalog, mappings
    from seatsync.services.tenants import get_tenant

    if clear and (cw_company or agreement or addition or create_addition or billed_together):
        raise click.UsageError("--clear takes only --company (and --product)")
    if not clear and cw_company is None:
        raise click.UsageError("give --cw-company (and --agreement, --addition), or --clear")
    if create_addition and (agreement is None or addition is not None):
        raise click.UsageError("--create-addition needs --agreement and makes the addition (leave out --addition)")
    with transaction(app_context().engine) as session:
        tenant = get_tenant(session, slug=tenant_slug)
        if clear:
            mappings.clear_mapping(session, tenant=tenant, company_id=company_id, by=by, product=product or "")
            item = f" ({product})" if product else ""
            click.echo(f"mapping{item} cleared for {company_id}: it is no longer pushed to ConnectWise")
            return
        assert cw_company is not None
        with _client(session, tenant) as client:
            if create_addition:
                assert agreement is not None
                created = cw_catalog.create_addition(
                    session,
                    tenant=tenant,
                    company_id=company_id,
                    cw_company=cw_company,
                    agreement=agreement,
                    product=product or "",
                    by=by,
                    client=client,
                )
                made = "catalog product and addition" if created.catalog_created else "addition"
                click.echo(
                    f"created the {made}: {created.catalog_item.identifier} "
                    f"(addition {created.addition.id} on agreement {agreement})"
                )
                saved = created.mapping
            else:
                saved = mappings.set_mapping(
                    session,
                    tenant=tenant,
                    company_id=company_id,
                    cw_company=cw_company,
                    agreement=agreement,
                    addition=addition,
                    by=by,
                    client=client,
                    product=product or "",
                    billed_together=billed_together,
                )
        item = f" ({product})" if product else ""
        together = " — billed together with the other companies on this addition" if saved.billed_together else ""
        click.echo(
            f"mapping saved for {company_id}{item}: {saved.cw_company_name} ({saved.cw_company_id})"
            f" / {saved.agreement_name or '-'} ({saved.agreement_id or '-'})"
            f" / {saved.addition_name or '-'} ({saved.addition_id or '-'}){together}"
        )


@map_group.command("suggest")
@click.argument(
    "target", required=False, default="connectwise", type=click.Choice(["connectwise", "autotask", "halopsa"])
)
@click.option("--tenant", "tenant_slug", required=True, help="Tenant slug.")
@click.option("--accept-above", type=click.FloatRange(0, 1), default=None, help="Save suggestions at or above this.")
@click.option("--refresh", is_flag=True, help="Refresh the cached PSA companies first.")
@click.option("--by", default="cli", show_default=True, help="Who accepts (kept in the mapping history).")
@click.option("--format", "fmt", type=click.Choice(["table", "csv", "json"]), default="table", show_default=True)
@database_option
def map_suggest(target: str, tenant_slug: str, accept_above: float | None, refresh: bool, by: str, fmt: str) -> None:
    """Suggest mappings by fuzzy name matching, with a confidence; nothing is saved without --accept-above."""
    from seatsync.services import automap, mappings
    from seatsync.services.tenants import get_tenant

    if target in ("autotask", "halopsa"):
        # each PSA's command module builds its own table
        suggestions = importlib.import_module(f"seatsync.cli.{target}").suggestions
        header, rows, saved_count = suggestions(tenant_slug, accept_above=accept_above, refresh=refresh, by=by)
        click.echo(render(header, rows, fmt), nl=False)
        if accept_above is not None:
            click.echo(f"{saved_count} mapping(s) saved (confidence >= {accept_above:g})", err=fmt != "table")
        return

    with transaction(app_context().engine) as session:
        tenant = get_tenant(session, slug=tenant_slug)
        with _client(session, tenant) as client:
            if refresh:
                mappings.refresh_cw_companies(session, tenant=tenant, client=client)
            found = automap.suggest(session, tenant=tenant, client=client)
            saved = (
                automap.accept_all(session, tenant=tenant, suggestions=found, above=accept_above, by=by, client=client)
                if accept_above is not None
                else []
            )
    header = ["company_id", "company", "cw_company", "confidence", "agreement", "addition", "note"]
    rows = [
        [
            s.company_id,
            s.company_name,
            f"{s.cw_company_name} ({s.cw_company_id})",
            f"{s.confidence:.2f}",
            f"{s.agreement_name} ({s.agreement_id})" if s.agreement_id else "-",
            f"{s.addition_name} ({s.addition_id})" if s.addition_id else "-",
            s.note or "",
        ]
        for s in found
    ]
    click.echo(render(header, rows, fmt), nl=False)
    if accept_above is not None:
        click.echo(f"{len(saved)} mapping(s) saved (confidence >= {accept_above:g})", err=fmt != "table")


@click.group("push")
def push_group() -> None:
    """Push a period's billable counts to a billing system."""


def period_note(period: BillingPeriod, zone: str) -> str:
    """ " (in progress)" for the current month, "" for a closed one; a month that has not started raises
    ``PeriodNotStarted`` (exit 2)."""
    from seatsync.push.engine import IN_PROGRESS, period_status

    return f" ({IN_PROGRESS})" if period_status(period, zone=zone, now=datetime.now(UTC)) == IN_PROGRESS else ""


# -- the approval threshold: a push by hand asks before it sends the rows over it -------------------------------

APPROVE_OVER_THRESHOLD = click.option(
    "--approve-over-threshold",
    "approve_over",
    is_flag=True,
    help="Also send the rows whose change goes over the approval threshold (`schedule set --approve-above`). "
    "Without it a terminal is asked, row by row shown; elsewhere they wait on Approvals.",
)


def interactive() -> bool:
    """Whether a person can answer a question (stdin and stdout are a terminal)."""
    return sys.stdin.isatty() and sys.stdout.isatty()


def confirm_over_threshold(tenant_id: int, target: str, period: BillingPeriod, *, given: bool) -> bool:
    """Whether this push by hand sends the rows over the tenant's approval threshold for ``target``.

    ``--approve-over-threshold`` says yes. Otherwise, on a terminal, the preview's rows over it are shown
    (before → proposed, the change in seats and percent, highlighted) and the operator is asked; without a
    terminal the answer is no: the engine holds them for approval (``seatsync.push.gate``)."""
    if given or not interactive():
        return given
    from seatsync.db.models import Tenant
    from seatsync.push import engine as push_engine
    from seatsync.push import gate
    from seatsync.targets.registry import get_target

    context = app_context()
    with transaction(context.engine) as session:
        if not gate.threshold_for(session, tenant_id=tenant_id, target=target).active:
            return False
        tenant = session.get(Tenant, tenant_id)
        assert tenant is not None
        chosen = get_target(target)
        client = chosen.client(session, tenant, settings=context.settings, engine=context.engine, shared_pacing=False)
        try:
            planned = push_engine.preview(session, tenant=tenant, target=target, period=period, client=client)
        finally:
            client.close()
        over = gate.over_threshold(session, tenant_id=tenant_id, target=target, planned=planned)
    if not over:
        return False
    click.echo(over_threshold_table(over), nl=False)
    plural = "s" if len(over) != 1 else ""
    return click.confirm(
        f"{len(over)} row{plural} change{'' if plural else 's'} by {over[0].threshold.describe()} "
        "(the approval threshold). "
        "Send them too? (no: they wait on Approvals, the others are sent)",
        default=False,
    )


def over_threshold_table(over: list[Any]) -> str:
    """The rows over the threshold, highlighted on a terminal."""
    header = ["company_id", "company", "product", "before", "proposed", "change", "percent"]
    rows = [
        [
            o.row.company.company_id,
            o.row.company.name,
            o.row.product or "all",
            number(o.row.before),
            number(o.row.after),
            f"{o.change.seats:+g}",
            f"{o.change.percent:+.0f}%" if o.change.percent is not None else "new",
        ]
        for o in over
    ]
    table = render(header, rows, "table")
    return (
        "\n".join(
            click.style(line, fg="yellow", bold=True) if i > 1 else line for i, line in enumerate(table.splitlines())
        )
        + "\n"
    )


def held_note(results: list[runs.ResultRow], *, run_id: int, tenant_slug: str) -> str | None:
    """What to do about the rows a push held for approval (None when it held none)."""
    held = [r for r in results if r.result.outcome == Outcome.AWAITING_APPROVAL.value]
    if not held:
        return None
    names = ", ".join(r.company_id + (f" ({r.result.product})" if r.result.product else "") for r in held)
    plural = "s" if len(held) != 1 else ""
    return (
        f"{len(held)} row{plural} over the approval threshold wait{'' if plural else 's'} for approval ({names}): "
        f"approve with `seatsync approve {run_id} --tenant {tenant_slug}` (or on Approvals), or push again with "
        "--approve-over-threshold"
    )


class _Bar:
    """A progress bar on a terminal (created on the first report, when the total is known); silent otherwise."""

    def __init__(self) -> None:
        self.bar: Any = None
        self.shown = 0
        self.enabled = sys.stdout.isatty()

    def __call__(self, done: int, total: int) -> None:
        if not self.enabled:
            return
        if self.bar is None:
            self.bar = click.progressbar(length=total, label="pushing", show_pos=True)
            self.bar.__enter__()
        self.bar.update(done - self.shown)
        self.shown = done

    def close(self) -> None:
        if self.bar is not None:
            self.bar.__exit__(None, None, None)


# -- one ``push TARGET`` command, whichever the target ---------------------------------------------------------


def push_options(
    *,
    retry_failed: str,
    force: str,
    dry_run: str = "Print the plan (before -> after, action, reason); write nothing.",
    month: str = "current",
) -> Callable[[F], F]:
    """The options of every ``push TARGET`` command, in the order ``--help`` lists them; a target words those
    whose meaning is its own (``month``: the period pushed by default, as the target's ``default_period``)."""
    stack = [
        click.option("--tenant", "tenant_slug", required=True, help="Tenant slug."),
        click.option("--period", default=None, help=f"YYYY-MM (default: the {month} month in the tenant's time zone)."),
        click.option("--dry-run", is_flag=True, help=dry_run),
        click.option("--retry-failed", is_flag=True, help=retry_failed),
        click.option("--force", is_flag=True, help=force),
        skip_invoiced_option,
        APPROVE_OVER_THRESHOLD,
        click.option(
            "--by", "started_by", default="cli", show_default=True, help="Who starts it (kept in the history)."
        ),
        database_option,
    ]

    def decorate(func: F) -> F:
        for option in reversed(stack):  # the first listed is applied last, so --help lists them in this order
            func = option(func)
        return func

    return decorate


class PushCommand:
    """What ``seatsync push TARGET`` does, the same for every target (``run``); a target's command module
    overrides what its command does its own way: the dry run's plan, the result table, the summary, the exit."""

    #: the target key (``seatsync.targets.registry``)
    key: str
    #: a progress bar while pushing (on a terminal)
    progress = True

    def plan(self, session: Session, tenant: Tenant, *, options: PushOptions, shown: str, tenant_slug: str) -> bool:
        """Print a dry run's plan and say True; False: the dry run is a run of its own (rows ``planned``)."""
        return False

    def open_stored(self, session: Session, tenant: Tenant) -> None:
        """Before a run is recorded: anything that must open first, so that a wrong key leaves no failed run."""

    def client_factory(self) -> ClientFactory | None:
        """The run's clients (None: the engine's, from the stored connection)."""
        return None

    def table(self, results: list[runs.ResultRow]) -> tuple[list[str], list[list[object]]]:
        return RESULT_HEADER, result_rows(results)

    def summary(self, run: PushRun, results: list[runs.ResultRow], *, shown: str, dry_run: bool) -> str:
        return (
            f"run {run.id} ({shown}{', dry run' if dry_run else ''}): {run.status}; {run.succeeded} succeeded, "
            f"{run.unchanged} unchanged, {run.failed} failed, {run.blocked} blocked, "
            f"{run.skipped + run.not_mapped} not mapped"
        )

    def failed(self, run: PushRun, results: list[runs.ResultRow]) -> bool:
        """Whether the command exits 1: a run that failed, or a row that is neither good, planned, not mapped nor
        skipped (a row held for approval was not pushed: it is not good, whichever the target)."""
        passed = {o.value for o in GOOD} | {Outcome.PLANNED.value, *NOT_PUSHED}
        return run.status == runs.RunStatus.FAILED or any(r.result.outcome not in passed for r in results)

    def run(
        self,
        *,
        tenant_slug: str,
        period: str | None,
        dry_run: bool,
        retry_failed: bool,
        force: bool,
        skip_invoiced: bool,
        approve_over: bool,
        started_by: str,
    ) -> None:
        from seatsync.push import engine as push_engine
        from seatsync.services.tenants import get_tenant
        from seatsync.targets.base import PushOptions
        from seatsync.targets.registry import get_target

        context = app_context()
        engine = context.engine
        target = get_target(self.key)
        with transaction(engine) as session:
            tenant = get_tenant(session, slug=tenant_slug)
            tenant_id = tenant.id
            chosen = (
                BillingPeriod.parse(period)
                if period
                else target.default_period(BillingPeriod.containing(datetime.now(UTC), time_zone(tenant.time_zone)))
            )
            shown = f"{chosen}{period_note(chosen, tenant.time_zone)}"  # a month not started: exit 2, nothing sent
            options = PushOptions(
                chosen,
                dry_run=dry_run,
                retry_failed=retry_failed,
                force=force,
                started_by=started_by,
                skip_invoiced=skip_invoiced,
            )
            target.check_options(options)  # an option the target cannot honour is refused, in a dry run too
            if dry_run and self.plan(session, tenant, options=options, shown=shown, tenant_slug=tenant_slug):
                return
            if not dry_run:
                self.open_stored(session, tenant)
        approve = approve_over if dry_run else confirm_over_threshold(tenant_id, self.key, chosen, given=approve_over)
        options = dataclasses.replace(options, approve_over_threshold=approve)
        bar = _Bar() if self.progress else None
        try:
            run_id = push_engine.push(
                engine,
                tenant_id=tenant_id,
                target=self.key,
                options=options,
                client_factory=self.client_factory(),
                progress=bar,
                settings=context.settings,
            )
        finally:
            if bar is not None:
                bar.close()
        with transaction(engine) as session:
            run = runs.get_run(session, tenant_id=tenant_id, run_id=run_id)
            results = runs.run_results(session, tenant_id=tenant_id, run_id=run_id)
        header, rows = self.table(results)
        click.echo(render(header, rows, "table"), nl=False)
        click.echo(self.summary(run, results, shown=shown, dry_run=dry_run))
        if note := held_note(results, run_id=run.id, tenant_slug=tenant_slug):
            click.echo(note)
        if self.failed(run, results):
            click.get_current_context().exit(1)


class _ConnectWisePush(PushCommand):
    key = "connectwise"

    def plan(self, session: Session, tenant: Tenant, *, options: PushOptions, shown: str, tenant_slug: str) -> bool:
        from seatsync.push.connectwise import preview

        with _client(session, tenant) as client:
            plan = preview(session, tenant=tenant, period=options.period, client=client)
        header = ["company_id", "company", "before", "after", "action", "reason"]
        rows = [
            [
                r.company.company_id + (f" ({r.product})" if r.product else ""),
                r.company.name,
                number(r.current_quantity),
                number(r.proposed_quantity),
                "skip (invoiced)" if options.skip_invoiced and r.already_invoiced else r.action.value,
                "; ".join(x for x in (r.reason, r.note, r.invoice.describe() if r.invoice else None) if x),
            ]
            for r in plan.rows
        ]
        click.echo(f"plan for {tenant_slug}, {shown} (dry run: nothing is written)")
        click.echo(render(header, rows, "table"), nl=False)
        click.echo(", ".join(f"{n} {a.value}" for a, n in plan.counts().items()))
        return True

    def open_stored(self, session: Session, tenant: Tenant) -> None:
        _client(session, tenant).close()  # the stored keys must open: a wrong key file leaves no failed run behind

    def client_factory(self) -> ClientFactory | None:
        return _client


@push_group.command("connectwise")
@push_options(
    retry_failed="Re-run only the companies that failed in the latest push.",
    force="Also push blocked companies (drift, cancelled or expired agreement ...).",
)
def push_connectwise(**flags: Any) -> None:
    """Set each mapped company's ConnectWise addition to its billable users and attach the report.

    Exits 0 only when every mapped company ended succeeded or unchanged.
    """
    _ConnectWisePush().run(**flags)


@click.command("history")
@click.option("--tenant", "tenant_slug", required=True, help="Tenant slug.")
@click.option(
    "--target", default=None, metavar="TARGET", help="Only this target (connectwise, autotask, halopsa or gradient)."
)
@click.option("--period", default=None, help="Only runs of this period (YYYY-MM).")
@click.option("--run", "run_id", type=int, default=None, help="One run's per-company rows.")
@click.option("--limit", type=int, default=20, show_default=True, help="How many runs (newest first).")
@click.option(
    "--format", "fmt", type=click.Choice(["table", "csv", "json"]), default="table", show_default=True,
    help="table: the runs (and --run's rows); csv/json: one row per company per run.",
)  # fmt: skip
@database_option
def history(tenant_slug: str, target: str | None, period: str | None, run_id: int | None, limit: int, fmt: str) -> None:
    """Push runs: who started them, when, and per company before -> after, outcome and reason."""
    from seatsync.domain.periods import shown_instant, time_zone
    from seatsync.services.tenants import get_tenant
    from seatsync.targets.registry import get_target

    chosen = get_target(target).key if target else None  # an unknown key names the known ones
    with transaction(app_context().engine) as session:
        tenant = get_tenant(session, slug=tenant_slug)
        zone = time_zone(tenant.time_zone)
        if fmt != "table":
            rows = runs.history_rows(
                session, tenant_id=tenant.id, target=chosen, period=period, run_id=run_id, limit=limit
            )
            click.echo(render(runs.HISTORY_COLUMNS, rows, fmt), nl=False)
            return
        listed = (
            [runs.get_run(session, tenant_id=tenant.id, run_id=run_id)]
            if run_id is not None
            else runs.list_runs(session, tenant_id=tenant.id, target=chosen, period=period, limit=limit)
        )
        header = [
            "run",
            "target",
            "period",
            "started_by",
            "started_at",
            "finished_at",
            "status",
            "ok",
            "failed",
            "blocked",
        ]
        table = [
            [
                r.id,
                r.target + (" (dry run)" if r.dry_run else ""),
                r.period,
                r.started_by,
                shown_instant(r.started_at, zone),
                shown_instant(r.finished_at, zone) if r.finished_at else "-",
                r.status,
                r.succeeded + r.unchanged,
                r.failed,
                r.blocked,
            ]
            for r in listed
        ]
        click.echo(render(header, table, "table"), nl=False)
        if run_id is not None:
            results = runs.run_results(session, tenant_id=tenant.id, run_id=run_id)
            click.echo()
            if listed[0].target == "gradient":  # one row per account and service: the service named
                named = [
                    [*row[:2], product_name(x.result.product), *row[2:]]
                    for row, x in zip(result_rows(results), results, strict=True)
                ]
                click.echo(render([*RESULT_HEADER[:2], "service", *RESULT_HEADER[2:]], named, "table"), nl=False)
            else:
                click.echo(render(RESULT_HEADER, result_rows(results), "table"), nl=False)
