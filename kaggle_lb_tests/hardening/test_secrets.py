"""Secrets never leave the process: with marker values in KAGGLE_KEY, KAGGLE_API_TOKEN and the
database password, a failing and a succeeding `kaggle-lb sync` (persisted runs, the real kaggle
client, the fake Kaggle server) leave the markers in no output, log, run, event or file."""

import logging
import os

import pytest
from click.testing import CliRunner
from dagster import DagsterInstance
from dagster._serdes import serialize_value
from sqlalchemy.engine import make_url

from kaggle_lb.cli import main
from kaggle_lb_tests.fake_kaggle import DOWNLOAD_LEADERBOARD_PATH
from kaggle_lb_tests.hardening.conftest import GOOD_BOARD

KEY = "KEYMARKER-7d1f0c2b"
TOKEN = "TOKENMARKER-93ab2e4f"
PASSWORD = "PWMARKER-51c8aa9d"


def leaks(text: str, markers: list[str]) -> list[str]:
    return [marker for marker in markers if marker in text]


def files_holding(root, markers: list[str]) -> list[str]:
    found = []
    for directory, _, names in os.walk(root):
        for name in names:
            path = os.path.join(directory, name)
            content = open(path, "rb").read()
            found += [f"{path}: {m}" for m in markers if m.encode() in content]
    return found


@pytest.fixture
def environment(database_kind, database_url, fake_kaggle, dagster_home, tmp_path, monkeypatch):
    """Secrets in the environment, as a deployment sets them; returns the markers to look for."""
    markers = [KEY, TOKEN]
    url = database_url
    if database_kind == "postgresql":
        # The test server trusts every connection, so a password in the URL still connects.
        url = make_url(database_url).set(password=PASSWORD).render_as_string(hide_password=False)
        markers.append(PASSWORD)
    monkeypatch.setenv("KAGGLE_LB_DATABASE_URL", url)
    monkeypatch.setenv("KAGGLE_LB_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("KAGGLE_USERNAME", "lb-bot")
    monkeypatch.setenv("KAGGLE_KEY", KEY)
    monkeypatch.setenv("KAGGLE_API_TOKEN", TOKEN)
    fake_kaggle.accept_credentials(token=TOKEN)  # only the real token gets a board
    return markers


def test_no_secret_reaches_output_logs_runs_events_or_files(environment, fake_kaggle, dagster_home, tmp_path, caplog):
    markers = environment
    fake_kaggle.set_board("comp-ok", GOOD_BOARD)
    # A rate limit first, so the retry warning (a log line built from the error) is written too.
    fake_kaggle.queue_response("comp-ok", 429, headers={"Retry-After": "0"})
    fake_kaggle.queue_response("comp-bad", 401)
    runner = CliRunner()
    results = []

    with caplog.at_level(logging.DEBUG):
        for args in (
            ["init"],
            ["competitions", "add", "comp-ok"],
            ["competitions", "add", "comp-bad"],
            ["users", "add", "alice"],
            ["sync", "--source", "kaggle"],
            ["standings", "comp-ok", "--json"],
        ):
            results.append(runner.invoke(main, args, catch_exceptions=False))

    sync = results[4]
    assert sync.exit_code == 1, sync.output
    assert "comp-ok" in sync.stdout and "synced" in sync.stdout
    assert "competition 'comp-bad': HTTP 401" in sync.stderr
    assert '"username": "alice"' in results[5].stdout
    # Both runs really went through Kaggle with the secret token. (Importing kaggle may also
    # introspect the token, once per process: that request goes to Kaggle itself.)
    downloads = [r for r in fake_kaggle.requests if r.path == DOWNLOAD_LEADERBOARD_PATH]
    assert sorted((r.body["competitionName"], r.auth) for r in downloads) == [
        ("comp-bad", "bearer"), ("comp-ok", "bearer"), ("comp-ok", "bearer"),
    ]

    for result in results:
        assert not leaks(result.output + result.stderr, markers)
    assert caplog.records and not leaks(caplog.text, markers)

    with DagsterInstance.get() as instance:
        runs = instance.get_runs()
        assert {run.tags.get("dagster/partition") for run in runs if run.job_name == "leaderboard_sync_job"} == {"comp-ok", "comp-bad"}
        for run in runs:
            # The run holds its config and tags; every event its metadata and any error text.
            assert not leaks(serialize_value(run), markers)
            events = instance.all_logs(run.run_id)
            assert events
            for event in events:
                assert not leaks(serialize_value(event), markers), event
    # Run and event storage, compute logs, the raw CSVs and (on SQLite) the site database itself.
    assert not files_holding(dagster_home, markers)
    assert not files_holding(tmp_path / "home", markers)
