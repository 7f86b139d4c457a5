"""The ``seatsync`` console script: every command, by name, imported only when it runs (``seatsync.cli.lazy``).

Adding a command is one line here: ``cli.lazy("name", "seatsync.cli.module:command", "Its first help line.")``,
or ``GROUP.lazy(...)`` to join a group (``sandbox``, ``connect``, ``map``, ``push``).
``tests/test_cli_lazy.py`` checks that each line's help is the command's own.
"""

from __future__ import annotations

import click

from seatsync import __version__
from seatsync.cli.lazy import SeatsyncGroup


@click.group(cls=SeatsyncGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="seatsync")
def cli() -> None:
    """Count billable users per company and push them to ConnectWise Manage and Gradient MSP."""


assert isinstance(cli, SeatsyncGroup)
cli.lazy("migrate", "seatsync.cli.core:migrate", "Bring the database schema up to date.")
cli.lazy("tenant", "seatsync.cli.core:tenant", "Create and list tenants (MSPs).")
cli.lazy("operator", "seatsync.cli.core:operator", "Operators: the people who log in for a tenant.")
cli.lazy(
    "import",
    "seatsync.cli.core:import_command",
    "Import companies, users (status changes) or activity from a CSV (or .jsonl) file, all or nothing.",
)
cli.lazy("billable", "seatsync.cli.core:billable", "Billable users per company for a billing period.")
cli.lazy("company", "seatsync.cli.core:company", "A company's own settings.")
cli.lazy("catalog", "seatsync.cli.catalog:catalog", "The catalog products a target's new items are made of.")
cli.lazy(
    "demo",
    "seatsync.cli.demo:demo",
    "Run the demo: a demo tenant with companies and users, sandbox ConnectWise, Autotask, HaloPSA and Gradient "
    "servers connected to it, and the web app.",
)
cli.lazy(
    "history",
    "seatsync.cli.push:history",
    "Push runs: who started them, when, and per company before -> after, outcome and reason.",
)
cli.lazy(
    "jobs",
    "seatsync.cli.worker:jobs_group",
    "Queue pushes and account syncs (run by `seatsync worker` on PostgreSQL, here otherwise), see the queue.",
)
cli.lazy(
    "notify",
    "seatsync.cli.notify:notify",
    "Notification channels (e-mail through SEATSYNC_SMTP_URL, webhooks) and what was sent.",
)
cli.lazy(
    "rotate-key",
    "seatsync.cli.connectwise:rotate_key",
    "Re-encrypt every stored secret under a new key (key file, or prints the new SEATSYNC_SECRET_KEY).",
)
cli.lazy("serve", "seatsync.cli.web:serve", "Run the web app and the JSON API (OpenAPI at /openapi.json).")
cli.lazy(
    "sync-accounts",
    "seatsync.cli.gradient:sync_accounts",
    'Send every company to Gradient as an account ("Sync Company Accounts") and say what changed.',
)
cli.lazy(
    "schedule",
    "seatsync.cli.automation:schedule",
    "When each target is pushed by itself, and which changes wait for an admin's approval.",
)
cli.lazy(
    "approve",
    "seatsync.cli.automation:approve",
    "Send the rows of RUN that wait for approval (all, or those of --company), exactly as they were proposed (planned again first: a row that changed since waits again).",
)
cli.lazy(
    "reject",
    "seatsync.cli.automation:reject",
    "Drop the rows of RUN that wait for approval (all, or those of --company): they are not sent.",
)
cli.lazy(
    "worker",
    "seatsync.cli.worker:worker",
    "Run jobs from the PostgreSQL queue; start as many as you like, on any machines.",
)

sandbox = cli.lazy_group(
    "sandbox", "Run a standalone simulator of a billing system's API (for trying seatsync, demos and tests)."
)
sandbox.lazy(
    "connectwise",
    "seatsync.cli.connectwise:sandbox_connectwise",
    "A ConnectWise Manage simulator (company id `demo`, members demo-public/demo-private and "
    "readonly-public/readonly-private).",
)
sandbox.lazy(
    "gradient",
    "seatsync.cli.gradient:sandbox_gradient",
    "A simulator of Gradient's Synthesize vendor API (vendor key demo-vendor, partner token demo-partner).",
)
sandbox.lazy(
    "autotask",
    "seatsync.cli.autotask:sandbox_autotask",
    "An Autotask PSA simulator (zone look-up and REST API; users demo-api@example.com/demo-secret and "
    "readonly-api@example.com/readonly-secret).",
)
sandbox.lazy(
    "halopsa",
    "seatsync.cli.halopsa:sandbox_halopsa",
    "A HaloPSA simulator (applications demo-client/demo-secret, scope all, and readonly-client/readonly-secret).",
)

connect = cli.lazy_group(
    "connect", "Store a tenant's credentials for a billing system (encrypted) and check the connection."
)
connect.lazy(
    "connectwise",
    "seatsync.cli.connectwise:connect_connectwise",
    "Store the credentials (encrypted) and check the connection and every right the billing push needs.",
)
connect.lazy(
    "gradient",
    "seatsync.cli.gradient:connect_gradient",
    "Store the partner token (encrypted), validate it, set pending, register services, sync accounts.",
)
connect.lazy(
    "autotask",
    "seatsync.cli.autotask:connect_autotask",
    "Find the tenant's zone, check the API user and each permission, and store it (encrypted).",
)
connect.lazy(
    "halopsa",
    "seatsync.cli.halopsa:connect_halopsa",
    "Check the API application and each permission the billing push needs, and store it (encrypted).",
)

cli.lazy(
    "disconnect",
    "seatsync.cli.disconnect:disconnect",
    "Forget a billing target's credentials (mappings and history are kept).",
)

map_group = cli.lazy_group("map", "Map companies to a PSA's company, contract and item.")
map_group.lazy(
    "connectwise",
    "seatsync.cli.push:map_connectwise",
    "Set one company's mapping (the chain is checked against ConnectWise first), or clear it with --clear.",
)
map_group.lazy(
    "autotask",
    "seatsync.cli.autotask:map_autotask",
    "Map one company to an Autotask company, contract and contract service (checked against Autotask first).",
)
map_group.lazy(
    "halopsa",
    "seatsync.cli.halopsa:map_halopsa",
    "Map one company to a HaloPSA client and subscription (checked against HaloPSA first).",
)
map_group.lazy(
    "suggest",
    "seatsync.cli.push:map_suggest",
    "Suggest mappings by fuzzy name matching, with a confidence; nothing is saved without --accept-above.",
)

push = cli.lazy_group("push", "Push a period's billable counts to a billing system.")
push.lazy(
    "connectwise",
    "seatsync.cli.push:push_connectwise",
    "Set each mapped company's ConnectWise addition to its billable users and attach the report.",
)
push.lazy(
    "autotask",
    "seatsync.cli.autotask:push_autotask",
    "Adjust each mapped contract service's units on the period's first day to the billable users and attach the report to a contract note.",
)
push.lazy(
    "halopsa",
    "seatsync.cli.halopsa:push_halopsa",
    "Set each mapped company's HaloPSA subscription count to its billable users (evidence in its notes).",
)
push.lazy(
    "gradient",
    "seatsync.cli.gradient:push_gradient",
    "Set each account's unit count of each subscribed service in Gradient to its billable users.",
)


def _name_automation_hook() -> None:
    # named, not imported: only a command that finishes a push run imports the automation
    from seatsync.push.hook_names import name_run_finished_hook

    name_run_finished_hook("seatsync.automation.hooks:run_finished")


def main() -> None:
    cli.before_command = _name_automation_hook
    cli(prog_name="seatsync")
