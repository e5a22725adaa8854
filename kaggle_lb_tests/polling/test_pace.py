"""The one pace of every request to Kaggle, shared through the site's database: its rules at fixed
times (storage.pace), the waits of KagglePaceResource, and KaggleApiResource paced against the fake
Kaggle server by two processes sharing one database. On SQLite and PostgreSQL."""

import json
import logging
import subprocess
import sys
import textwrap
import time
from concurrent.futures import ThreadPoolExecutor

import dagster as dg
import pandas as pd
import pytest
from click.testing import CliRunner
from sqlalchemy import text

from kaggle_lb.cli import main
from kaggle_lb.errors import ConfigurationError, LeaderboardDownloadError
from kaggle_lb.polling import pace as paced_module
from kaggle_lb.polling.pace import KagglePaceResource
from kaggle_lb.resources.database import DatabaseResource
from kaggle_lb.resources.from_env import leaderboard_source_from_env
from kaggle_lb.resources.kaggle_api import KaggleApiResource
from kaggle_lb.resources.leaderboard_source import LocalExportsResource
from kaggle_lb.storage import pace
from kaggle_lb_tests.fake_kaggle import GET_LEADERBOARD_PATH, credential_echo

BOARD = (
    b"Rank,TeamId,TeamName,LastSubmissionDate,Score,SubmissionCount,TeamMemberUserNames\n"
    b"1,1,a,2026-01-01 00:00:00,0.9,1,a\n"
)
KEY = "KEYMARKER-2b7e90aa"
RATE_VARIABLE = "KAGGLE_LB_KAGGLE_REQUESTS_PER_MINUTE"


# --- the rules, at fixed times ---------------------------------------------------------------------


def claim(database: DatabaseResource, now: float, interval: float = 0.5) -> float:
    with database.begin() as conn:
        return pace.claim_slot(conn, database.tables, interval, now)


def slow_down(database: DatabaseResource, now: float, retry_after: float = 2.0, window: float = 300.0) -> None:
    with database.begin() as conn:
        pace.slow_down(conn, database.tables, now, retry_after, window, max_slowdown=8.0)


def spacing(database: DatabaseResource, now: float) -> float:
    """How far apart two requests asking at `now` go, at an interval of 0.5 s."""
    first = claim(database, now)
    return claim(database, now) - first


def test_slots_are_spaced_by_the_interval(database):
    assert [claim(database, 1000.0) for _ in range(3)] == [1000.0, 1000.5, 1001.0]
    # After an idle spell a request goes at once: the pace keeps no credit of unused slots.
    assert claim(database, 1010.0) == 1010.0
    assert claim(database, 1010.0) == 1010.5


def test_a_429_pauses_every_slot_then_doubles_the_spacing_until_the_window_ends(database):
    assert claim(database, 1000.0) == 1000.0
    slow_down(database, now=1000.1, retry_after=2.0, window=300.0)

    assert claim(database, 1000.2) == pytest.approx(1002.1)  # nobody before now + Retry-After
    assert claim(database, 1000.3) == pytest.approx(1003.1)  # then twice the interval apart
    assert claim(database, 1000.4) == pytest.approx(1004.1)
    # The window over, the interval is the normal one again.
    assert claim(database, 1300.2) == 1300.2
    assert claim(database, 1300.2) == pytest.approx(1300.7)


def test_429s_double_the_spacing_up_to_the_cap_and_a_burst_counts_once(database):
    slow_down(database, now=1000.0, retry_after=1.0)
    # A 429 to a request already on its way when the pause began: the pause goes on, no doubling.
    slow_down(database, now=1000.5, retry_after=1.0)
    assert claim(database, 1001.0) == 1001.5
    assert spacing(database, 1010.0) == 1.0
    slow_down(database, now=1020.0, retry_after=1.0)
    assert spacing(database, 1030.0) == 2.0
    slow_down(database, now=1040.0, retry_after=1.0)
    assert spacing(database, 1050.0) == 4.0
    slow_down(database, now=1060.0, retry_after=1.0)
    assert spacing(database, 1070.0) == 4.0  # eight times the interval at most
    # A 429 once the window is over starts again from the normal interval.
    slow_down(database, now=1400.0, retry_after=1.0)
    assert spacing(database, 1410.0) == 1.0


def test_claims_at_once_from_many_connections_never_share_a_slot(database):
    database.tables  # noqa: B018 (the engine made once, before the threads share it)

    def claims(count: int) -> list[float]:
        return [claim(database, 1000.0) for _ in range(count)]

    with ThreadPoolExecutor(4) as pool:
        slots = [slot for batch in pool.map(claims, [25] * 4) for slot in batch]

    assert sorted(slots) == [1000.0 + 0.5 * k for k in range(100)]


# --- KagglePaceResource's waits --------------------------------------------------------------------


@pytest.fixture
def waits(monkeypatch) -> list[float]:
    """The pace's waits, recorded instead of slept: no time passes while a caller 'sleeps'."""
    recorded: list[float] = []
    monkeypatch.setattr(paced_module, "_sleep", recorded.append)
    return recorded


@pytest.fixture
def process(database):
    """`process()`: a DatabaseResource of its own on the test's database, as another process
    (another run, another machine) has; disposed after the test."""
    made: list[DatabaseResource] = []

    def make() -> DatabaseResource:
        made.append(DatabaseResource(url=database.url, home=database.home))
        return made[-1]

    yield make
    for resource in made:
        resource.dispose()


def test_each_caller_sleeps_until_its_slot(database, waits):
    paced = KagglePaceResource(database=database, requests_per_minute=60)

    for _ in range(3):
        paced.wait_for_slot()

    # The first goes at once; the next ones wait one more second each (no time passes meanwhile).
    assert len(waits) == 2
    assert 0 < waits[0] <= 1.0 < waits[1] <= 2.0


def test_a_pause_that_begins_while_a_caller_sleeps_holds_it_too(database, process, monkeypatch):
    paced = KagglePaceResource(database=database, requests_per_minute=60)
    other = KagglePaceResource(database=process(), requests_per_minute=60)
    waits: list[float] = []

    def sleep(seconds: float) -> None:
        if not waits:
            other.slow_down(5.0)  # another process gets a 429 while this one waits for its slot
        waits.append(seconds)

    monkeypatch.setattr(paced_module, "_sleep", sleep)
    paced.wait_for_slot()
    paced.wait_for_slot()

    assert len(waits) == 2
    assert 0 < waits[0] <= 1.0
    assert 4.0 < waits[1] <= 5.0  # it woke at its slot, found the pause and waited it out


def test_a_bad_setting_of_the_resource_is_refused():
    for rate in (0, -1):
        with pytest.raises(ValueError, match="requests_per_minute"):
            KagglePaceResource(database=DatabaseResource(), requests_per_minute=rate)


# --- KaggleApiResource, paced, against the fake Kaggle server ---------------------------------------


def kaggle(database: DatabaseResource, requests_per_minute: float = 600, **fields) -> KaggleApiResource:
    pace_resource = KagglePaceResource(database=database, requests_per_minute=requests_per_minute)
    defaults = {"username": "lb-bot", "key": KEY, "max_attempts": 3, "backoff_seconds": 0.01}
    return KaggleApiResource(**{**defaults, **fields}, pace=pace_resource)


def test_requests_per_minute_spaces_the_requests_of_every_process(database, process, fake_kaggle):
    fake_kaggle.set_board("comp-a", BOARD)
    fake_kaggle.set_board("comp-b", BOARD)
    first, second = kaggle(process()), kaggle(process())

    def download_four(api_and_slug: tuple[KaggleApiResource, str]) -> list[bytes]:
        api, slug = api_and_slug
        return [api.download_leaderboard(slug).content for _ in range(4)]

    started = time.monotonic()
    with ThreadPoolExecutor(2) as pool:
        contents = list(pool.map(download_four, [(first, "comp-a"), (second, "comp-b")]))
    elapsed = time.monotonic() - started

    assert contents == [[BOARD] * 4] * 2
    assert len(fake_kaggle.requests) == 8
    # At 600 a minute, 8 requests of the two processes together: the last 7 × 0.1 s after the first
    # (each process paced alone would have taken 0.3 s).
    assert elapsed >= 0.7 - 0.02


@pytest.fixture
def slots(monkeypatch) -> list[float]:
    """The times the pace's callers were given to wait for (now + the wait), recorded instead of
    slept: whatever the requests themselves take, the slots stand one interval apart."""
    recorded: list[float] = []
    monkeypatch.setattr(paced_module, "_sleep", lambda seconds: recorded.append(time.time() + seconds))
    return recorded


def test_every_attempt_waits_for_its_slot_download_view_pages_and_retries(database, fake_kaggle, slots):
    public = [{"teamId": n, "teamName": f"t{n}", "submissionDate": None, "score": "0.5"} for n in (1, 2, 3)]
    private = [{**row, "score": f"0.{row['teamId']}"} for row in public]
    fake_kaggle.set_board("comp-a", BOARD)
    fake_kaggle.set_view("comp-a", public, private=private)
    fake_kaggle.queue_response("comp-a", 503, path=GET_LEADERBOARD_PATH)
    api = kaggle(database, requests_per_minute=60, view_page_size=1)

    api.download_leaderboard("comp-a")
    first_page = api.view_first_page("comp-a")
    rows = api.private_view("comp-a", pd.DataFrame({"team_id": [1, 2, 3], "score": [0.5] * 3}), first_page)

    assert rows is not None and [row.score for row in rows] == ["0.1", "0.2", "0.3"]
    # The download, the view's first page (a 503, then its retry) and its two other pages: five
    # requests, each in a slot of its own, one second after the one before (the first at once).
    assert len(fake_kaggle.requests) == 5
    assert len(slots) == 4
    assert all(later - earlier >= 1.0 - 1e-3 for earlier, later in zip(slots, slots[1:]))


def test_a_429_pauses_every_process_instead_of_the_retry_sleeping_alone(database, fake_kaggle, sleeps, waits, caplog):
    fake_kaggle.set_board("comp-a", BOARD)
    # Kaggle's JSON error, quoting the credentials: the warning must not.
    echo = {"code": 429, "message": "Too many requests for ECHO"}
    fake_kaggle.queue_response(
        "comp-a",
        429,
        lambda authorization: json.dumps(echo).replace("ECHO", credential_echo(authorization)).encode(),
        {"Content-Type": "application/json", "Retry-After": "7"},
    )

    with caplog.at_level(logging.WARNING):
        download = kaggle(database, backoff_seconds=60).download_leaderboard("comp-a")

    assert download.content == BOARD
    assert len(fake_kaggle.requests) == 2
    assert sleeps == []  # no backoff of its own: the retry waits for its slot, after the pause
    assert len(waits) == 1 and 6.5 < waits[0] <= 7.0
    assert "HTTP 429" in caplog.text
    assert "every request to Kaggle paused for 7.0 s, then slowed down; retrying (attempt 2/3)" in caplog.text
    assert KEY not in caplog.text and "***" in caplog.text


def test_a_429_on_the_last_attempt_still_pauses_every_process(database, fake_kaggle):
    fake_kaggle.queue_response("comp-a", 429, headers={"Retry-After": "30"})
    asked_at = time.time()

    with pytest.raises(LeaderboardDownloadError, match="gave up after 1 attempt; last error: HTTP 429"):
        kaggle(database, max_attempts=1).download_leaderboard("comp-a")

    with database.begin() as conn:
        assert pace.paused_until(conn, database.tables) >= asked_at + 30


def test_a_server_error_backs_off_alone(database, fake_kaggle, sleeps):
    fake_kaggle.set_board("comp-a", BOARD)
    fake_kaggle.queue_response("comp-a", 503, headers={"Retry-After": "30"})

    kaggle(database, max_backoff_seconds=60).download_leaderboard("comp-a")

    assert sleeps == [30.0]  # only 429 asks every process to slow down
    with database.begin() as conn:
        assert pace.paused_until(conn, database.tables) == 0.0


def test_a_database_error_while_pacing_fails_the_download_naming_the_database(database, fake_kaggle):
    fake_kaggle.set_board("comp-a", BOARD)
    api = kaggle(database)
    with database.begin() as conn:
        conn.execute(text("DROP TABLE kaggle_lb_kaggle_pace"))

    with pytest.raises(LeaderboardDownloadError) as raised:
        api.download_leaderboard("comp-a")

    message = str(raised.value)
    assert message.startswith(
        f"competition 'comp-a': pacing the requests to Kaggle failed: database {database.display_url}: "
    )
    assert "kaggle_lb_kaggle_pace" in message
    assert fake_kaggle.requests == []  # never sent unpaced


_PROCESS_A = textwrap.dedent(
    """
    import sys, time
    from kaggle_lb.polling.pace import KagglePaceResource
    from kaggle_lb.resources.database import DatabaseResource
    from kaggle_lb.resources.kaggle_api import KaggleApiResource

    database = DatabaseResource(url=sys.argv[1], home=sys.argv[2])
    api = KaggleApiResource(username="lb-bot", key="a-key", pace=KagglePaceResource(database=database))
    download = api.download_leaderboard("comp-a")
    print(time.time(), len(download.content))
    """
)


def wait_for_a_pause(database: DatabaseResource, process_a: subprocess.Popen) -> float:
    """When the pause another process recorded ends, once there is one."""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        with database.begin() as conn:
            paused_until = pace.paused_until(conn, database.tables)
        if paused_until:
            return paused_until
        if process_a.poll() is not None:
            pytest.fail(f"process A ended before any pause: {process_a.communicate()}")
        time.sleep(0.02)
    pytest.fail("process A never recorded a pause")


def test_a_429_to_one_process_makes_another_process_wait_too(database, process, fake_kaggle):
    fake_kaggle.set_board("comp-a", BOARD)
    fake_kaggle.set_board("comp-b", BOARD)
    fake_kaggle.queue_response("comp-a", 429, headers={"Retry-After": "2"})
    process_a = subprocess.Popen(
        [sys.executable, "-c", _PROCESS_A, database.url, database.home],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        paused_until = wait_for_a_pause(database, process_a)
        b_asked_at = time.time()
        download_b = kaggle(process()).download_leaderboard("comp-b")
        b_done_at = time.time()
        out, err = process_a.communicate(timeout=120)
    finally:
        if process_a.poll() is None:
            process_a.kill()
            process_a.communicate()

    assert process_a.returncode == 0, err
    a_done_at, a_size = out.split()
    # B asked well before the pause A's 429 began was over, and its request waited for the end.
    assert paused_until - b_asked_at > 1.0
    assert b_done_at >= paused_until
    assert download_b.content == BOARD
    # A's retry came after the pause, and succeeded.
    assert int(a_size) == len(BOARD)
    assert float(a_done_at) >= paused_until
    asked = [request.body["competitionName"] for request in fake_kaggle.requests]
    assert sorted(asked) == ["comp-a", "comp-a", "comp-b"]


# --- configured from the environment ----------------------------------------------------------------


def test_the_kaggle_source_from_the_environment_is_paced_through_the_sites_database(monkeypatch):
    monkeypatch.setenv("KAGGLE_LB_HOME", "/srv/kaggle-lb")
    monkeypatch.delenv(RATE_VARIABLE, raising=False)
    source = leaderboard_source_from_env("kaggle", database_url="sqlite:////srv/site.sqlite3")

    assert isinstance(source, KaggleApiResource) and source.pace is not None
    assert (source.pace.database.url, source.pace.database.home) == ("sqlite:////srv/site.sqlite3", "/srv/kaggle-lb")
    assert source.pace.requests_per_minute == 600

    monkeypatch.setenv(RATE_VARIABLE, "120.5")
    paced = leaderboard_source_from_env("kaggle")
    assert isinstance(paced, KaggleApiResource) and paced.pace is not None
    assert paced.pace.requests_per_minute == 120.5


def test_local_exports_are_not_paced(monkeypatch, tmp_path):
    monkeypatch.setenv(RATE_VARIABLE, "not read for local exports")
    assert isinstance(leaderboard_source_from_env(str(tmp_path)), LocalExportsResource)


@pytest.mark.parametrize("value", ["0", "-5", "six hundred", "nan", "inf"])
def test_a_bad_rate_is_a_configuration_error_naming_the_variable(monkeypatch, value):
    monkeypatch.setenv(RATE_VARIABLE, value)

    with pytest.raises(ConfigurationError) as raised:
        leaderboard_source_from_env("kaggle")

    assert str(raised.value) == f"{RATE_VARIABLE}={value}: not a number of requests per minute above 0 (e.g. 600)"


def test_a_bad_rate_stops_a_sync_with_one_line_and_no_traceback(database, fake_kaggle, monkeypatch):
    monkeypatch.setenv(RATE_VARIABLE, "0")
    monkeypatch.setenv("KAGGLE_LB_HOME", database.home)

    result = CliRunner().invoke(main, ["sync", "--source", "kaggle", "--database-url", database.url])

    assert result.exit_code == 1
    assert result.stderr.splitlines() == [
        f"error: {RATE_VARIABLE}=0: not a number of requests per minute above 0 (e.g. 600)"
    ]
    assert "Traceback" not in result.output
    assert fake_kaggle.requests == []


def test_a_dagster_run_paces_through_the_database_from_the_environment(database, fake_kaggle, monkeypatch):
    # The database URL as a deployment gives it: an EnvVar, resolved inside the run.
    monkeypatch.setenv("KAGGLE_LB_DATABASE_URL", database.url)
    monkeypatch.setenv("KAGGLE_LB_HOME", database.home)
    monkeypatch.setenv("KAGGLE_USERNAME", "lb-bot")
    monkeypatch.setenv("KAGGLE_KEY", KEY)
    monkeypatch.setenv(RATE_VARIABLE, "6")
    fake_kaggle.set_board("comp-a", BOARD)

    @dg.asset
    def board(leaderboard_source: KaggleApiResource) -> bytes:
        return leaderboard_source.download_leaderboard("comp-a").content

    asked_at = time.time()
    result = dg.materialize([board], resources={"leaderboard_source": leaderboard_source_from_env("kaggle")})

    assert result.output_for_node("board") == BOARD
    # The run took a slot in the shared pace: the next request, whoever sends it, is 10 s later.
    assert claim(database, now=0.0, interval=10.0) >= asked_at + 10.0 - 0.01
