"""Alerts end to end: real runs, the real sensor, Apprise posting to a real HTTP receiver on
127.0.0.1, on a SQLite and on a PostgreSQL (dagster-postgres) instance."""

import json
import threading
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pandas as pd
import pytest
from dagster import DagsterInstance, SkipReason, build_sensor_context, instance_for_test
from sqlalchemy import Engine, event, select, update

from kaggle_lb.leaderboard.matching import ENTRY_DTYPES
from kaggle_lb.partitions import COMPETITIONS
from kaggle_lb.resources.alerts import AlertsResource
from kaggle_lb.resources.quality import QualitySettingsResource
from kaggle_lb.sensors import quality_alert_sensor
from kaggle_lb.storage import polls, registry, standings
from kaggle_lb_tests.pipeline import BAD_BOARDS, BOARD, TITANIC, Sync, board
from kaggle_lb_tests.postgres import fresh_postgres_url


class AlertReceiver(ThreadingHTTPServer):
    """Collects the JSON bodies Apprise posts."""

    def __init__(self):
        self.received: list[dict] = []
        self.refusing = False  # answer 500, as a destination that is down
        super().__init__(("127.0.0.1", 0), _Handler)
        threading.Thread(target=self.serve_forever, daemon=True).start()

    @property
    def apprise_url(self) -> str:
        return f"json://127.0.0.1:{self.server_address[1]}/alerts"

    def take(self) -> list[dict]:
        received, self.received = self.received, []
        return received


class _Handler(BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        if self.server.refusing:
            self.send_response(500)
            self.end_headers()
            return
        self.server.received.append(json.loads(body))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args):
        pass


@contextmanager
def instance_of_kind(kind: str):
    if kind == "sqlite":
        with instance_for_test() as instance:
            yield instance
        return
    with fresh_postgres_url() as url:
        overrides = {"storage": {"postgres": {"postgres_url": url.replace("postgresql://", "postgresql+psycopg2://")}}}
        with instance_for_test(overrides=overrides) as instance:
            yield instance


@pytest.fixture
def instance(database_kind):
    """The Dagster instance on the same kind of database as the site's, so both kinds are covered."""
    with instance_of_kind(database_kind) as instance:
        yield instance


@pytest.fixture
def receiver(monkeypatch):
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    server = AlertReceiver()
    yield server
    server.shutdown()


class Alerting:
    """The sensor as the daemon runs it: each tick resumes from the cursor the last one stored."""

    def __init__(self, instance: DagsterInstance, database, receiver: AlertReceiver, freshness_minutes: float = 15):
        self.instance, self.cursor = instance, None
        self.resources = {
            "database": database,
            "quality": QualitySettingsResource(freshness_minutes=freshness_minutes),
            "alerts": AlertsResource(urls=receiver.apprise_url, ui_url="http://ui.example:3000"),
        }

    def tick(self):
        """The sensor's result: its run requests, or why it skipped."""
        # A fresh instance object each tick, as after a daemon restart: only the cursor carries over.
        with DagsterInstance.from_ref(self.instance.get_ref()) as instance:
            with build_sensor_context(instance=instance, cursor=self.cursor, resources=self.resources) as context:
                result = quality_alert_sensor(context)
                self.cursor = context.cursor
        return result


def record_freshness(sync: Sync, request):
    """The run the daemon launches for a stale-run request: the sync job, its freshness check alone."""
    job = sync.defs.resolve_job_def("leaderboard_sync_job").get_subset(
        asset_selection=set(request.asset_selection), asset_check_selection=set(request.asset_check_keys)
    )
    recorded = job.execute_in_process(
        partition_key=request.partition_key, instance=sync.instance, raise_on_error=False, tags=request.tags
    )
    (evaluation,) = recorded.get_asset_check_evaluations()
    return evaluation


ALL_ZERO = board(*(f'{i},{100 + i},team{i},"2026-11-01 10:00:00",0.0,1,member{i}' for i in range(1, 9)))


def test_one_alert_on_failure_none_while_failing_one_on_recovery(sync, site, exports, receiver):
    alerting = Alerting(sync.instance, site, receiver)
    (exports / "demo-comp.csv").write_bytes(BOARD)
    sync()
    alerting.tick()
    assert receiver.take() == []  # success sends nothing

    (exports / "demo-comp.csv").write_bytes(ALL_ZERO)
    sync(raise_on_error=False)
    alerting.tick()
    (alert,) = receiver.take()
    assert "demo-comp" in alert["title"] and "scores_vary_check" in alert["title"]
    assert alert["type"] == "failure"
    assert "all 8 ranked rows have the same score" in alert["message"]
    assert "http://ui.example:3000/runs/" in alert["message"]

    for _ in range(2):  # still failing, on every schedule period
        sync(raise_on_error=False)
        alerting.tick()
    assert receiver.take() == []

    (exports / "demo-comp.csv").write_bytes(BOARD)
    sync()
    alerting.tick()
    (recovery,) = receiver.take()
    assert recovery["type"] == "success" and "RECOVERED demo-comp: scores_vary_check" in recovery["title"]
    alerting.tick()
    assert receiver.take() == []


@pytest.mark.parametrize(
    "check", ["row_count_drop_check", "scores_vary_check", "ranks_follow_scores_check", "required_columns_check"]
)
def test_each_bad_board_sends_exactly_one_alert_and_its_fix_one_recovery(check, titanic_site, site, exports, receiver):
    # A truncated, an all-zero, a re-ordered and a column-renamed board, through the real pipeline.
    alerting = Alerting(titanic_site.instance, site, receiver)
    alerting.tick()
    (exports / "demo-comp.csv").write_bytes(BAD_BOARDS[check]())
    for _ in range(2):
        titanic_site(raise_on_error=False, scheduled=True)
        alerting.tick()
    (alert,) = receiver.take()
    assert f"demo-comp: {check}" in alert["title"]

    (exports / "demo-comp.csv").write_bytes(TITANIC)
    titanic_site(scheduled=True)
    alerting.tick()
    (recovery,) = receiver.take()
    assert f"RECOVERED demo-comp: {check}" in recovery["title"]


def test_a_failed_run_alerts_with_its_cause(sync, site, receiver):
    # No export for the competition: the download step fails, not a check.
    alerting = Alerting(sync.instance, site, receiver)
    sync(raise_on_error=False)
    alerting.tick()
    (alert,) = receiver.take()
    assert "failed run" in alert["title"]
    assert "competition 'demo-comp'" in alert["message"] and "demo-comp.csv" in alert["message"]


def _backdate_sync(site, slug: str, minutes: float) -> datetime:
    """The competition's last sync moved `minutes` into the past, as if its polls had stopped then."""
    competition_id, _ = _sync_row(site, slug)
    synced_at = datetime.now(UTC) - timedelta(minutes=minutes)
    with site.begin() as conn:
        syncs = site.tables.syncs
        conn.execute(update(syncs).where(syncs.c.competition_id == competition_id).values(synced_at=synced_at))
    return synced_at


def test_a_stale_competition_among_fresh_ones_alerts_once(sync, site, exports, receiver):
    with site.begin() as conn:
        registry.add_competition(conn, site.tables, "other-comp")
    for slug in ("demo-comp", "other-comp"):
        (exports / f"{slug}.csv").write_bytes(BOARD)
        sync(slug)
    alerting = Alerting(sync.instance, site, receiver)  # a 15 min window
    alerting.tick()
    _backdate_sync(site, "demo-comp", minutes=20)

    first, second = alerting.tick(), alerting.tick()

    (alert,) = receiver.take()
    assert "demo-comp: freshness_check" in alert["title"] and "stale" in alert["message"]
    assert "partition=demo-comp" in alert["message"]
    # The stale competition's freshness is recorded on its partition by a run of the check alone,
    # one per stale spell (the same run key every tick, which the daemon launches once).
    (request,) = first.run_requests
    assert request.partition_key == "demo-comp" and [r.run_key for r in second.run_requests] == [request.run_key]
    assert request.asset_selection == [] and [key.name for key in request.asset_check_keys] == ["freshness_check"]
    evaluation = record_freshness(sync, request)
    assert evaluation.check_name == "freshness_check" and evaluation.partition == "demo-comp"
    assert not evaluation.passed and evaluation.description.startswith("stale: last checked")

    sync("demo-comp", scheduled=True)  # the next poll brings it back
    assert isinstance(alerting.tick(), SkipReason)  # fresh again: nothing to record
    (recovery,) = receiver.take()
    assert "RECOVERED demo-comp: freshness_check" in recovery["title"]


def test_the_freshness_checks_own_run_is_no_sync_and_recovers_no_failed_run(sync, site, exports, receiver):
    """A competition whose syncs fail and that goes stale gets its freshness recorded by a run of
    the sync job that syncs nothing: that run's success says nothing about the failing syncs."""
    (exports / "demo-comp.csv").write_bytes(BOARD)
    sync()
    alerting = Alerting(sync.instance, site, receiver)
    alerting.tick()
    (exports / "demo-comp.csv").unlink()  # every download fails from now on
    sync(raise_on_error=False)
    alerting.tick()
    (failed,) = receiver.take()
    assert "failed run" in failed["title"]
    _backdate_sync(site, "demo-comp", minutes=20)

    (request,) = alerting.tick().run_requests
    (stale,) = receiver.take()
    assert "freshness_check" in stale["title"]
    assert not record_freshness(sync, request).passed
    alerting.tick()

    assert receiver.take() == []  # no "RECOVERED demo-comp: failed run"


def test_a_failing_board_in_a_batch_alerts_for_its_competition_alone(sync, site, exports, receiver):
    """The 5-minute poll's batch: one board breaks a check, its competition alone alerts (once),
    and the other competition of the batch is synced and says nothing."""
    with site.begin() as conn:
        registry.add_competition(conn, site.tables, "second")
    for slug in ("demo-comp", "second"):
        (exports / f"{slug}.csv").write_bytes(BOARD)
    sync.refresh_user_keys()
    alerting = Alerting(sync.instance, site, receiver)
    assert sync.batch("demo-comp", "second").success
    alerting.tick()
    assert receiver.take() == []

    (exports / "second.csv").write_bytes(ALL_ZERO)
    (exports / "demo-comp.csv").write_bytes(BOARD.replace(b"0.95", b"0.96"))
    assert sync.batch("demo-comp", "second").success
    alerting.tick()
    sync.batch("demo-comp", "second")
    alerting.tick()

    (alert,) = receiver.take()
    assert "second: scores_vary_check" in alert["title"]
    assert sync.entries("demo-comp")["alice"] == (1, "Team Alpha")


def test_alerts_are_logged_when_no_destination_is_set(sync, site, exports, caplog):
    (exports / "demo-comp.csv").write_bytes(ALL_ZERO)
    sync(raise_on_error=False)
    resources = {"database": site, "quality": QualitySettingsResource(), "alerts": AlertsResource()}
    with build_sensor_context(instance=sync.instance, resources=resources) as context:
        quality_alert_sensor(context)
    assert "HIGH demo-comp: scores_vary_check" in caplog.text


def _sync_row(site, slug: str):
    with site.begin() as conn:
        competition = registry.get_competition(conn, site.tables, slug)
        syncs = site.tables.syncs
        row = conn.execute(select(syncs).where(syncs.c.competition_id == competition.id)).one()
    return competition.id, row


def _stale_since(request) -> datetime:
    return datetime.fromisoformat(request.run_key.split("@stale-since-")[1])


def test_a_board_a_poll_confirmed_recently_is_fresh_though_its_last_sync_is_old(sync, site, exports, receiver):
    (exports / "demo-comp.csv").write_bytes(BOARD)
    sync()
    competition_id, row = _sync_row(site, "demo-comp")
    synced_at = _backdate_sync(site, "demo-comp", minutes=60)  # the board has not changed for an hour
    now = datetime.now(UTC)
    alerting = Alerting(sync.instance, site, receiver)  # a 15 min window

    stale = alerting.tick()
    (alert,) = receiver.take()
    assert "demo-comp: freshness_check" in alert["title"] and "stale: last checked 60 min ago" in alert["message"]
    (request,) = stale.run_requests
    assert _stale_since(request) == synced_at

    # A poll found the board unchanged 2 minutes ago: checked against Kaggle, so fresh.
    with site.begin() as conn:
        polls.confirm(conn, site.tables, competition_id, row.fingerprint, row.key_version, now - timedelta(minutes=2))
    assert isinstance(alerting.tick(), SkipReason)  # no stale run to request
    (recovery,) = receiver.take()
    assert "RECOVERED demo-comp: freshness_check" in recovery["title"]
    evaluation = record_freshness(sync, request)  # the check itself judges from the confirmation too
    assert evaluation.passed and evaluation.description == "last checked 2 min ago"

    # The polls stop: a new stale spell, with a run of its own, named after the last confirmation.
    confirmed_at = now - timedelta(minutes=30)
    with site.begin() as conn:
        polls.confirm(conn, site.tables, competition_id, row.fingerprint, row.key_version, confirmed_at)
    (again,) = alerting.tick().run_requests
    assert _stale_since(again) == confirmed_at and again.run_key != request.run_key
    (alert,) = receiver.take()
    assert "stale: last checked 30 min ago" in alert["message"]
    evaluation = record_freshness(sync, again)
    assert not evaluation.passed and evaluation.description.startswith("stale: last checked 30 min ago")


def register_synced(site, instance: DagsterInstance, slugs: list[str]) -> None:
    """Competitions registered, with their partitions and standings (no site user on their boards),
    written as a sync writes them: real runs for hundreds of competitions would take minutes."""
    nobody = pd.DataFrame({column: pd.Series(dtype=dtype) for column, dtype in ENTRY_DTYPES.items()})
    with site.begin() as conn:
        for slug in slugs:
            registry.add_competition(conn, site.tables, slug)
            competition_id = registry.get_competition(conn, site.tables, slug).id
            standings.write_standings(conn, site.tables, competition_id, nobody)
            standings.record_sync(conn, site.tables, competition_id, board_rows=0, matched=0)
    instance.add_dynamic_partitions(COMPETITIONS, slugs)


@contextmanager
def sql_statements():
    """Every SQL statement run meanwhile, by any engine: the site database's and the Dagster
    instance's run, event-log and schedule storages."""
    statements: list[str] = []

    def record(conn, cursor, statement, parameters, context, executemany):
        statements.append(statement)

    event.listen(Engine, "before_cursor_execute", record)
    try:
        yield statements
    finally:
        event.remove(Engine, "before_cursor_execute", record)


def test_an_evaluation_reads_what_changed_not_every_competition(sync, site, exports, receiver):
    (exports / "demo-comp.csv").write_bytes(BOARD)
    sync()
    register_synced(site, sync.instance, [f"comp-{i:03d}" for i in range(200)])
    alerting = Alerting(sync.instance, site, receiver)
    for _ in range(2):  # the first evaluations read every competition once, 200 at a time
        alerting.tick()

    with sql_statements() as quiet:
        assert isinstance(alerting.tick(), SkipReason)
    cursor = alerting.cursor
    register_synced(site, sync.instance, [f"comp-{i:03d}" for i in range(200, 400)])
    with sql_statements() as twice_as_many:
        assert isinstance(alerting.tick(), SkipReason)

    # As many statements for 201 competitions as for 401, fewer than the competitions: the
    # competitions and their last checks, the partitions, the runs ended since, and the storages'
    # own (the per-competition loop ran 3 or more for each competition).
    assert len(quiet) == len(twice_as_many) < 201, "\n".join(twice_as_many)
    # The cursor does not grow with the competitions either.
    assert len(alerting.cursor) <= len(cursor) < 500
    assert receiver.take() == []

    # One competition's run ends: its runs and checks are read, and nobody else's.
    (exports / "comp-123.csv").write_bytes(ALL_ZERO)
    sync("comp-123", scheduled=True, raise_on_error=False)
    with sql_statements() as one_more:
        alerting.tick()
    (alert,) = receiver.take()
    assert "HIGH comp-123: scores_vary_check" in alert["title"]
    assert len(one_more) <= len(quiet) + 20, "\n".join(one_more)


def test_a_failing_run_among_many_competitions_alerts_for_that_one_only(sync, site, exports, receiver):
    slugs = [f"comp-{i:03d}" for i in range(50)]
    register_synced(site, sync.instance, slugs)
    for slug in ("demo-comp", "comp-007", "comp-042"):
        (exports / f"{slug}.csv").write_bytes(BOARD)
        sync(slug)
    alerting = Alerting(sync.instance, site, receiver)
    alerting.tick()
    assert receiver.take() == []

    (exports / "comp-042.csv").write_bytes(ALL_ZERO)
    sync("comp-042", scheduled=True, raise_on_error=False)
    sync("comp-007", scheduled=True)  # another competition's run ends too, and passes
    alerting.tick()
    (alert,) = receiver.take()
    assert alert["title"] == "[kaggle-lb] HIGH comp-042: scores_vary_check"
    alerting.tick()
    assert receiver.take() == []  # alerted once

    (exports / "comp-042.csv").write_bytes(BOARD)
    sync("comp-042", scheduled=True)
    alerting.tick()
    (recovery,) = receiver.take()
    assert recovery["title"] == "[kaggle-lb] RECOVERED comp-042: scores_vary_check"


def test_an_alert_not_delivered_is_sent_on_a_later_evaluation_though_nothing_changed(sync, site, exports, receiver):
    (exports / "demo-comp.csv").write_bytes(ALL_ZERO)
    sync(raise_on_error=False)
    alerting = Alerting(sync.instance, site, receiver)
    alerting.tick()
    receiver.take()
    (exports / "demo-comp.csv").write_bytes(BOARD)
    sync()

    receiver.refusing = True  # the destination is down when the recovery is due
    alerting.tick()
    receiver.refusing = False
    assert receiver.take() == []
    alerting.tick()  # no run ended since
    (recovery,) = receiver.take()
    assert "RECOVERED demo-comp: scores_vary_check" in recovery["title"]
    alerting.tick()
    assert receiver.take() == []


def test_the_previous_versions_cursor_keeps_what_it_alerted(sync, site, exports, receiver):
    (exports / "demo-comp.csv").write_bytes(ALL_ZERO)
    sync(raise_on_error=False)
    alerting = Alerting(sync.instance, site, receiver)
    # What the sensor stored before it followed the runs: every state it alerted, passing ones too.
    alerting.cursor = json.dumps(
        {
            "alerted": {"demo-comp|scores_vary_check": "failing", "demo-comp|run": "passing"},
            "watched": {"demo-comp": datetime.now(UTC).isoformat()},
            "private_boards": [],
        }
    )
    alerting.tick()
    assert receiver.take() == []  # alerted before the upgrade

    (exports / "demo-comp.csv").write_bytes(BOARD)
    sync()
    alerting.tick()
    (recovery,) = receiver.take()
    assert "RECOVERED demo-comp: scores_vary_check" in recovery["title"]


def test_the_first_evaluations_read_every_competition_a_slice_at_a_time(sync, site, exports, receiver):
    register_synced(site, sync.instance, [f"comp-{i:03d}" for i in range(250)])
    (exports / "zz-comp.csv").write_bytes(ALL_ZERO)
    with site.begin() as conn:
        registry.add_competition(conn, site.tables, "zz-comp")
    sync("zz-comp", raise_on_error=False)  # failing before the sensor first runs, and read last
    alerting = Alerting(sync.instance, site, receiver)

    assert "(200 competitions' runs read)" in alerting.tick().skip_message
    assert receiver.take() == []
    assert "(51 competitions' runs read)" in alerting.tick().skip_message
    (alert,) = receiver.take()
    assert "HIGH zz-comp: scores_vary_check" in alert["title"]
    assert "(0 competitions' runs read)" in alerting.tick().skip_message
