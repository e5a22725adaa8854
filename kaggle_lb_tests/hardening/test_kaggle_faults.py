"""Faults from Kaggle, through the real kaggle client against the fake server: each ends in one
clear error naming the competition and the cause, is retried only when another attempt can help,
leaves no temporary files and, through the assets, leaves the standings exactly as they were.

The 401/403/404/400 answers, a top-level JSON error in a 200, 429 with Retry-After, 5xx, a
refused connection and missing credentials are covered in resources/test_kaggle_api.py.
"""

import functools
import io
import json
import os
import socket
import subprocess
import sys
import textwrap
import time
import tracemalloc
import zipfile
import zlib

import pytest
from dagster import DagsterEventType
from kagglesdk import get_access_token_from_env

from kaggle_lb.errors import MAX_CAUSE_CHARS, LeaderboardDownloadError
from kaggle_lb.resources.kaggle_api import KaggleApiResource
from kaggle_lb_tests.databases import dump_entries
from kaggle_lb_tests.fake_kaggle import (
    DOWNLOAD_LEADERBOARD_PATH,
    DRIP_INTERVAL,
    DROP_MID_BODY,
    SLOW_DRIP,
    STALL_BEFORE_HEADERS,
    STALL_MID_BODY,
    leaderboard_zip,
)
from kaggle_lb_tests.hardening.conftest import GOOD_BOARD, SLUG, AssetSync, assert_clear_failure

MEMBER = f"{SLUG}-publicleaderboard-2026-11-28T10:00:00.csv"
TIMEOUT = 0.5


def resource(**overrides) -> KaggleApiResource:
    fields = {
        "username": "lb-bot",
        "key": "not-a-real-key",
        "max_attempts": 2,
        "backoff_seconds": 0.01,
        "timeout_seconds": TIMEOUT,
        **overrides,
    }
    return KaggleApiResource(**fields)


def zip_of(members: dict[str, bytes], compression=zipfile.ZIP_DEFLATED) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=compression) as archive:
        for name, content in members.items():
            archive.writestr(name, content)
    return buffer.getvalue()


def zeros_zip(size: int) -> bytes:
    """A ZIP bomb: `size` zero bytes deflate to about a thousandth of that."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        with archive.open(MEMBER, "w") as member:
            for _ in range(size // 2**20):
                member.write(bytes(2**20))
    return buffer.getvalue()


def failure(fake_kaggle, **overrides) -> str:
    with pytest.raises(LeaderboardDownloadError) as raised:
        resource(**overrides).download_leaderboard(SLUG)
    assert raised.value.competition == SLUG
    message = str(raised.value)
    assert message.startswith(f"competition '{SLUG}': ")
    return message


# --- stalls, drops and the client's hidden retry loop ---------------------------------------------


@pytest.mark.parametrize("fault", [STALL_BEFORE_HEADERS, STALL_MID_BODY])
def test_a_stalled_answer_is_bounded_by_the_timeout(fake_kaggle, download_tmp, sleeps, fault):
    fake_kaggle.set_board(SLUG, GOOD_BOARD)
    fake_kaggle.queue_fault(SLUG, fault)
    fake_kaggle.queue_fault(SLUG, fault)

    started = time.monotonic()
    message = failure(fake_kaggle)
    elapsed = time.monotonic() - started

    assert "gave up after 2 attempts" in message
    assert f"Kaggle did not answer within {TIMEOUT:g} s (timeout_seconds)" in message
    # Two attempts of one timeout each: neither the client's own retries nor a resume ran.
    assert elapsed < 2 * TIMEOUT + 3
    assert len(fake_kaggle.requests) == 2
    assert len(sleeps) == 1
    assert list(download_tmp.iterdir()) == []


def test_a_stall_then_a_good_answer_succeeds(fake_kaggle, download_tmp, sleeps):
    fake_kaggle.set_board(SLUG, GOOD_BOARD)
    fake_kaggle.queue_fault(SLUG, STALL_MID_BODY)

    assert resource().download_leaderboard(SLUG).content == GOOD_BOARD
    assert len(fake_kaggle.requests) == 2
    assert list(download_tmp.iterdir()) == []


def test_a_connection_dropped_mid_body_is_retried_afresh_not_resumed(fake_kaggle, download_tmp, sleeps):
    fake_kaggle.set_board(SLUG, GOOD_BOARD)
    fake_kaggle.queue_fault(SLUG, DROP_MID_BODY)

    assert resource().download_leaderboard(SLUG).content == GOOD_BOARD
    # The second attempt is a whole new download request with its body, not a Range resume.
    assert [r.body for r in fake_kaggle.requests] == [{"competitionName": SLUG}] * 2
    assert len(sleeps) == 1
    assert list(download_tmp.iterdir()) == []


def test_a_connection_dropped_on_every_attempt_gives_up(fake_kaggle, download_tmp, sleeps):
    fake_kaggle.set_board(SLUG, GOOD_BOARD)
    for _ in range(3):
        fake_kaggle.queue_fault(SLUG, DROP_MID_BODY)

    message = failure(fake_kaggle, max_attempts=3)

    assert "gave up after 3 attempts; last error: ProtocolError: ('Connection broken: IncompleteRead" in message
    assert len(fake_kaggle.requests) == 3
    assert list(download_tmp.iterdir()) == []


@pytest.mark.parametrize("answer", ["zip", "json"])
def test_a_dripping_answer_ends_at_the_attempts_deadline(fake_kaggle, download_tmp, sleeps, answer):
    # One byte every DRIP_INTERVAL never trips the read timeout; only the attempt's deadline ends it.
    fake_kaggle.set_board(SLUG, GOOD_BOARD)
    for _ in range(2):
        if answer == "zip":
            fake_kaggle.queue_fault(SLUG, SLOW_DRIP)
        else:
            body, headers = json_answer({"code": 404, "message": "Competition not found. " * 20})
            fake_kaggle.queue_response(SLUG, 404, body, headers, fault=SLOW_DRIP)
    drip_seconds = len(fake_kaggle._boards[SLUG]) * DRIP_INTERVAL
    assert drip_seconds > 4 * TIMEOUT  # the whole answer would take longer than two deadlines

    started = time.monotonic()
    message = failure(fake_kaggle)
    elapsed = time.monotonic() - started

    assert message == (
        f"competition '{SLUG}': gave up after 2 attempts; last error: "
        f"Kaggle did not send the whole answer within {TIMEOUT:g} s (timeout_seconds)"
    )
    assert elapsed < 2 * (2 * TIMEOUT)  # each attempt ended within twice its deadline
    assert len(fake_kaggle.requests) == 2
    assert list(download_tmp.iterdir()) == []


_STALLED_TOKEN_CHECK_SCRIPT = textwrap.dedent(
    """
    import sys, time
    from kaggle_lb.resources.kaggle_api import KaggleApiResource

    resource = KaggleApiResource(api_token="a-token", timeout_seconds=float(sys.argv[1]), max_attempts=1)
    started = time.monotonic()
    download = resource.download_leaderboard("demo-comp")
    print(time.monotonic() - started, len(download.content))
    """
)


def test_a_stalled_token_check_cannot_hang_the_download(fake_kaggle, monkeypatch):
    # With KAGGLE_API_TOKEN set, importing the kaggle package checks the token (IntrospectToken)
    # with no timeout. A fresh interpreter, so that no earlier import in this one hides it.
    fake_kaggle.set_board(SLUG, GOOD_BOARD)
    fake_kaggle.stall_token_checks()
    monkeypatch.setenv("KAGGLE_API_TOKEN", "a-token")
    timeout = 2.0

    done = subprocess.run(
        [sys.executable, "-c", _STALLED_TOKEN_CHECK_SCRIPT, str(timeout)], capture_output=True, text=True, timeout=120
    )

    assert done.returncode == 0, done.stderr
    elapsed, size = done.stdout.split()
    assert int(size) == len(GOOD_BOARD)
    assert float(elapsed) < 2 * timeout
    assert [r.path for r in fake_kaggle.requests if r.path == DOWNLOAD_LEADERBOARD_PATH] == [DOWNLOAD_LEADERBOARD_PATH]


# --- credentials -----------------------------------------------------------------------------------


def test_a_token_file_is_read_as_the_kaggle_client_reads_it(fake_kaggle, tmp_path, monkeypatch):
    token_file = tmp_path / "access_token"
    token_file.write_text("  the-token-in-the-file\n")
    fake_kaggle.accept_credentials(token="the-token-in-the-file")
    fake_kaggle.set_board(SLUG, GOOD_BOARD)
    # The client's own reading of KAGGLE_API_TOKEN naming a file, for comparison.
    monkeypatch.setenv("KAGGLE_API_TOKEN", str(token_file))
    assert get_access_token_from_env() == ("the-token-in-the-file", "KAGGLE_API_TOKEN")

    download = resource(api_token=str(token_file)).download_leaderboard(SLUG)

    assert download.content == GOOD_BOARD
    assert [r.auth for r in fake_kaggle.requests] == ["bearer"]  # the file's token, not its path


@pytest.mark.parametrize(
    "make, expected",
    [
        (lambda path: path.write_text(" \n"), "which is empty"),
        (lambda path: path.mkdir(), "which cannot be read: Is a directory"),
    ],
    ids=["empty", "directory"],
)
def test_a_token_file_that_holds_no_token_is_a_clear_error(fake_kaggle, tmp_path, make, expected):
    token_file = tmp_path / "access_token"
    make(token_file)

    message = failure(fake_kaggle, api_token=str(token_file))

    assert message == f"competition '{SLUG}': KAGGLE_API_TOKEN names the file {token_file}, {expected}"
    assert fake_kaggle.requests == []


# --- sizes: Kaggle's answers are read and quoted capped -------------------------------------------


@functools.cache
def gzip_json_bomb(inflated_size: int) -> bytes:
    """A gzip-encoded JSON error of `inflated_size` bytes, about a thousandth of that compressed."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, 31)  # wbits 31: the gzip format
    parts = [compressor.compress(b'{"code": 404, "message": "')]
    parts += [compressor.compress(b"a" * 2**20) for _ in range(inflated_size // 2**20)]
    parts += [compressor.compress(b'"}'), compressor.flush()]
    return b"".join(parts)


@pytest.mark.parametrize("status", [200, 404])
def test_a_gzip_bomb_json_answer_is_refused_in_bounded_memory(fake_kaggle, download_tmp, sleeps, status):
    bomb = gzip_json_bomb(2**30)
    assert len(bomb) < 2 * 2**20  # 1 GiB of JSON in about 1 MB on the wire
    headers = {"Content-Type": "application/json", "Content-Encoding": "gzip"}
    fake_kaggle.queue_response(SLUG, status, bomb, headers)

    tracemalloc.start()
    try:
        message = failure(fake_kaggle)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()

    assert message == (
        f"competition '{SLUG}': Kaggle's JSON answer (HTTP {status}) is larger than the limit of 65536 bytes"
    )
    # The client parses JSON whole; inflated, this one would take over a gigabyte.
    assert peak < 32 * 2**20
    assert len(fake_kaggle.requests) == 1
    assert list(download_tmp.iterdir()) == []


def _many_members():
    return zip_of({f"readme-{i:05}.txt": b"" for i in range(20_000)})


@pytest.mark.parametrize(
    "status, make_body, headers, expected, longest",
    [
        (
            404,
            lambda: json.dumps({"code": 404, "message": "x" * 60_000}).encode(),
            {"Content-Type": "application/json"},
            "(Kaggle said: xxxx",
            300,
        ),
        (
            200,
            lambda: json.dumps({"error": {"code": 403, "message": "x" * 60_000}}).encode(),
            {"Content-Type": "application/json"},
            "(Kaggle said: xxxx",
            400,
        ),
        (
            200,
            lambda: json.dumps({"data": "x" * 60_000}).encode(),
            {"Content-Type": "application/json"},
            "Kaggle sent JSON instead of the leaderboard ZIP",
            300,
        ),
        (200, lambda: b"<html>" + b"x" * 2**20, {"Content-Type": "text/html"}, "bytes of text/html starting", 400),
        (200, lambda: b"<html>", {"Content-Type": "text/html; " + "x" * 60_000}, "bytes of text/html", 400),
        (
            200,
            _many_members,
            {},
            "the leaderboard ZIP holds no CSV file (members: ['readme-00000.txt'",
            MAX_CAUSE_CHARS,
        ),
        (
            200,
            lambda: zip_of({"x" * 300 + ".csv": GOOD_BOARD}),
            {},
            "the leaderboard ZIP's CSV member has a name of 304 characters, over the limit of 255",
            300,
        ),
    ],
    ids=["json-404", "nested-json-403", "json-without-error", "html", "content-type", "20000-members", "member-name"],
)
def test_messages_stay_short_whatever_kaggle_sends(
    fake_kaggle, download_tmp, sleeps, status, make_body, headers, expected, longest
):
    fake_kaggle.queue_response(SLUG, status, make_body(), headers)

    message = failure(fake_kaggle)

    assert expected in message
    assert len(message) <= len(f"competition '{SLUG}': ") + longest


# --- bodies that are not one readable leaderboard ZIP: never retried ------------------------------


def _members(members: dict[str, bytes]):
    return lambda: zip_of(members)


def _truncated():
    whole = leaderboard_zip(GOOD_BOARD * 50, MEMBER)
    return whole[: len(whole) // 2]


@pytest.mark.parametrize(
    "make_body, expected",
    [
        (_truncated, "the leaderboard download is not a readable ZIP"),
        (lambda: b"", "the leaderboard download is empty (Kaggle sent no bytes)"),
        (_members({"readme.txt": b"no board today"}), "holds no CSV file (members: ['readme.txt'])"),
        (_members({"a.csv": GOOD_BOARD, "b.csv": GOOD_BOARD}), "holds 2 CSV files, expected one: ['a.csv', 'b.csv']"),
        (_members({"../x.csv": GOOD_BOARD}), "holds a member with an unsafe path: '../x.csv'"),
        (_members({"/etc/x.csv": GOOD_BOARD}), "holds a member with an unsafe path: '/etc/x.csv'"),
        (_members({"C:\\x.csv": GOOD_BOARD}), "holds a member with an unsafe path"),
    ],
    ids=["truncated", "empty", "no-csv", "two-csvs", "dot-dot", "absolute", "drive-letter"],
)
def test_a_broken_zip_is_one_clear_error_and_not_retried(fake_kaggle, download_tmp, sleeps, make_body, expected):
    fake_kaggle.set_board_zip(SLUG, make_body())

    assert expected in failure(fake_kaggle)
    assert len(fake_kaggle.requests) == 1
    assert sleeps == []
    assert list(download_tmp.iterdir()) == []


def test_an_html_page_with_status_200_says_what_came_instead(fake_kaggle, download_tmp, sleeps):
    page = b"<!DOCTYPE html><html><head><title>Kaggle: Maintenance</title></head></html>"
    fake_kaggle.queue_response(SLUG, 200, page, {"Content-Type": "text/html; charset=utf-8"})

    message = failure(fake_kaggle)

    assert message == (
        f"competition '{SLUG}': the leaderboard download is not a readable ZIP: Kaggle sent "
        f"{len(page)} bytes of text/html; charset=utf-8 starting '{page[:80].decode()}'"
    )
    assert len(fake_kaggle.requests) == 1
    assert list(download_tmp.iterdir()) == []


def test_a_zip_bomb_is_refused_without_inflating_it(fake_kaggle, download_tmp):
    bomb = zeros_zip(64 * 2**20)
    assert len(bomb) < 2**20  # 64 MiB of CSV in well under 1 MiB on the wire
    fake_kaggle.set_board_zip(SLUG, bomb)

    message = failure(fake_kaggle, max_csv_bytes=2**20)

    assert f"is {64 * 2**20} bytes uncompressed, over the limit of {2**20} bytes" in message
    assert list(download_tmp.iterdir()) == []


def test_an_oversized_download_is_cut_off_while_streaming(fake_kaggle, download_tmp):
    # Incompressible bytes stored as-is: the body itself is over the limit, whatever it declares.
    body = zip_of({MEMBER: os.urandom(3 * 2**20)}, compression=zipfile.ZIP_STORED)
    fake_kaggle.set_board_zip(SLUG, body)

    message = failure(fake_kaggle, max_csv_bytes=1000)

    assert f"the leaderboard download is larger than the limit of {1000 + 2**20} bytes" in message
    assert list(download_tmp.iterdir()) == []


# --- rate limits and JSON error bodies ------------------------------------------------------------


def test_429_without_retry_after_backs_off_with_jitter_then_succeeds(fake_kaggle, sleeps):
    fake_kaggle.set_board(SLUG, GOOD_BOARD)
    fake_kaggle.queue_response(SLUG, 429)

    assert resource(backoff_seconds=4, max_backoff_seconds=60).download_leaderboard(SLUG).content == GOOD_BOARD
    assert len(fake_kaggle.requests) == 2
    [wait] = sleeps
    assert 0 <= wait <= 4


@pytest.mark.parametrize("headers, waits", [({}, None), ({"Retry-After": "3"}, [3.0, 3.0])])
def test_429_on_every_attempt_gives_up_with_the_cause(fake_kaggle, download_tmp, sleeps, headers, waits):
    fake_kaggle.set_board(SLUG, GOOD_BOARD)
    for _ in range(3):
        fake_kaggle.queue_response(SLUG, 429, headers=headers)

    message = failure(fake_kaggle, max_attempts=3, backoff_seconds=1)

    assert message == (
        f"competition '{SLUG}': gave up after 3 attempts; last error: HTTP 429 (Kaggle said: Too Many Requests)"
    )
    assert len(fake_kaggle.requests) == 3
    if waits is None:
        assert len(sleeps) == 2 and all(0 <= wait <= 2 for wait in sleeps)
    else:
        assert sleeps == waits
    assert list(download_tmp.iterdir()) == []


def json_answer(payload) -> tuple[bytes, dict[str, str]]:
    return json.dumps(payload).encode(), {"Content-Type": "application/json"}


@pytest.mark.parametrize("status", [200, 404])
def test_nested_json_error_counts_as_its_code(fake_kaggle, download_tmp, sleeps, status):
    # {"error": {...}} gets past the kaggle client when the status is 200.
    body, headers = json_answer({"error": {"code": 404, "message": "Competition not found", "status": "NOT_FOUND"}})
    fake_kaggle.queue_response(SLUG, status, body, headers)

    message = failure(fake_kaggle)

    assert message == (
        f"competition '{SLUG}': HTTP 404: no such competition on Kaggle; check the slug "
        "(Kaggle said: Competition not found)"
    )
    assert len(fake_kaggle.requests) == 1
    assert list(download_tmp.iterdir()) == []


def test_nested_json_rate_limit_in_a_200_is_retried_honouring_retry_after(fake_kaggle, sleeps):
    fake_kaggle.set_board(SLUG, GOOD_BOARD)
    body, headers = json_answer({"error": {"code": 429, "message": "Slow down"}})
    fake_kaggle.queue_response(SLUG, 200, body, {**headers, "Retry-After": "2"})

    assert resource().download_leaderboard(SLUG).content == GOOD_BOARD
    assert sleeps == [2.0]
    assert len(fake_kaggle.requests) == 2


@pytest.mark.parametrize(
    "payload, expected",
    [
        ({"code": "NOT_FOUND", "message": "gone"}, "Kaggle sent an error body the kaggle client cannot read"),
        ({"error": {"code": 200}}, 'Kaggle sent JSON instead of the leaderboard ZIP: \'{"error": {"code": 200}}\''),
        ({"url": "https://example.com/board.zip"}, "Kaggle sent JSON instead of the leaderboard ZIP"),
    ],
    ids=["string-code", "code-below-400", "no-error"],
)
def test_other_json_in_a_200_is_a_clear_error(fake_kaggle, download_tmp, sleeps, payload, expected):
    fake_kaggle.queue_response(SLUG, 200, *json_answer(payload))

    assert expected in failure(fake_kaggle)
    assert len(fake_kaggle.requests) == 1
    assert list(download_tmp.iterdir()) == []


# --- through the assets: a failed download never touches the standings -------------------------


def _refused(fake_kaggle, monkeypatch):
    with socket.socket() as probe:  # a port nothing listens on once the probe is closed
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{port}")
    monkeypatch.setenv("http_proxy", f"http://127.0.0.1:{port}")


def _stalled(fake_kaggle, monkeypatch):
    for _ in range(2):
        fake_kaggle.queue_fault(SLUG, STALL_MID_BODY)


def _serves(body: bytes, headers=None, status=200):
    return lambda fake_kaggle, monkeypatch: fake_kaggle.queue_response(SLUG, status, body, headers)


def _rate_limited(fake_kaggle, monkeypatch):
    for _ in range(2):
        fake_kaggle.queue_response(SLUG, 429)


@pytest.mark.parametrize(
    "break_kaggle, expected",
    [
        (_refused, "Connection refused"),
        (_stalled, "Kaggle did not answer within 0.5 s"),
        (_serves(_truncated()), "not a readable ZIP"),
        (_serves(b"<html>Sorry</html>", {"Content-Type": "text/html"}), "Kaggle sent 18 bytes of text/html"),
        (_serves(zip_of({"a.csv": GOOD_BOARD, "b.csv": GOOD_BOARD})), "holds 2 CSV files"),
        (_serves(zip_of({"../x.csv": GOOD_BOARD})), "unsafe path: '../x.csv'"),
        (_serves(b""), "the leaderboard download is empty"),
        (_rate_limited, "gave up after 2 attempts; last error: HTTP 429"),
        (_serves(*json_answer({"error": {"code": 403, "message": "Rules not accepted"}})), "HTTP 403"),
    ],
    ids=["refused", "stalled", "truncated", "html", "two-csvs", "unsafe-member", "empty", "429", "nested-json-403"],
)
def test_a_kaggle_fault_fails_the_download_step_and_keeps_the_standings(
    site, fake_kaggle, download_tmp, monkeypatch, tmp_path, break_kaggle, expected
):
    fake_kaggle.set_board(SLUG, GOOD_BOARD)
    sync = AssetSync(site, resource(backoff_seconds=0), tmp_path / "raw")
    assert sync().success
    before = dump_entries(site)
    raw_file = tmp_path / "raw" / "raw_leaderboard_csv" / f"{SLUG}.csv"
    assert len(before) == 3 and raw_file.read_bytes() == GOOD_BOARD

    break_kaggle(fake_kaggle, monkeypatch)
    result = sync()

    assert_clear_failure(result, "raw_leaderboard_csv", expected)
    assert dump_entries(site) == before
    assert raw_file.read_bytes() == GOOD_BOARD
    assert list(download_tmp.iterdir()) == []


def test_a_long_cause_is_cut_in_the_runs_failure_and_its_metadata(site, fake_kaggle, download_tmp, tmp_path):
    fake_kaggle.set_board(SLUG, GOOD_BOARD)
    sync = AssetSync(site, resource(), tmp_path / "raw")
    assert sync().success
    before = dump_entries(site)
    fake_kaggle.queue_response(SLUG, 200, _many_members())

    result = sync()

    assert_clear_failure(result, "raw_leaderboard_csv", "the leaderboard ZIP holds no CSV file (members: [")
    [failed] = [e for e in result.all_events if e.event_type == DagsterEventType.STEP_FAILURE]
    data = failed.step_failure_data.user_failure_data
    assert len(data.description) <= len(f"competition '{SLUG}': ") + MAX_CAUSE_CHARS
    assert len(data.metadata["cause"].value) == MAX_CAUSE_CHARS
    assert dump_entries(site) == before
