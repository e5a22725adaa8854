"""KaggleApiResource driving the real kaggle client against the fake Kaggle server (no mocks of kaggle)."""

import json
import logging
import socket
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import dagster as dg
import pytest

from kaggle_lb.errors import LeaderboardDownloadError
from kaggle_lb.resources.kaggle_api import KaggleApiResource
from kaggle_lb_tests.fake_kaggle import DOWNLOAD_LEADERBOARD_PATH, leaderboard_zip
from kaggle_lb_tests.fixtures import FIXTURES_DIR

SLUG = "titanic"
USERNAME = "lb-sync-bot"
KEY = "SECRET-KEY-MARKER-5f3a"
TOKEN = "SECRET-TOKEN-MARKER-9c1e"
SMALL_CSV = (
    b"Rank,TeamId,TeamName,LastSubmissionDate,Score,SubmissionCount,TeamMemberUserNames\n"
    b"1,1,a,2026-01-01 00:00:00,0.9,1,a\n"
)


def resource(**overrides) -> KaggleApiResource:
    fields = {"username": USERNAME, "key": KEY, "max_attempts": 3, "backoff_seconds": 0.01, **overrides}
    return KaggleApiResource(**fields)


def test_returns_the_csv_bytes_exactly_as_sent(fake_kaggle, download_tmp):
    csv_bytes = (FIXTURES_DIR / "titanic-publicleaderboard-2025-06.csv").read_bytes()
    fake_kaggle.set_board(SLUG, csv_bytes)

    download = resource().download_leaderboard(SLUG)

    assert download.content == csv_bytes  # BOM and line endings untouched
    assert download.competition == SLUG
    assert download.file_name == "titanic-publicleaderboard-2026-11-28T10:00:00.csv"
    assert download.downloaded_at.tzinfo == UTC
    [request] = fake_kaggle.requests
    assert request.method == "POST"
    assert request.path == DOWNLOAD_LEADERBOARD_PATH
    assert request.body == {"competitionName": SLUG}
    assert request.authorized
    assert list(download_tmp.iterdir()) == []


def test_username_and_key_are_sent_as_basic_auth(fake_kaggle):
    fake_kaggle.accept_credentials(username=USERNAME, key=KEY)
    fake_kaggle.set_board(SLUG, SMALL_CSV)

    assert resource().download_leaderboard(SLUG).content == SMALL_CSV
    assert [r.auth for r in fake_kaggle.requests] == ["basic"]


def test_api_token_is_sent_as_bearer_and_wins_over_username_and_key(fake_kaggle):
    fake_kaggle.accept_credentials(token=TOKEN)
    fake_kaggle.set_board(SLUG, SMALL_CSV)

    assert resource(api_token=TOKEN).download_leaderboard(SLUG).content == SMALL_CSV
    assert [r.auth for r in fake_kaggle.requests] == ["bearer"]


@pytest.mark.parametrize(
    "status, expected",
    [
        (401, "Kaggle rejected the credentials; check KAGGLE_API_TOKEN"),
        (403, "accept them at https://www.kaggle.com/competitions/titanic/rules"),
        (404, "no such competition on Kaggle"),
        (400, "HTTP 400"),
    ],
)
def test_client_errors_are_not_retried(fake_kaggle, download_tmp, sleeps, status, expected):
    fake_kaggle.set_board(SLUG, SMALL_CSV)
    fake_kaggle.queue_response(SLUG, status)

    with pytest.raises(LeaderboardDownloadError) as raised:
        resource().download_leaderboard(SLUG)

    assert raised.value.competition == SLUG
    assert str(raised.value).startswith(f"competition '{SLUG}': HTTP {status}")
    assert expected in str(raised.value)
    assert len(fake_kaggle.requests) == 1
    assert sleeps == []
    assert list(download_tmp.iterdir()) == []


def test_wrong_credentials_are_reported_as_rejected(fake_kaggle):
    fake_kaggle.accept_credentials(username=USERNAME, key="the-right-key")
    fake_kaggle.set_board(SLUG, SMALL_CSV)

    with pytest.raises(LeaderboardDownloadError, match="HTTP 401: Kaggle rejected the credentials"):
        resource().download_leaderboard(SLUG)
    assert len(fake_kaggle.requests) == 1


def test_unknown_competition_is_a_404_with_kaggles_message(fake_kaggle):
    with pytest.raises(LeaderboardDownloadError) as raised:
        resource().download_leaderboard("no-such-competition")

    assert str(raised.value) == (
        "competition 'no-such-competition': HTTP 404: no such competition on Kaggle; check the slug "
        "(Kaggle said: Competition not found)"
    )
    assert len(fake_kaggle.requests) == 1


def test_json_error_code_in_a_200_response_counts_as_that_status(fake_kaggle):
    body = json.dumps({"code": 404, "message": "Competition not found"}).encode()
    fake_kaggle.queue_response(SLUG, 200, body, {"Content-Type": "application/json"})

    with pytest.raises(LeaderboardDownloadError, match="HTTP 404: no such competition"):
        resource().download_leaderboard(SLUG)


def test_rate_limit_honours_retry_after_then_succeeds(fake_kaggle, sleeps, caplog):
    fake_kaggle.set_board(SLUG, SMALL_CSV)
    fake_kaggle.queue_response(SLUG, 429, headers={"Retry-After": "7"})

    with caplog.at_level(logging.WARNING):
        download = resource(backoff_seconds=60).download_leaderboard(SLUG)

    assert download.content == SMALL_CSV
    assert len(fake_kaggle.requests) == 2
    assert sleeps == [7.0]
    assert f"competition '{SLUG}': HTTP 429" in caplog.text
    assert "retrying in 7.0 s (attempt 2/3)" in caplog.text


def test_retry_after_as_http_date_is_capped_by_max_backoff(fake_kaggle, sleeps):
    fake_kaggle.set_board(SLUG, SMALL_CSV)
    later = format_datetime(datetime.now(UTC) + timedelta(hours=1), usegmt=True)
    fake_kaggle.queue_response(SLUG, 429, headers={"Retry-After": later})

    resource(max_backoff_seconds=5).download_leaderboard(SLUG)

    assert sleeps == [5.0]


def test_real_sleep_with_retry_after_zero(fake_kaggle):
    fake_kaggle.set_board(SLUG, SMALL_CSV)
    fake_kaggle.queue_response(SLUG, 429, headers={"Retry-After": "0"})

    assert resource().download_leaderboard(SLUG).content == SMALL_CSV
    assert len(fake_kaggle.requests) == 2


def test_service_unavailable_then_success(fake_kaggle, sleeps):
    fake_kaggle.set_board(SLUG, SMALL_CSV)
    fake_kaggle.queue_response(SLUG, 503)

    assert resource().download_leaderboard(SLUG).content == SMALL_CSV
    assert len(fake_kaggle.requests) == 2
    assert len(sleeps) == 1


def test_server_errors_give_up_after_max_attempts(fake_kaggle, download_tmp, sleeps):
    fake_kaggle.set_board(SLUG, SMALL_CSV)
    for _ in range(4):
        fake_kaggle.queue_response(SLUG, 500)

    with pytest.raises(LeaderboardDownloadError) as raised:
        resource(max_attempts=4, backoff_seconds=1, max_backoff_seconds=1.5).download_leaderboard(SLUG)

    assert str(raised.value) == (
        f"competition '{SLUG}': gave up after 4 attempts; last error: HTTP 500 (Kaggle said: Internal Server Error)"
    )
    assert len(fake_kaggle.requests) == 4
    # Full jitter: each wait is drawn from [0, min(cap, base * 2**n)].
    assert len(sleeps) == 3
    assert all(0 <= wait <= bound for wait, bound in zip(sleeps, [1, 1.5, 1.5]))
    assert list(download_tmp.iterdir()) == []


def test_connection_refused_is_retried_then_reported(fake_kaggle, monkeypatch, download_tmp):
    with socket.socket() as probe:  # a port nothing listens on once the probe is closed
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{closed_port}")
    monkeypatch.setenv("http_proxy", f"http://127.0.0.1:{closed_port}")

    with pytest.raises(LeaderboardDownloadError) as raised:
        resource().download_leaderboard(SLUG)

    message = str(raised.value)
    assert message.startswith(f"competition '{SLUG}': gave up after 3 attempts; last error: ProxyError")
    assert "Connection refused" in message
    assert list(download_tmp.iterdir()) == []


@pytest.mark.parametrize(
    "fields, expected",
    [
        ({}, "Kaggle credentials are missing; set KAGGLE_API_TOKEN, or both KAGGLE_USERNAME and KAGGLE_KEY"),
        ({"username": USERNAME}, "KAGGLE_USERNAME is set but KAGGLE_KEY is not"),
        ({"key": KEY}, "KAGGLE_KEY is set but KAGGLE_USERNAME is not"),
    ],
)
def test_missing_credentials_fail_before_any_request(fake_kaggle, fields, expected):
    fake_kaggle.set_board(SLUG, SMALL_CSV)

    with pytest.raises(LeaderboardDownloadError, match=expected) as raised:
        KaggleApiResource(**fields).download_leaderboard(SLUG)

    assert KEY not in str(raised.value)
    assert fake_kaggle.requests == []


@pytest.mark.parametrize("slug", ["../etc", "a/b", "Titanic", "titanic.zip", "", "-x"])
def test_invalid_slug_is_rejected_before_any_request(fake_kaggle, slug):
    with pytest.raises(LeaderboardDownloadError, match="not a valid Kaggle competition slug"):
        resource().download_leaderboard(slug)
    assert fake_kaggle.requests == []


def test_a_body_that_is_not_a_zip_is_an_error(fake_kaggle, download_tmp):
    fake_kaggle.set_board_zip(SLUG, SMALL_CSV)

    with pytest.raises(LeaderboardDownloadError, match="not a readable ZIP"):
        resource().download_leaderboard(SLUG)
    assert list(download_tmp.iterdir()) == []


def test_oversized_csv_is_rejected(fake_kaggle):
    fake_kaggle.set_board(SLUG, SMALL_CSV)

    with pytest.raises(LeaderboardDownloadError, match="over the limit of 10 bytes"):
        resource(max_csv_bytes=10).download_leaderboard(SLUG)


@pytest.mark.parametrize("credentials", [{"key": KEY}, {"api_token": TOKEN}])
def test_secrets_never_reach_errors_logs_or_output(fake_kaggle, caplog, capsys, sleeps, credentials):
    fake_kaggle.set_board(SLUG, SMALL_CSV)
    fake_kaggle.queue_response(SLUG, 429, headers={"Retry-After": "0"})
    for _ in range(3):
        fake_kaggle.queue_response("orbit-wars", 503)
    source = resource(**{"key": None, **credentials})

    with caplog.at_level(logging.DEBUG):
        source.download_leaderboard(SLUG)
        with pytest.raises(LeaderboardDownloadError) as failed:
            source.download_leaderboard("orbit-wars")
        with pytest.raises(LeaderboardDownloadError) as rejected:
            source.download_leaderboard("no-such-competition")

    output = capsys.readouterr()
    seen = [str(failed.value), str(rejected.value), caplog.text, output.out, output.err]
    assert "retrying" in caplog.text
    for secret in (KEY, TOKEN):
        assert not any(secret in text for text in seen)


def test_works_as_a_dagster_resource(fake_kaggle):
    fake_kaggle.set_board(SLUG, SMALL_CSV)

    @dg.asset
    def leaderboard_csv(kaggle: KaggleApiResource) -> bytes:
        return kaggle.download_leaderboard(SLUG).content

    result = dg.materialize([leaderboard_csv], resources={"kaggle": resource()})

    assert result.output_for_node("leaderboard_csv") == SMALL_CSV


def test_fixture_zip_round_trips_through_the_client(fake_kaggle):
    # A realistic ZIP (all real fixture boards) must come back byte for byte, whichever is served.
    for path in sorted(FIXTURES_DIR.glob("*.csv")):
        fake_kaggle.set_board_zip(SLUG, leaderboard_zip(path.read_bytes(), path.name))
        download = resource().download_leaderboard(SLUG)
        assert (download.file_name, download.content) == (path.name, path.read_bytes())
