"""The pace of every request kaggle-lb sends to Kaggle, shared through the site's database by every
process that sends one (every run, on every machine): a steady rate, and a pause with a slow-down
for the whole tick when Kaggle answers 429. See storage.pace for the rules."""

import time
from collections.abc import Iterator
from contextlib import contextmanager

from dagster import ConfigurableResource
from pydantic import Field
from sqlalchemy import Connection
from sqlalchemy.exc import SQLAlchemyError

from kaggle_lb.resources.database import DatabaseResource, describe_database_error
from kaggle_lb.storage import pace
from kaggle_lb.storage.schema import Tables

DEFAULT_REQUESTS_PER_MINUTE = 600.0

# Looked up at call time so tests can record the waits instead of sleeping them.
_sleep = time.sleep


class PaceUnavailableError(Exception):
    """The shared pace could not be read or written; the message names the database."""


class KagglePaceResource(ConfigurableResource):
    """Spaces the requests to Kaggle of every kaggle-lb process by one shared interval."""

    database: DatabaseResource
    requests_per_minute: float = Field(
        default=DEFAULT_REQUESTS_PER_MINUTE,
        gt=0,
        description="Requests to Kaggle per minute, all processes together (KAGGLE_LB_KAGGLE_REQUESTS_PER_MINUTE).",
    )
    window_seconds: float = Field(
        default=300,
        gt=0,
        description="How long the interval stays slowed down after a 429, in seconds: the schedule's 5 minutes.",
    )
    max_slowdown: float = Field(
        default=8,
        ge=1,
        description="The most the interval is multiplied by while 429s keep coming (it doubles at each).",
    )

    def wait_for_slot(self) -> None:
        """Return when this process may send its next request to Kaggle."""
        interval = 60.0 / self.requests_per_minute
        while True:
            with self._transaction() as (conn, tables):
                slot = pace.claim_slot(conn, tables, interval, time.time())
            wait = slot - time.time()
            if wait <= 0:
                return
            _sleep(wait)
            # A 429 seen by another process while this one slept pauses this request too.
            with self._transaction() as (conn, tables):
                if pace.paused_until(conn, tables) <= slot:
                    return

    def slow_down(self, retry_after_seconds: float) -> None:
        """Kaggle answered 429: every process waits `retry_after_seconds`, then goes slower for the window."""
        with self._transaction() as (conn, tables):
            pace.slow_down(conn, tables, time.time(), retry_after_seconds, self.window_seconds, self.max_slowdown)

    @contextmanager
    def _transaction(self) -> Iterator[tuple[Connection, Tables]]:
        """One short transaction on the pace's row. A database error fails the request rather than
        letting it go unpaced: every process shares the database, so going on without it would
        send every process's requests at once, just when Kaggle is to be spared."""
        try:
            with self.database.begin() as conn:
                yield conn, self.database.tables
        except SQLAlchemyError as error:
            cause = describe_database_error(error, self.database.display_url)
            raise PaceUnavailableError(f"pacing the requests to Kaggle failed: {cause}") from error
