"""Alerts end to end: real runs, the real sensor, Apprise posting to a real HTTP receiver on
127.0.0.1, on a SQLite and on a PostgreSQL (dagster-postgres) instance."""

import json
import threading
import time
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from dagster import DagsterInstance, SkipReason, build_sensor_context, instance_for_test

from kaggle_lb.resources.alerts import AlertsResource
from kaggle_lb.resources.leaderboard_source import LocalExportsResource
from kaggle_lb.resources.quality import QualitySettingsResource
from kaggle_lb.sensors import quality_alert_sensor
from kaggle_lb.storage import registry
from kaggle_lb_tests.databases import fresh_postgres_url
from kaggle_lb_tests.pipeline import BAD_BOARDS, BOARD, TITANIC, Sync, board


class AlertReceiver(ThreadingHTTPServer):
    """Collects the JSON bodies Apprise posts."""

    def __init__(self):
        self.received: list[dict] = []
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


def test_a_stale_competition_among_fresh_ones_alerts_once(instance, site, exports, receiver, tmp_path):
    with site.begin() as conn:
        registry.add_competition(conn, site.tables, "other-comp")
    for slug in ("demo-comp", "other-comp"):
        (exports / f"{slug}.csv").write_bytes(BOARD)
    window_minutes = 0.2
    source = LocalExportsResource(directory=str(exports))
    sync = Sync(instance, site, source, tmp_path, QualitySettingsResource(freshness_minutes=window_minutes))
    alerting = Alerting(sync.instance, site, receiver, freshness_minutes=window_minutes)
    sync("demo-comp")
    time.sleep(window_minutes * 60 + 0.5)
    sync("other-comp", scheduled=True)

    first, second = alerting.tick(), alerting.tick()

    (alert,) = receiver.take()
    assert "demo-comp: freshness_check" in alert["title"] and "stale" in alert["message"]
    assert "partition=demo-comp" in alert["message"]
    # The stale competition's freshness is recorded on its partition by a run of the check alone,
    # one per stale spell (the same run key every tick, which the daemon launches once).
    (request,) = first.run_requests
    assert request.partition_key == "demo-comp" and [r.run_key for r in second.run_requests] == [request.run_key]
    assert request.asset_selection == [] and [key.name for key in request.asset_check_keys] == ["freshness_check"]
    # The run the daemon launches for it: the sync job, its freshness check alone.
    job = sync.defs.resolve_job_def("leaderboard_sync_job").get_subset(
        asset_selection=set(request.asset_selection), asset_check_selection=set(request.asset_check_keys)
    )
    recorded = job.execute_in_process(partition_key="demo-comp", instance=sync.instance, raise_on_error=False)
    (evaluation,) = recorded.get_asset_check_evaluations()
    assert evaluation.check_name == "freshness_check" and evaluation.partition == "demo-comp"
    assert not evaluation.passed and evaluation.description.startswith("stale: last synced")

    sync("demo-comp", scheduled=True)  # the next poll brings it back
    assert isinstance(alerting.tick(), SkipReason)  # fresh again: nothing to record
    (recovery,) = receiver.take()
    assert "RECOVERED demo-comp: freshness_check" in recovery["title"]


def test_alerts_are_logged_when_no_destination_is_set(sync, site, exports, caplog):
    (exports / "demo-comp.csv").write_bytes(ALL_ZERO)
    sync(raise_on_error=False)
    resources = {"database": site, "quality": QualitySettingsResource(), "alerts": AlertsResource()}
    with build_sensor_context(instance=sync.instance, resources=resources) as context:
        quality_alert_sensor(context)
    assert "HIGH demo-comp: scores_vary_check" in caplog.text
