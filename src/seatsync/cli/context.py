"""What every command shares: settings, the database, error translation, the tenant lookup."""

from __future__ import annotations

from collections.abc import Callable
from functools import cached_property
from typing import Any, TypeVar

import click
from sqlalchemy import Engine

from seatsync.config import Settings, get_settings
from seatsync.db.engine import make_engine
from seatsync.errors import UserInputError

F = TypeVar("F", bound=Callable[..., Any])


class AppContext:
    """Built once per command; the engine is opened (and the schema brought up to date) on first use."""

    def __init__(self, settings: Settings, database_url: str | None = None) -> None:
        self.settings = settings
        self.database_url = database_url or settings.database_url
        #: a command that sets up an installation (``tenant create``, ``serve``) may make a new SQLite file
        self.may_create = False

    @cached_property
    def engine(self) -> Engine:
        from seatsync.db.migrate import ensure_current
        from seatsync.security.secrets import sqlite_file

        database = sqlite_file(self.database_url)
        if database is not None and not database.exists() and not self.may_create:
            raise UserInputError(
                f"there is no database at {database}: run the command in the folder of your seatsync database "
                "(or of `seatsync demo`), give --database-url, or start with `seatsync tenant create NAME`"
            )
        engine = make_engine(self.database_url)
        ensure_current(engine)
        return engine

    def close(self) -> None:
        if "engine" in self.__dict__:
            self.engine.dispose()


def _set_database(ctx: click.Context, _param: click.Parameter, value: str | None) -> str | None:
    if value is not None:
        ctx.ensure_object(dict)["database_url"] = value
    return value


def database_option(func: F) -> F:
    """``--database-url`` on every command (default: ``SEATSYNC_DATABASE_URL``, else ./seatsync.db)."""
    return click.option(
        "--database-url",
        envvar="SEATSYNC_DATABASE_URL",
        default=None,
        expose_value=False,
        is_eager=True,
        callback=_set_database,
        help="SQLAlchemy URL of the database (default: SEATSYNC_DATABASE_URL, else ./seatsync.db).",
    )(func)


def billed_together_option(item: str) -> Callable[[F], F]:
    """``--billed-together`` on every ``map`` command: ``item`` ("addition", "contract service" ...) also bills
    other companies and gets their sum; without it a second company's mapping to one item is refused."""
    return click.option(
        "--billed-together",
        is_flag=True,
        help=f"The {item} also bills other companies: it gets their sum (otherwise a second mapping is refused).",
    )


def clear_option(func: F) -> F:
    """``--clear`` on ``map autotask`` / ``map halopsa`` (``map connectwise`` has its own)."""
    return click.option(
        "--clear",
        is_flag=True,
        help="Clear the mapping (with --product: that product's): the company is no longer pushed.",
    )(func)


def cleared_psa_mapping(
    *,
    clear: bool,
    chain: str,
    chained: bool,
    others: bool = False,
    tenant_slug: str,
    target: str,
    label: str,
    company_id: str,
    product: str,
    by: str,
) -> bool:
    """``map autotask|halopsa``: with ``--clear`` (and no chain) forget the company's mapping (or its product's),
    say so and answer True; without it, the chain's first option (``chain``, e.g. ``--client``) is required."""
    if not clear:
        if not chained:
            raise click.UsageError(f"give {chain} (and the rest of the chain), or --clear")
        return False
    if chained or others:
        raise click.UsageError("--clear takes only --company (and --product)")
    from seatsync.db.engine import transaction
    from seatsync.services import psa_mappings
    from seatsync.services.tenants import get_tenant

    with transaction(app_context().engine) as session:
        tenant = get_tenant(session, slug=tenant_slug)
        removed = psa_mappings.clear_mapping(
            session, tenant=tenant, target=target, company_id=company_id, product=product or None, by=by
        )
    item = f" ({product})" if product else ""
    if removed:
        click.echo(f"mapping{item} cleared for {company_id}: it is no longer pushed to {label}")
    else:
        click.echo(f"{company_id}{item} was not mapped to {label}")
    return True


def skip_invoiced_option(func: F) -> F:
    """``--skip-invoiced`` on every push command: ConnectWise honours it, the other targets refuse it (never
    ignored; ``PushOptions.skip_invoiced``)."""
    return click.option(
        "--skip-invoiced",
        is_flag=True,
        help="Leave out the rows whose period is already invoiced, recorded as skipped with why (ConnectWise; "
        "the other targets refuse it).",
    )(func)


def app_context(*, create: bool = False) -> AppContext:
    """The command's context; ``create=True`` for a command that may make a new SQLite database."""
    ctx = click.get_current_context()
    root = ctx.find_root()
    found = root.meta.get("seatsync.app")
    if found is None:
        url = (ctx.obj or {}).get("database_url") if isinstance(ctx.obj, dict) else None
        found = AppContext(get_settings(), url)
        root.meta["seatsync.app"] = found
        root.call_on_close(found.close)
    assert isinstance(found, AppContext)
    found.may_create = found.may_create or create
    return found
