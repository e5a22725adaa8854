"""Leaderboards straight from the Kaggle API, through the official `kaggle` client, in-process."""

from __future__ import annotations

import contextlib
import io
import json
import os
import random
import tempfile
import time
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime
from typing import Optional

import dagster as dg
import requests
from pydantic import Field
from requests.adapters import HTTPAdapter
from urllib3.exceptions import ReadTimeoutError

from kaggle_lb.errors import LeaderboardDownloadError
from kaggle_lb.resources.leaderboard_source import (
    LeaderboardDownload,
    LeaderboardSource,
    read_csv_from_zip,
    validate_slug,
)

# Looked up at call time so tests can swap in a recorder instead of patching time.sleep globally.
_sleep = time.sleep

_RETRYABLE_REQUEST_ERRORS = (
    requests.ConnectionError,
    requests.Timeout,
    requests.exceptions.ChunkedEncodingError,
)
# A leaderboard ZIP holds one CSV; the allowance over the CSV limit covers the archive's headers.
_ZIP_OVERHEAD_BYTES = 1024 * 1024
_DOWNLOAD_CHUNK = 1024 * 1024
# The start of a local file header, or of the end record of an empty archive.
_ZIP_SIGNATURES = (b"PK\x03\x04", b"PK\x05\x06")
# How much of a JSON answer is read to find an error in it; Kaggle's error bodies are tiny.
_MAX_JSON_BODY_BYTES = 64 * 1024
_SHOWN_BODY_CHARS = 80


class _TimeoutAdapter(HTTPAdapter):
    """Gives every request sent through it a (connect, read) timeout: the kaggle client sends
    without one, so a server that stops answering would otherwise hold the run forever."""

    def __init__(self, timeout: float):
        super().__init__()
        self.timeout = timeout

    def send(self, request, timeout=None, **kwargs):
        return super().send(request, timeout=self.timeout if timeout is None else timeout, **kwargs)


class _Retryable(Exception):
    """A failure worth another attempt; carries the wait the server asked for, if any."""

    def __init__(self, cause: str, retry_after: Optional[float] = None):
        super().__init__(cause)
        self.cause = cause
        self.retry_after = retry_after


class KaggleApiResource(LeaderboardSource):
    """Downloads a competition's public leaderboard from the Kaggle API (the same call as
    `kaggle competitions leaderboard <slug> --download`)."""

    username: Optional[str] = Field(
        default=None,
        description="Kaggle user name for the legacy API key (usually EnvVar('KAGGLE_USERNAME')). "
        "Used with `key` when no `api_token` is set.",
    )
    key: Optional[str] = Field(
        default=None,
        description="Legacy Kaggle API key from kaggle.json (usually EnvVar('KAGGLE_KEY')).",
    )
    api_token: Optional[str] = Field(
        default=None,
        description="Kaggle API token (usually EnvVar('KAGGLE_API_TOKEN')). Takes precedence over username/key.",
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
    timeout_seconds: float = Field(
        default=60.0,
        gt=0,
        description="Longest wait for Kaggle to accept the connection, to answer, or to send the "
        "next bytes of the download, in seconds; a stalled attempt fails after it (and is retried).",
    )

    def download_leaderboard(self, competition: str) -> LeaderboardDownload:
        validate_slug(competition)
        config_values = self._config_values(competition)
        logger = dg.get_dagster_logger()
        attempt = 1
        while True:
            try:
                file_name, content = self._download_once(competition, config_values)
                break
            except _Retryable as failure:
                if attempt >= self.max_attempts:
                    raise LeaderboardDownloadError(
                        competition,
                        f"gave up after {attempt} attempt{'s' if attempt > 1 else ''}; last error: {failure.cause}",
                    ) from failure
                delay = self._delay(attempt, failure.retry_after)
                attempt += 1
                logger.warning(
                    f"competition '{competition}': {failure.cause}, retrying in {delay:.1f} s "
                    f"(attempt {attempt}/{self.max_attempts})"
                )
                _sleep(delay)
        return LeaderboardDownload(
            competition=competition,
            file_name=file_name,
            content=content,
            downloaded_at=datetime.now(timezone.utc),
        )

    def _config_values(self, competition: str) -> dict[str, str]:
        """The credentials in the shape KaggleApi keeps them, without its authenticate(): that one
        reads ~/.kaggle and env vars on its own, calls the network for tokens and exit()s when empty."""
        if self.api_token:
            return {"token": self.api_token}
        if self.username and self.key:
            return {"username": self.username, "key": self.key}
        if self.username or self.key:
            present, absent = ("KAGGLE_USERNAME", "KAGGLE_KEY") if self.username else ("KAGGLE_KEY", "KAGGLE_USERNAME")
            cause = f"Kaggle credentials are incomplete: {present} is set but {absent} is not"
        else:
            cause = "Kaggle credentials are missing"
        raise LeaderboardDownloadError(
            competition, f"{cause}; set KAGGLE_API_TOKEN, or both KAGGLE_USERNAME and KAGGLE_KEY"
        )

    def _download_once(self, competition: str, config_values: dict[str, str]) -> tuple[str, bytes]:
        api = _new_kaggle_api()
        api.config_values = config_values
        request = _download_leaderboard_request(competition)
        with tempfile.TemporaryDirectory(prefix="kaggle-lb-") as directory:
            zip_path = os.path.join(directory, f"{competition}.zip")
            try:
                # The same call as competition_leaderboard_download, minus its download_file: that
                # one retries on its own (5 times, sleeping up to 32 s, resuming with a request
                # that hangs) and has no size limit. Retries are this resource's job.
                with api.build_kaggle_client() as client:
                    # Entering the client created its session; kaggle 2.2.5 offers no other hook.
                    session = client.http_client()._session
                    for prefix in ("http://", "https://"):
                        session.mount(prefix, _TimeoutAdapter(self.timeout_seconds))
                    try:
                        response = client.competitions.competition_api_client.download_leaderboard(request)
                    except TypeError as exc:
                        # The client compares a JSON body's "code" with 400 without checking its type.
                        raise LeaderboardDownloadError(
                            competition, f"Kaggle sent an error body the kaggle client cannot read ({exc})"
                        ) from exc
                    with response:
                        self._save_zip(competition, response, zip_path)
            except requests.HTTPError as exc:
                raise self._http_error(competition, exc) from exc
            except _RETRYABLE_REQUEST_ERRORS as exc:
                raise _Retryable(self._redact(self._network_cause(exc))) from exc
            except (requests.RequestException, OSError) as exc:
                raise LeaderboardDownloadError(
                    competition, self._redact(f"download failed: {type(exc).__name__}: {exc}")
                ) from exc
            with open(zip_path, "rb") as archive:
                return read_csv_from_zip(archive, competition, self.max_csv_bytes)

    def _save_zip(self, competition: str, response: requests.Response, zip_path: str) -> None:
        """Stream the body into zip_path, capped in size; a JSON or non-ZIP body is an error."""
        content_type = response.headers.get("Content-Type", "")
        if "application/json" in content_type:
            # Kaggle's other error shape, {"error": {"code": ...}}, gets past the client with a 200.
            body = next(response.iter_content(_MAX_JSON_BODY_BYTES), b"")
            raise self._json_body_error(competition, response, body)
        limit = self.max_csv_bytes + _ZIP_OVERHEAD_BYTES
        size = 0
        with open(zip_path, "wb") as out:
            # A body shorter than its Content-Length raises ChunkedEncodingError here (retried).
            for chunk in response.iter_content(_DOWNLOAD_CHUNK):
                size += len(chunk)
                if size > limit:
                    raise LeaderboardDownloadError(
                        competition, f"the leaderboard download is larger than the limit of {limit} bytes"
                    )
                out.write(chunk)
        with open(zip_path, "rb") as downloaded:
            head = downloaded.read(_SHOWN_BODY_CHARS)
        if not head:
            raise LeaderboardDownloadError(competition, "the leaderboard download is empty (Kaggle sent no bytes)")
        if not head.startswith(_ZIP_SIGNATURES):
            raise LeaderboardDownloadError(
                competition,
                f"the leaderboard download is not a readable ZIP: Kaggle sent {size} bytes of "
                f"{content_type or 'no Content-Type'} starting {_shown(head)}",
            )

    def _json_body_error(self, competition: str, response: requests.Response, body: bytes) -> Exception:
        status, message = _json_error_fields(body)
        if status is not None:
            return self._error_for_status(competition, status, message, response)
        return LeaderboardDownloadError(
            competition, self._redact(f"Kaggle sent JSON instead of the leaderboard ZIP: {_shown(body)}")
        )

    def _network_cause(self, exc: requests.RequestException) -> str:
        cause = f"{type(exc).__name__}: {exc}"
        # A read timeout while streaming the body comes wrapped in a ConnectionError.
        if isinstance(exc, requests.Timeout) or any(isinstance(arg, ReadTimeoutError) for arg in exc.args):
            return f"Kaggle did not answer within {self.timeout_seconds:g} s (timeout_seconds); {cause}"
        return cause

    def _http_error(self, competition: str, exc: requests.HTTPError) -> Exception:
        status, message = _status_and_message(exc)
        return self._error_for_status(competition, status, message, exc.response)

    def _error_for_status(
        self, competition: str, status: int, message: str, response: Optional[requests.Response]
    ) -> Exception:
        detail = self._redact(f" (Kaggle said: {message})" if message else "")
        if status == 429 or status >= 500:
            return _Retryable(f"HTTP {status}{detail}", _retry_after_seconds(response))
        if status == 401:
            cause = (
                "HTTP 401: Kaggle rejected the credentials; check KAGGLE_API_TOKEN "
                "(or KAGGLE_USERNAME and KAGGLE_KEY)"
            )
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

    def _delay(self, failed_attempt: int, retry_after: Optional[float]) -> float:
        if retry_after is not None:
            return min(retry_after, self.max_backoff_seconds)
        ceiling = min(self.max_backoff_seconds, self.backoff_seconds * 2 ** (failed_attempt - 1))
        return random.uniform(0, ceiling)

    def _redact(self, text: str) -> str:
        # Belt and braces: requests' messages only carry URLs, but a secret must never reach a log.
        for secret in (self.key, self.api_token):
            if secret:
                text = text.replace(secret, "***")
        return text


def _new_kaggle_api():
    # Imported lazily: importing `kaggle` runs KaggleApi().authenticate() at module import, which
    # reads ~/.kaggle, may call the network and prints an "Authentication required" banner when it
    # finds nothing. The banner is noise here (credentials come from this resource), so it is hidden.
    with contextlib.redirect_stdout(io.StringIO()):
        from kaggle.api.kaggle_api_extended import KaggleApi
    return KaggleApi()


def _download_leaderboard_request(competition: str):
    from kagglesdk.competitions.types.competition_api_service import ApiDownloadLeaderboardRequest

    request = ApiDownloadLeaderboardRequest()
    request.competition_name = competition
    return request


def _shown(body: bytes) -> str:
    """The start of a body, safe to put in a message."""
    return repr(body[:_SHOWN_BODY_CHARS].decode("utf-8", errors="replace"))


def _json_error_fields(body: bytes) -> tuple[Optional[int], str]:
    """(code, message) of a JSON error body, top-level {"code", "message"} or nested
    {"error": {"code", "message"}}; code is None when the body holds no error code >= 400."""
    try:
        parsed = json.loads(body)
    except ValueError:
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


def _status_and_message(exc: requests.HTTPError) -> tuple[int, str]:
    """The HTTP status, or the `code` of a JSON error body (Kaggle can send one with a 200)."""
    response = exc.response
    status = response.status_code if response is not None else 0
    message = ""
    if response is not None and "application/json" in response.headers.get("Content-Type", ""):
        code, message = _json_error_fields(response.content)
        if code is not None:
            status = code
    return status, message


def _retry_after_seconds(response: Optional[requests.Response]) -> Optional[float]:
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
        when = when.replace(tzinfo=timezone.utc)
    return max(0.0, (when - datetime.now(timezone.utc)).total_seconds())
