"""The HaloPSA push through the one engine, against the sandbox over real sockets: counts set with the evidence in
the notes, nothing posted on a re-run, drift blocked unless forced, 20 % faults survived without double posts, the
read-only application refused by name, the preview, and ``seatsync push halopsa``."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

from click.testing import CliRunner
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from seatsync.cli.main import cli
from seatsync.connectors.halopsa import RETRY
from seatsync.db.models import PSAMapping, PushResult, PushRun, Tenant
from seatsync.domain.periods import BillingPeriod
from seatsync.domain.planning import Action
from seatsync.push import engine as push_engine
from seatsync.push.runs import Outcome, RunStatus
from seatsync.sandboxes.halopsa import HaloPSASandbox
from seatsync.services import halopsa_connection as halo
from seatsync.targets import PushOptions
from tests.halopsa.worlds import mapped_world

PERIOD = BillingPeriod(2026, 10)
NOW = datetime(2026, 11, 5, tzinfo=UTC)


def _push(engine: Engine, tenant_id: int, **options: bool) -> int:
    return push_engine.push(
        engine,
        tenant_id=tenant_id,
        target="halopsa",
        options=PushOptions(PERIOD, started_by="test", **options),
        client_factory=lambda session, tenant: halo.client_for(
            session, tenant=tenant, retry=replace(RETRY, backoff_base=0.001, backoff_cap=0.01, max_retries=8)
        ),
        clock=lambda: NOW,
    )


def _results(engine: Engine, run_id: int) -> dict[int, PushResult]:
    with Session(engine) as session:
        return {r.company_pk: r for r in session.scalars(select(PushResult).where(PushResult.run_id == run_id))}


def _run(engine: Engine, run_id: int) -> PushRun:
    with Session(engine) as session:
        found = session.get(PushRun, run_id)
        assert found is not None
        return found


def test_push_sets_counts_with_evidence_and_a_re_run_posts_nothing(engine: Engine) -> None:
    with mapped_world(engine, companies=4, period=PERIOD) as (sandbox, tenant_id, items):
        first = _push(engine, tenant_id)
        assert _run(engine, first).status == RunStatus.SUCCEEDED
        for (pk, _), (licence, count) in items.items():
            record = sandbox.licences[licence]
            assert record["count"] == count
            assert f"seatsync 2026-10: {count} billable user" in record["notes"]
            result = _results(engine, first)[pk]
            assert (result.outcome, result.quantity_before, result.quantity_after) == ("succeeded", 0, count)
            assert result.item_id == str(licence) and result.report_sha256
            assert result.report_sha256[:12] in record["notes"]
        assert sandbox.request_counts["POST /api/SoftwareLicence"] == 4  # one POST per changed subscription
        assert sandbox.request_counts["GET /api/SoftwareLicence/{id}"] == 8  # read, and read back to confirm
        with Session(engine) as session:
            pushed = {m.item_id: m.last_pushed_quantity for m in session.scalars(select(PSAMapping))}
        assert pushed == {str(lic): float(n) for lic, n in items.values()}
        sandbox.clear_log()
        again = _push(engine, tenant_id)
        assert {r.outcome for r in _results(engine, again).values()} == {"unchanged"}
        assert sandbox.request_counts["POST /api/SoftwareLicence"] == 0  # re-running posts nothing
        assert sandbox.request_counts["GET /api/SoftwareLicence/{id}"] == 4


def test_drift_is_blocked_unless_forced(engine: Engine) -> None:
    with mapped_world(engine, companies=2, period=PERIOD) as (sandbox, tenant_id, items):
        _push(engine, tenant_id)
        (pk, _), (licence, count) = next(iter(items.items()))
        sandbox.set_count_by_hand(licence, 50)
        blocked = _results(engine, _push(engine, tenant_id))[pk]
        assert blocked.outcome == Outcome.BLOCKED and "changed in HaloPSA since seatsync set it" in (
            blocked.reason or ""
        )
        assert sandbox.licences[licence]["count"] == 50
        forced = _results(engine, _push(engine, tenant_id, force=True))[pk]
        assert forced.outcome == Outcome.SUCCEEDED and "override" in (forced.reason or "")
        assert sandbox.licences[licence]["count"] == count


def test_twenty_percent_faults_end_with_every_count_right_and_nothing_posted_twice(engine: Engine) -> None:
    faulty = HaloPSASandbox(seed=None, rate_limit=None, fault_rate=0.0, random_seed=7)
    with mapped_world(engine, companies=12, period=PERIOD, sandbox=faulty) as (sandbox, tenant_id, items):
        sandbox.configure(fault_rate=0.2)
        run_id = _push(engine, tenant_id)
        for _ in range(3):  # what still failed after the client's retries is retried, as an operator would
            if _run(engine, run_id).status == RunStatus.SUCCEEDED:
                break
            run_id = _push(engine, tenant_id, retry_failed=True)
        sandbox.configure(fault_rate=0)
        assert sandbox.fault_counts["drop"] > 0 and sandbox.fault_counts["error"] > 0
        assert {pk: sandbox.licences[lic]["count"] for (pk, _), (lic, _) in items.items()} == {
            pk: n for (pk, _), (_, n) in items.items()
        }
        # a POST repeated after a lost answer sets the same absolute count: one change of the count per subscription
        assert all(len(sandbox.changes_of(lic)) == 1 for lic, _ in items.values())
        assert all(sandbox.licences[lic]["notes"].count("seatsync 2026-10") == 1 for lic, _ in items.values())


def test_the_read_only_application_fails_naming_the_missing_permission(engine: Engine) -> None:
    with mapped_world(engine, companies=2, period=PERIOD) as (sandbox, tenant_id, _):
        with Session(engine) as session, session.begin():
            row = halo.integration(session, tenant=session.get(Tenant, tenant_id))  # type: ignore[arg-type]
            assert row is not None
            from seatsync.config import get_settings
            from seatsync.security.secrets import SecretBox

            row.settings = {**row.settings, "client_id": "readonly-client"}
            row.secret = SecretBox.from_settings(get_settings()).seal({"client_secret": "readonly-secret"})
        run_id = _push(engine, tenant_id)
        found = _results(engine, run_id)
        assert {r.outcome for r in found.values()} == {"failed"}
        assert all(
            "edit software licensing" in (r.reason or "") and "edit:softwarelicensing" in (r.reason or "")
            for r in found.values()
        )
        assert _run(engine, run_id).status == RunStatus.FAILED
        assert sandbox.changes == []


def test_preview_and_dry_run_change_nothing(engine: Engine) -> None:
    with mapped_world(engine, companies=3, period=PERIOD) as (sandbox, tenant_id, items):
        with Session(engine) as session:
            tenant = session.get(Tenant, tenant_id)
            assert tenant is not None
            with halo.client_for(session, tenant=tenant) as client:
                rows = push_engine.preview(session, tenant=tenant, target="halopsa", period=PERIOD, client=client)
        assert {(r.key, r.before, r.after, r.action) for r in rows} == {
            (key, 0, float(n), Action.UPDATE) for key, (_, n) in items.items()
        }
        dry = _results(engine, _push(engine, tenant_id, dry_run=True))
        assert {r.outcome for r in dry.values()} == {"planned"}
        assert sandbox.changes == [] and sandbox.request_counts["POST /api/SoftwareLicence"] == 0


def test_cli_push_halopsa(engine: Engine, database_url: str) -> None:
    with mapped_world(engine, companies=2, period=PERIOD) as (sandbox, tenant_id, items):
        with Session(engine) as session:
            slug = session.get(Tenant, tenant_id).slug  # type: ignore[union-attr]
        runner = CliRunner()
        base = ["--tenant", slug, "--period", "2026-10", "--database-url", database_url]
        dry = runner.invoke(cli, ["push", "halopsa", *base, "--dry-run"])
        assert dry.exit_code == 0, dry.output
        assert "planned" in dry.output and sandbox.changes == []
        done = runner.invoke(cli, ["push", "halopsa", *base])
        assert done.exit_code == 0, done.output
        assert "succeeded" in done.output
        assert [sandbox.licences[lic]["count"] for lic, _ in items.values()] == [n for _, n in items.values()]
        future = runner.invoke(
            cli, ["push", "halopsa", "--tenant", slug, "--period", "2199-01", "--database-url", database_url]
        )
        assert future.exit_code == 2
