"""HaloPSA commands: ``sandbox halopsa``, ``connect halopsa``, ``disconnect halopsa``."""

from __future__ import annotations

import click


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


def register(cli: click.Group) -> None:
    """Add the commands to the ``sandbox``, ``connect`` and ``disconnect`` groups (created when missing)."""
    for group_name, command, help_text in (("sandbox", sandbox_halopsa, "Run a simulator of an external API."),):
        group = cli.commands.get(group_name)
        if not isinstance(group, click.Group):
            group = click.Group(group_name, help=help_text)
            cli.add_command(group)
        group.add_command(command)
