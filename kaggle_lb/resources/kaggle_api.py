"""Leaderboards straight from the Kaggle API, in-process, through kagglesdk: the official client
the `kaggle` package is built on.

The `kaggle` package itself is not imported: importing it checks KAGGLE_API_TOKEN with Kaggle
(IntrospectToken) with no timeout, and with VERBOSE=1 it turns on debug logging for the whole
process and makes its clients print every request, Authorization header included.
"""

from __future__ import annotations

import base64
import json
import os
import random
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import TypeVar

import dagster as dg
import pandas as pd
import requests
from kagglesdk import KaggleClient
from kagglesdk.competitions.types.competition_api_service import (
    ApiDownloadLeaderboardRequest,
    ApiGetLeaderboardRequest,
)
from pydantic import Field
from requests.adapters import HTTPAdapter
from urllib3.exceptions import HTTPError as Urllib3Error
from urllib3.exceptions import ProtocolError, ReadTimeoutError

from kaggle_lb.errors import LeaderboardDownloadError
from kaggle_lb.leaderboard import private_board
from kaggle_lb.leaderboard.private_board import ViewPage, ViewRow
from kaggle_lb.polling.pace import KagglePaceResource, PaceUnavailableError
from kaggle_lb.resources.leaderboard_source import (
    LeaderboardDownload,
    LeaderboardSource,
    read_csv_from_zip,
    validate_slug,
)

# Looked up at call time so tests can swap in a recorder instead of patching time.sleep globally.
_sleep = time.sleep

# The body is read straight from urllib3 (see _body_chunks), so its errors come unwrapped.
_RETRYABLE_ERRORS = (requests.ConnectionError, requests.Timeout, ProtocolError, ReadTimeoutError)
# A leaderboard ZIP holds one CSV; the allowance over the CSV limit covers the archive's headers.
_ZIP_OVERHEAD_BYTES = 1024 * 1024
_DOWNLOAD_CHUNK = 1024 * 1024
# The start of a local file header, or of the end record of an empty archive.
_ZIP_SIGNATURES = (b"PK\x03\x04", b"PK\x05\x06")
# The most of a JSON answer that is read, inflated; Kaggle's JSON answers are tiny.
_MAX_JSON_BODY_BYTES = 64 * 1024
# The most of one page of the leaderboard view that is read, per row asked for: a row is about
# 150 bytes of JSON, a team name at most 1,024 characters (escaped, up to six bytes each).
_MAX_VIEW_ROW_BYTES = 8 * 1024
# Far above any real board (the largest have about 100,000 teams): bounds a view that never ends.
_MAX_VIEW_ROWS = 2_000_000
T = TypeVar("T")
# How much of a server's text a message quotes, and how much is redacted before it is cut (more
# than the quote plus any secret, so that a secret crossing the cut is still found whole).
_SHOWN_CHARS = 200
_REDACTED_WINDOW = 8 * 1024
_REDACTED = "***"


class _Retryable(Exception):
    """A failure worth another attempt; carries the wait the server asked for, if any, and whether
    it was Kaggle's 429 (too many requests)."""

    def __init__(self, cause: str, retry_after: float | None = None, rate_limited: bool = False):
        super().__init__(cause)
        self.cause = cause
        self.retry_after = retry_after
        self.rate_limited = rate_limited


class _TooLarge(Exception):
    """A body over its limit, refused before more of it is read."""

    def __init__(self, cause: str):
        super().__init__(cause)
        self.cause = cause


class _DeadlinePassed(Exception):
    """The attempt's time ran out while the body was still coming."""


class _AttemptAdapter(HTTPAdapter):
    """The transport of one download attempt. The kaggle client sends without a timeout, so every
    request gets one here; and it parses a JSON answer whole, so such an answer is read here first,
    capped in size and within the attempt's deadline, and the client parses that capped copy."""

    def __init__(self, timeout: float, deadline: float, max_json_bytes: int = _MAX_JSON_BODY_BYTES):
        super().__init__()
        self.timeout = timeout
        self.deadline = deadline
        self.max_json_bytes = max_json_bytes

    def send(self, request, timeout=None, **kwargs):  # type: ignore[override]  # the timeout, always set
        return super().send(request, timeout=self.timeout if timeout is None else timeout, **kwargs)

    def build_response(self, req, resp):
        response = super().build_response(req, resp)
        if _is_json(response):
            what = f"Kaggle's JSON answer (HTTP {response.status_code})"
            try:
                body = b"".join(_body_chunks(response, self.max_json_bytes, self.deadline, what))
            finally:
                response.close()
            # What requests' .content and .json() serve once the body has been read.
            response._content, response._content_consumed = body, True
        return response


class KaggleApiResource(LeaderboardSource):
    """Downloads a competition's public leaderboard from the Kaggle API (the same call as
    `kaggle competitions leaderboard <slug> --download`), and reads its leaderboard view (`kaggle
    competitions leaderboard <slug> --show`), which is the private board once Kaggle has one."""

    username: str | None = Field(
        default=None,
        description="Kaggle user name for the legacy API key (usually EnvVar('KAGGLE_USERNAME')). "
        "Used with `key` when no `api_token` is set.",
    )
    key: str | None = Field(
        default=None,
        description="Legacy Kaggle API key from kaggle.json (usually EnvVar('KAGGLE_KEY')).",
    )
    api_token: str | None = Field(
        default=None,
        description="Kaggle API token, or the path of a file holding it, as the kaggle client reads "
        "KAGGLE_API_TOKEN (usually EnvVar('KAGGLE_API_TOKEN')). Takes precedence over username/key.",
    )
    max_attempts: int = Field(
        default=5,
        ge=1,
        description="Attempts per download, counting the first, for HTTP 429, 5xx and network errors.",
    )
    backoff_seconds: float = Field(
        default=1.0,
        ge=0,
        description="Base of the exponential backoff between attempts (full jitter), in seconds.",
    )
    max_backoff_seconds: float = Field(
        default=60.0,
        ge=0,
        description="Longest wait between attempts, in seconds; also caps a server's Retry-After.",
    )
    view_page_size: int = Field(
        default=200,
        ge=1,
        le=1000,
        description="Rows per page of the leaderboard view (GetLeaderboard), which is read when Kaggle has a "
        "private board.",
    )
    pace: KagglePaceResource | None = Field(
        default=None,
        description="The pace shared by every process sending requests to Kaggle: each attempt waits "
        "for its slot, and a 429 pauses and slows down all of them. None sends at once (and a 429's "
        "retry waits for its own backoff).",
    )
    timeout_seconds: float = Field(
        default=60.0,
        gt=0,
        description="Longest wait for Kaggle to accept the connection, to answer, or to send the "
        "next bytes, and the time one attempt may take to receive the whole download, in seconds; "
        "an attempt that runs over fails (and is retried).",
    )

    def download_leaderboard(self, competition: str) -> LeaderboardDownload:
        validate_slug(competition)
        credentials = self._credentials(competition)
        secrets = _secret_forms(credentials)
        with _redacted_errors(competition, secrets):
            file_name, content = self._with_retries(
                competition, secrets, lambda: self._download_once(competition, credentials, secrets)
            )
        return LeaderboardDownload(
            competition=competition,
            file_name=file_name,
            content=content,
            downloaded_at=datetime.now(UTC),
        )

    def view_first_page(self, competition: str) -> ViewPage:
        validate_slug(competition)
        credentials = self._credentials(competition)
        secrets = _secret_forms(credentials)
        with _redacted_errors(competition, secrets):
            rows, token = self._view_page(competition, credentials, secrets, None)
        return ViewPage(rows, token)

    def private_view(self, competition: str, public: pd.DataFrame, first_page: ViewPage) -> list[ViewRow] | None:
        """The leaderboard view's rows, every page of it, when it is the private board; None while
        it is the public one. Kaggle's answer does not say which board it is (the view is the
        private board "if it's available, otherwise the public"), so its first page is compared
        with the download, which is always the public board (see private_board.is_private)."""
        if not private_board.is_private(first_page.rows, public):
            return None
        credentials = self._credentials(competition)
        secrets = _secret_forms(credentials)
        rows, token = list(first_page.rows), first_page.next_token
        with _redacted_errors(competition, secrets):
            seen = set()
            while token:
                if token in seen:
                    raise LeaderboardDownloadError(
                        competition,
                        f"the leaderboard view's pages loop: Kaggle sent page token {_shown(token, secrets)!r} twice",
                    )
                seen.add(token)
                page, token = self._view_page(competition, credentials, secrets, token)
                rows += page
                if len(rows) > _MAX_VIEW_ROWS:
                    raise LeaderboardDownloadError(
                        competition, f"the leaderboard view has more than the limit of {_MAX_VIEW_ROWS} rows"
                    )
        return rows

    def _view_page(
        self, competition: str, credentials: dict[str, str], secrets: tuple[str, ...], token: str | None
    ) -> tuple[list[ViewRow], str]:
        return self._with_retries(
            competition, secrets, lambda: self._view_page_once(competition, credentials, secrets, token)
        )

    def _with_retries(self, competition: str, secrets: tuple[str, ...], attempt_once: Callable[[], T]) -> T:
        """`attempt_once()`, again after a backoff while it fails in a way worth retrying. With a
        pace, every attempt waits for its slot first, and a 429 pauses every process for the
        backoff instead of this attempt alone: the retry's slot comes after the pause."""
        try:
            return self._attempts(competition, secrets, attempt_once)
        except PaceUnavailableError as error:
            raise LeaderboardDownloadError(competition, str(error)) from error

    def _attempts(self, competition: str, secrets: tuple[str, ...], attempt_once: Callable[[], T]) -> T:
        logger = dg.get_dagster_logger()
        pace = self.pace
        attempt = 1
        while True:
            try:
                if pace is not None:
                    pace.wait_for_slot()
                return attempt_once()
            except _Retryable as failure:
                delay = self._delay(attempt, failure.retry_after)
                if failure.rate_limited and pace is not None:
                    # Even when this request gives up: Kaggle asked every request to wait.
                    pace.slow_down(delay)
                if attempt >= self.max_attempts:
                    raise LeaderboardDownloadError(
                        competition,
                        f"gave up after {attempt} attempt{'s' if attempt > 1 else ''}; last error: {failure.cause}",
                    ) from failure
                attempt += 1
                if failure.rate_limited and pace is not None:
                    logger.warning(
                        _redact(
                            f"competition '{competition}': {failure.cause}, every request to Kaggle paused for "
                            f"{delay:.1f} s, then slowed down; retrying (attempt {attempt}/{self.max_attempts})",
                            secrets,
                        )
                    )
                    continue
                logger.warning(
                    _redact(
                        f"competition '{competition}': {failure.cause}, retrying in {delay:.1f} s "
                        f"(attempt {attempt}/{self.max_attempts})",
                        secrets,
                    )
                )
                _sleep(delay)

    def _credentials(self, competition: str) -> dict[str, str]:
        """KaggleClient's credential arguments, from this resource's fields only (KaggleApi's
        authenticate() would read ~/.kaggle and env vars on its own and exit() when empty)."""
        if self.api_token:
            return {"api_token": _token_value(self.api_token, competition)}
        if self.username and self.key:
            return {"username": self.username, "password": self.key}
        if self.username or self.key:
            present, absent = ("KAGGLE_USERNAME", "KAGGLE_KEY") if self.username else ("KAGGLE_KEY", "KAGGLE_USERNAME")
            cause = f"Kaggle credentials are incomplete: {present} is set but {absent} is not"
        else:
            cause = "Kaggle credentials are missing"
        raise LeaderboardDownloadError(
            competition, f"{cause}; set KAGGLE_API_TOKEN, or both KAGGLE_USERNAME and KAGGLE_KEY"
        )

    def _download_once(
        self, competition: str, credentials: dict[str, str], secrets: tuple[str, ...]
    ) -> tuple[str, bytes]:
        deadline = time.monotonic() + self.timeout_seconds
        request = ApiDownloadLeaderboardRequest()
        request.competition_name = competition
        with tempfile.TemporaryDirectory(prefix="kaggle-lb-") as directory:
            zip_path = os.path.join(directory, f"{competition}.zip")
            # The same call as competition_leaderboard_download, minus its download_file: that
            # one retries on its own (5 times, sleeping up to 32 s, resuming with a request that
            # hangs) and has no size limit. Retries are this resource's job.
            with self._attempt(competition, credentials, secrets, deadline, _MAX_JSON_BODY_BYTES) as client:
                response = client.competitions.competition_api_client.download_leaderboard(request)
                with response:
                    self._save_zip(competition, response, zip_path, deadline, secrets)
            with open(zip_path, "rb") as archive:
                return read_csv_from_zip(archive, competition, self.max_csv_bytes)

    def _view_page_once(
        self, competition: str, credentials: dict[str, str], secrets: tuple[str, ...], token: str | None
    ) -> tuple[list[ViewRow], str]:
        deadline = time.monotonic() + self.timeout_seconds
        request = ApiGetLeaderboardRequest()
        request.competition_name = competition
        request.page_size = self.view_page_size
        if token:
            request.page_token = token
        max_bytes = self.view_page_size * _MAX_VIEW_ROW_BYTES
        with self._attempt(competition, credentials, secrets, deadline, max_bytes) as client:
            response = client.competitions.competition_api_client.get_leaderboard(request)
        rows = [
            ViewRow(int(row.team_id), row.team_name or "", row.score) for row in response.submissions if row is not None
        ]
        return rows, response.next_page_token or ""

    @contextmanager
    def _attempt(
        self,
        competition: str,
        credentials: dict[str, str],
        secrets: tuple[str, ...],
        deadline: float,
        max_json_bytes: int,
    ) -> Iterator[KaggleClient]:
        """A client for one attempt, its every request under the attempt's timeout, deadline and
        size cap, and its failures turned into this resource's: retryable or final, with causes.
        verbose=False whatever VERBOSE says: a verbose client prints each request with its
        credentials."""
        try:
            with KaggleClient(verbose=False, **credentials) as client:
                # Entering the client created its session; kagglesdk offers no other hook.
                session = client.http_client()._session
                adapter = _AttemptAdapter(self.timeout_seconds, deadline, max_json_bytes)
                for prefix in ("http://", "https://"):
                    session.mount(prefix, adapter)
                try:
                    yield client
                except (TypeError, RecursionError) as exc:
                    # The client compares a JSON body's "code" with 400 without checking its
                    # type, and parses JSON nested deeper than Python's recursion limit.
                    raise LeaderboardDownloadError(
                        competition,
                        f"Kaggle sent an error body the kaggle client cannot read ({type(exc).__name__})",
                    ) from exc
        except requests.HTTPError as exc:
            raise _http_error(competition, exc, secrets) from exc
        except _DeadlinePassed as exc:
            raise _Retryable(
                f"Kaggle did not send the whole answer within {self.timeout_seconds:g} s (timeout_seconds)"
            ) from exc
        except _RETRYABLE_ERRORS as exc:
            raise _Retryable(self._network_cause(exc)) from exc
        except _TooLarge as exc:
            raise LeaderboardDownloadError(competition, exc.cause) from exc
        except (requests.RequestException, Urllib3Error, OSError) as exc:
            raise LeaderboardDownloadError(competition, f"download failed: {type(exc).__name__}: {exc}") from exc

    def _save_zip(
        self,
        competition: str,
        response: requests.Response,
        zip_path: str,
        deadline: float,
        secrets: tuple[str, ...],
    ) -> None:
        """Stream the body into zip_path, capped in size and time; a JSON or non-ZIP body is an error."""
        if _is_json(response):
            # Kaggle's other error shape, {"error": {"code": ...}}, gets past the client with a 200.
            raise _json_body_error(competition, response, secrets)
        limit = self.max_csv_bytes + _ZIP_OVERHEAD_BYTES
        size = 0
        with open(zip_path, "wb") as out:
            # A body shorter than its Content-Length raises ProtocolError here (retried).
            for chunk in _body_chunks(response, limit, deadline, "the leaderboard download"):
                size += len(chunk)
                out.write(chunk)
        with open(zip_path, "rb") as downloaded:
            head = downloaded.read(_REDACTED_WINDOW)
        if not head:
            raise LeaderboardDownloadError(competition, "the leaderboard download is empty (Kaggle sent no bytes)")
        if not head.startswith(_ZIP_SIGNATURES):
            content_type = response.headers.get("Content-Type", "") or "no Content-Type"
            raise LeaderboardDownloadError(
                competition,
                f"the leaderboard download is not a readable ZIP: Kaggle sent {size} bytes of "
                f"{_shown(content_type, secrets)} starting {_shown(head, secrets)!r}",
            )

    def _network_cause(self, exc: Exception) -> str:
        cause = f"{type(exc).__name__}: {exc}"
        if isinstance(exc, (requests.Timeout, ReadTimeoutError)):
            return f"Kaggle did not answer within {self.timeout_seconds:g} s (timeout_seconds); {cause}"
        return cause

    def _delay(self, failed_attempt: int, retry_after: float | None) -> float:
        if retry_after is not None:
            return min(retry_after, self.max_backoff_seconds)
        ceiling = min(self.max_backoff_seconds, self.backoff_seconds * 2 ** (failed_attempt - 1))
        return random.uniform(0, ceiling)


@contextmanager
def _redacted_errors(competition: str, secrets: tuple[str, ...]) -> Iterator[None]:
    try:
        yield
    except LeaderboardDownloadError as error:
        # The cause may quote Kaggle or an exception about the request, and the exceptions it
        # came from hold those texts unredacted: only the redacted cause leaves, chained to none.
        raise LeaderboardDownloadError(competition, _redact(error.cause, secrets)) from None


def _token_value(api_token: str, competition: str) -> str:
    """The token itself: as kagglesdk reads KAGGLE_API_TOKEN, a value naming an existing file
    stands for that file's text, stripped."""
    if not os.path.exists(api_token):
        return api_token
    try:
        with open(api_token, encoding="utf-8") as token_file:
            token = token_file.read().strip()
    except (OSError, UnicodeDecodeError) as exc:
        cause = exc.strerror if isinstance(exc, OSError) else "it is not UTF-8 text"
        raise LeaderboardDownloadError(
            competition, f"KAGGLE_API_TOKEN names the file {api_token}, which cannot be read: {cause}"
        ) from None
    if not token:
        raise LeaderboardDownloadError(competition, f"KAGGLE_API_TOKEN names the file {api_token}, which is empty")
    return token


def _secret_forms(credentials: dict[str, str]) -> tuple[str, ...]:
    """Every form of the credentials a message could quote, longest first: the token or key,
    user:key, and each of them in base64 (a Basic header holds user:key so)."""
    secrets = [credentials.get("api_token"), credentials.get("password")]
    if credentials.get("password"):
        secrets.append(f"{credentials['username']}:{credentials['password']}")
    forms = set()
    for secret in filter(None, secrets):
        # Unpadded, base64 also matches inside a padded copy.
        forms |= {secret, base64.b64encode(secret.encode()).decode().rstrip("=")}
    return tuple(sorted(forms, key=len, reverse=True))


def _redact(text: str, secrets: tuple[str, ...]) -> str:
    for secret in secrets:
        text = text.replace(secret, _REDACTED)
    return text


def _shown(data: bytes | str, secrets: tuple[str, ...]) -> str:
    """The start of a server's text, safe to put in a message: redacted, then cut (in that order,
    so that no secret is left in part)."""
    if isinstance(data, bytes):
        data = data[:_REDACTED_WINDOW].decode("utf-8", errors="replace")
    text = _redact(data[:_REDACTED_WINDOW], secrets)
    if len(text) > _SHOWN_CHARS:
        text = text[:_SHOWN_CHARS] + "…"
    return text


def _is_json(response: requests.Response) -> bool:
    return "application/json" in response.headers.get("Content-Type", "")


def _body_chunks(response: requests.Response, limit: int, deadline: float, what: str) -> Iterator[bytes]:
    """The body, decoded, in chunks of one socket read each, so that the deadline is checked
    between reads (a server dripping bytes never trips the read timeout); past `limit` bytes, even
    compressed ones (urllib3 inflates no more than it is asked for), it is refused with _TooLarge."""
    size = 0
    while chunk := response.raw.read1(_DOWNLOAD_CHUNK, decode_content=True):
        size += len(chunk)
        if size > limit:
            raise _TooLarge(f"{what} is larger than the limit of {limit} bytes")
        if time.monotonic() > deadline:
            raise _DeadlinePassed()
        yield chunk


def _json_body_error(competition: str, response: requests.Response, secrets: tuple[str, ...]) -> Exception:
    status, message = _json_error_fields(response.content)
    if status is not None:
        return _error_for_status(competition, status, message, response, secrets)
    return LeaderboardDownloadError(
        competition, f"Kaggle sent JSON instead of the leaderboard ZIP: {_shown(response.content, secrets)!r}"
    )


def _http_error(competition: str, exc: requests.HTTPError, secrets: tuple[str, ...]) -> Exception:
    """The HTTP status, or the `code` of a JSON error body (Kaggle can send one with a 200)."""
    response = exc.response
    status = response.status_code if response is not None else 0
    message = ""
    if response is not None and _is_json(response):
        code, message = _json_error_fields(response.content)
        if code is not None:
            status = code
    return _error_for_status(competition, status, message, response, secrets)


def _error_for_status(
    competition: str, status: int, message: str, response: requests.Response | None, secrets: tuple[str, ...]
) -> Exception:
    detail = f" (Kaggle said: {_shown(message, secrets)})" if message else ""
    if status == 429 or status >= 500:
        return _Retryable(f"HTTP {status}{detail}", _retry_after_seconds(response), rate_limited=status == 429)
    if status == 401:
        cause = "HTTP 401: Kaggle rejected the credentials; check KAGGLE_API_TOKEN (or KAGGLE_USERNAME and KAGGLE_KEY)"
    elif status == 403:
        cause = (
            "HTTP 403: these credentials have no access to the competition; usually its rules "
            f"have not been accepted yet: accept them at https://www.kaggle.com/competitions/{competition}/rules"
        )
    elif status == 404:
        cause = "HTTP 404: no such competition on Kaggle; check the slug"
    else:
        cause = f"HTTP {status}"
    return LeaderboardDownloadError(competition, cause + detail)


def _json_error_fields(body: bytes) -> tuple[int | None, str]:
    """(code, message) of a JSON error body, top-level {"code", "message"} or nested
    {"error": {"code", "message"}}; code is None when the body holds no error code >= 400."""
    try:
        parsed = json.loads(body)
    except (ValueError, RecursionError):
        return None, ""
    if isinstance(parsed, dict) and isinstance(parsed.get("error"), dict):
        parsed = parsed["error"]
    if not isinstance(parsed, dict):
        return None, ""
    message = str(parsed.get("message") or "")
    code = parsed.get("code")
    if isinstance(code, int) and not isinstance(code, bool) and code >= 400:
        return code, message
    return None, message


def _retry_after_seconds(response: requests.Response | None) -> float | None:
    """Retry-After as seconds (it may be a number of seconds or an HTTP date), None if absent or unreadable."""
    value = response.headers.get("Retry-After") if response is not None else None
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())
