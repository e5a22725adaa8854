"""Leaderboards straight from the Kaggle API, through the official `kaggle` client, in-process."""

from __future__ import annotations

import contextlib
import io
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
        with tempfile.TemporaryDirectory(prefix="kaggle-lb-") as directory:
            try:
                api.competition_leaderboard_download(competition, directory)
            except requests.HTTPError as exc:
                raise self._http_error(competition, exc) from exc
            except _RETRYABLE_REQUEST_ERRORS as exc:
                raise _Retryable(self._redact(f"{type(exc).__name__}: {exc}")) from exc
            except (requests.RequestException, OSError, ValueError) as exc:
                # ValueError: the client's own check that the body matched Content-Length.
                raise LeaderboardDownloadError(
                    competition, self._redact(f"download failed: {type(exc).__name__}: {exc}")
                ) from exc
            zip_path = os.path.join(directory, f"{competition}.zip")
            return read_csv_from_zip(zip_path, competition, self.max_csv_bytes)

    def _http_error(self, competition: str, exc: requests.HTTPError) -> Exception:
        status, message = _status_and_message(exc)
        detail = self._redact(f" (Kaggle said: {message})" if message else "")
        if status == 429 or status >= 500:
            return _Retryable(f"HTTP {status}{detail}", _retry_after_seconds(exc.response))
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


def _status_and_message(exc: requests.HTTPError) -> tuple[int, str]:
    """The HTTP status, or the `code` of a JSON error body (Kaggle can send one with a 200)."""
    response = exc.response
    status = response.status_code if response is not None else 0
    message = ""
    if response is not None and "application/json" in response.headers.get("Content-Type", ""):
        try:
            body = response.json()
        except ValueError:
            body = None
        if isinstance(body, dict):
            message = str(body.get("message") or "")
            if isinstance(body.get("code"), int) and body["code"] >= 400:
                status = body["code"]
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
