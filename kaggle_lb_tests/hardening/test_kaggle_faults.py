"""Faults from Kaggle, through the real kaggle client against the fake server: each ends in one
clear error naming the competition and the cause, is retried only when another attempt can help,
leaves no temporary files and, through the assets, leaves the standings exactly as they were.

The 401/403/404/400 answers, a top-level JSON error in a 200, 429 with Retry-After, 5xx, a
refused connection and missing credentials are covered in resources/test_kaggle_api.py.
"""

import io
import json
import os
import socket
import time
import zipfile

import pytest

from kaggle_lb.errors import LeaderboardDownloadError
from kaggle_lb.resources import kaggle_api
from kaggle_lb.resources.kaggle_api import KaggleApiResource
from kaggle_lb_tests.databases import dump_entries
from kaggle_lb_tests.fake_kaggle import DROP_MID_BODY, STALL_BEFORE_HEADERS, STALL_MID_BODY, leaderboard_zip
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

    assert "gave up after 3 attempts; last error: ChunkedEncodingError" in message
    assert len(fake_kaggle.requests) == 3
    assert list(download_tmp.iterdir()) == []


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
        ({"error": {"code": 200}}, "Kaggle sent JSON instead of the leaderboard ZIP: '{\"error\": {\"code\": 200}}'"),
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
