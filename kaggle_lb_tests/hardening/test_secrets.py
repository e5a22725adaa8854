"""Secrets never leave the process: with marker values in KAGGLE_KEY, KAGGLE_API_TOKEN and the
database password, a `kaggle-lb sync` run with VERBOSE=1 (persisted runs, the real kaggle client,
the fake Kaggle server echoing the credentials back in every kind of answer) leaves none of them,
in any form a server or a client could show (raw, user:key, base64), in any output, log, run,
event or file."""

import base64
import json
import logging
import os
import subprocess
import sys

import pytest
from click.testing import CliRunner
from dagster import DagsterInstance
from dagster._serdes import serialize_value
from sqlalchemy.engine import make_url

from kaggle_lb.cli import main
from kaggle_lb.errors import LeaderboardDownloadError
from kaggle_lb.resources.kaggle_api import KaggleApiResource
from kaggle_lb_tests.fake_kaggle import DOWNLOAD_LEADERBOARD_PATH, credential_echo
from kaggle_lb_tests.hardening.conftest import GOOD_BOARD, SLUG

USERNAME = "lb-bot"
KEY = "KEYMARKER-7d1f0c2b"
TOKEN = "TOKENMARKER-93ab2e4f"
PASSWORD = "PWMARKER-51c8aa9d"


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


# Every form of the Kaggle credentials: raw, user:key (a Basic header's content) and base64 of each.
KAGGLE_MARKERS = [KEY, TOKEN, f"{USERNAME}:{KEY}", b64(KEY), b64(TOKEN), b64(f"{USERNAME}:{KEY}")]


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


def exception_chain(error: BaseException):
    """The error and those it was raised from, as Dagster records them (a suppressed context is not)."""
    while error is not None:
        yield error
        error = error.__cause__ or (None if error.__suppress_context__ else error.__context__)


def html_echo(authorization) -> bytes:
    return f"<!DOCTYPE html><html><body>Signed in with {credential_echo(authorization)}</body></html>".encode()


def html_echo_across_the_cut(authorization) -> bytes:
    # The credentials start just before the end of the quoted excerpt: cut first, part would show.
    return b"<html>" + b"x" * 184 + credential_echo(authorization).encode()


def json_echo(payload):
    """A JSON answer quoting the credentials where `payload` has ECHO."""
    return lambda authorization: json.dumps(payload).replace("ECHO", credential_echo(authorization)).encode()


JSON = {"Content-Type": "application/json"}
# (status, body, headers) of each answer that echoes the credentials back.
ECHOING_ANSWERS = {
    "html-200": (200, html_echo, {"Content-Type": "text/html"}),
    "html-across-the-cut": (200, html_echo_across_the_cut, {"Content-Type": "text/html"}),
    "json-401": (401, json_echo({"code": 401, "message": "Unauthenticated: ECHO"}), JSON),
    "json-403-nested-in-200": (200, json_echo({"error": {"code": 403, "message": "No access for ECHO"}}), JSON),
    "json-without-error": (200, json_echo({"user": "ECHO"}), JSON),
    "json-string-code": (200, json_echo({"code": "ECHO", "message": "ECHO"}), JSON),
    "json-500": (500, json_echo({"code": 500, "message": "Backend error for ECHO"}), JSON),
}


@pytest.fixture(params=["token", "key"])
def credentials(request, monkeypatch) -> dict[str, str]:
    """The resource's credentials: a token (sent as Bearer), or user and key (sent as Basic)."""
    if request.param == "token":
        return {"api_token": TOKEN, "username": USERNAME, "key": KEY}
    return {"username": USERNAME, "key": KEY}


@pytest.mark.parametrize("answer", ECHOING_ANSWERS)
def test_no_credential_kaggle_echoes_reaches_the_error_its_chain_or_the_log(
    fake_kaggle, credentials, sleeps, caplog, capfd, monkeypatch, answer
):
    monkeypatch.setenv("VERBOSE", "1")
    status, body, headers = ECHOING_ANSWERS[answer]
    for _ in range(2):  # a 500 is retried: its warning is logged, then it is the last error
        fake_kaggle.queue_response(SLUG, status, body, headers)
    resource = KaggleApiResource(**credentials, max_attempts=2, backoff_seconds=0)

    with caplog.at_level(logging.DEBUG), pytest.raises(LeaderboardDownloadError) as raised:
        resource.download_leaderboard(SLUG)

    assert str(raised.value).startswith(f"competition '{SLUG}': ")
    assert "***" in str(raised.value) or answer == "json-string-code"  # Kaggle's text is quoted, redacted
    output = capfd.readouterr()
    texts = [str(error) for error in exception_chain(raised.value)] + [caplog.text, output.out, output.err]
    # Nor a part of one, left by cutting the quote before redacting it.
    markers = KAGGLE_MARKERS + [marker[:8] for marker in KAGGLE_MARKERS]
    assert not [(text, leaks(text, markers)) for text in texts if leaks(text, markers)]
    assert {r.auth for r in fake_kaggle.requests} == {"bearer" if "api_token" in credentials else "basic"}


@pytest.fixture
def environment(database_kind, database_url, fake_kaggle, credentials, dagster_home, tmp_path, monkeypatch):
    """Secrets in the environment, as a deployment sets them, and VERBOSE=1, which makes the
    kaggle package's clients print each request; returns the markers to look for."""
    markers = list(KAGGLE_MARKERS)
    url = database_url
    if database_kind == "postgresql":
        # The test server trusts every connection, so a password in the URL still connects.
        url = make_url(database_url).set(password=PASSWORD).render_as_string(hide_password=False)
        markers.append(PASSWORD)
    monkeypatch.setenv("KAGGLE_LB_DATABASE_URL", url)
    monkeypatch.setenv("KAGGLE_LB_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("VERBOSE", "1")
    monkeypatch.setenv("KAGGLE_USERNAME", USERNAME)
    monkeypatch.setenv("KAGGLE_KEY", KEY)
    if "api_token" in credentials:
        monkeypatch.setenv("KAGGLE_API_TOKEN", TOKEN)
        fake_kaggle.accept_credentials(token=TOKEN)  # only the real token gets a board
    else:
        fake_kaggle.accept_credentials(username=USERNAME, key=KEY)
    return markers


def test_no_secret_reaches_output_logs_runs_events_or_files(
    environment, fake_kaggle, credentials, dagster_home, tmp_path
):
    markers = environment
    echoing = {f"comp-{name}": answer for name, answer in ECHOING_ANSWERS.items() if name != "json-500"}
    fake_kaggle.set_board("comp-ok", GOOD_BOARD)
    # A rate limit echoing the credentials first, so the retry warning (a log line built from the
    # error) is written too.
    fake_kaggle.queue_response("comp-ok", 429, json_echo({"code": 429, "message": "Slow down, ECHO"}), JSON)
    for slug, (status, body, headers) in echoing.items():
        fake_kaggle.queue_response(slug, status, body, headers)
    runner = CliRunner()
    for args in (["init"], ["competitions", "add", "comp-ok"], ["users", "add", "alice"]):
        assert runner.invoke(main, args, catch_exceptions=False).exit_code == 0
    for slug in echoing:
        assert runner.invoke(main, ["competitions", "add", slug], catch_exceptions=False).exit_code == 0

    # In a fresh interpreter, as a deployment runs it: VERBOSE is read when the client is first
    # imported, which an earlier test may have done in this one.
    sync = subprocess.run(
        [sys.executable, "-c", "from kaggle_lb.cli import main; main()", "sync", "--source", "kaggle"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    standings = runner.invoke(main, ["standings", "comp-ok", "--json"], catch_exceptions=False)

    assert sync.returncode == 1, sync.stdout + sync.stderr
    assert "comp-ok" in sync.stdout and "synced" in sync.stdout
    assert "competition 'comp-json-401': HTTP 401" in sync.stderr
    assert "competition 'comp-html-200': the leaderboard download is not a readable ZIP" in sync.stderr
    assert '"username": "alice"' in standings.stdout
    # Every run really went through Kaggle with the secret credentials.
    downloads = [r for r in fake_kaggle.requests if r.path == DOWNLOAD_LEADERBOARD_PATH]
    auth = "bearer" if "api_token" in credentials else "basic"
    assert sorted((r.body["competitionName"], r.auth) for r in downloads) == sorted(
        [("comp-ok", auth), ("comp-ok", auth)] + [(slug, auth) for slug in echoing]
    )

    assert not leaks(sync.stdout + sync.stderr + standings.output, markers)
    with DagsterInstance.get() as instance:
        runs = instance.get_runs()
        assert {run.tags.get("dagster/partition") for run in runs if run.job_name == "leaderboard_sync_job"} == {
            "comp-ok",
            *echoing,
        }
        for run in runs:
            # The run holds its config and tags; every event its metadata and any error text.
            assert not leaks(serialize_value(run), markers)
            events = instance.all_logs(run.run_id)
            assert events
            for event in events:
                assert not leaks(serialize_value(event), markers), event
    # Run and event storage, compute logs, the raw CSVs and (on SQLite) the site database itself.
    assert not files_holding(dagster_home, markers)
    assert not files_holding(tmp_path, markers)


@pytest.mark.parametrize("answer", ["json-401", "json-500", "json-string-code"])
def test_no_credential_the_leaderboard_view_echoes_reaches_the_error_or_the_log(
    fake_kaggle, credentials, sleeps, caplog, capfd, monkeypatch, answer
):
    from kaggle_lb_tests.fake_kaggle import GET_LEADERBOARD_PATH

    monkeypatch.setenv("VERBOSE", "1")
    status, body, headers = ECHOING_ANSWERS[answer]
    for _ in range(2):
        fake_kaggle.queue_response(SLUG, status, body, headers, path=GET_LEADERBOARD_PATH)
    resource = KaggleApiResource(**credentials, max_attempts=2, backoff_seconds=0)
    with caplog.at_level(logging.DEBUG), pytest.raises(LeaderboardDownloadError) as raised:
        resource.view_first_page(SLUG)

    assert str(raised.value).startswith(f"competition '{SLUG}': ")
    output = capfd.readouterr()
    texts = [str(error) for error in exception_chain(raised.value)] + [caplog.text, output.out, output.err]
    markers = KAGGLE_MARKERS + [marker[:8] for marker in KAGGLE_MARKERS]
    assert not [(text, leaks(text, markers)) for text in texts if leaks(text, markers)]
    assert {r.path for r in fake_kaggle.requests} == {GET_LEADERBOARD_PATH}
