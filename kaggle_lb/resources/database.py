"""The site's database as a Dagster resource: `kaggle_lb.storage.database.Database`, configured."""

from contextlib import AbstractContextManager

from dagster import ConfigurableResource
from pydantic import Field, PrivateAttr
from sqlalchemy import Connection, Engine
from sqlalchemy.engine import URL

from kaggle_lb.storage.database import (  # noqa: F401 (imported from here by the assets and tests)
    DEFAULT_HOME,
    Database,
    DatabaseNotReadyError,
    describe_database_error,
    lock_timed_out,
    resolve_database_url,
)
from kaggle_lb.storage.schema import Tables


class DatabaseResource(ConfigurableResource):
    """The site's database: its users, competitions and leaderboard entries (where the site schema
    says), and kaggle-lb's own `kaggle_lb_*` tables."""

    url: str | None = Field(
        default=None,
        description="SQLAlchemy URL (KAGGLE_LB_DATABASE_URL); unset means an SQLite file under `home`.",
    )
    home: str = Field(default=DEFAULT_HOME, description="Data directory (KAGGLE_LB_HOME).")
    site_schema: str | None = Field(
        default=None,
        description="Site-schema file (KAGGLE_LB_SITE_SCHEMA) naming the site's tables; unset means "
        "kaggle-lb's built-in tables.",
    )
    lock_timeout_seconds: float = Field(
        default=60,
        gt=0,
        description="How long a statement waits for a lock another writer holds before the run fails "
        "(PostgreSQL's lock_timeout, SQLite's busy timeout).",
    )
    statement_timeout_seconds: float = Field(
        default=600,
        gt=0,
        description="How long one statement may run before PostgreSQL cancels it (statement_timeout).",
    )

    _database: Database | None = PrivateAttr(default=None)

    @property
    def database(self) -> Database:
        # Made on first use, from the fields as resolved (an EnvVar has its value by then).
        if self._database is None:
            self._database = Database(
                self.url, self.home, self.site_schema, self.lock_timeout_seconds, self.statement_timeout_seconds
            )
        return self._database

    @property
    def sqlalchemy_url(self) -> URL:
        return self.database.sqlalchemy_url

    @property
    def display_url(self) -> str:
        return self.database.display_url

    @property
    def engine(self) -> Engine:
        return self.database.engine

    @property
    def tables(self) -> Tables:
        return self.database.tables

    def initialise(self) -> list[str]:
        return self.database.initialise()

    def begin(self) -> AbstractContextManager[Connection]:
        return self.database.begin()

    def dispose(self) -> None:
        self.database.dispose()

    def teardown_after_execution(self, context) -> None:
        self.dispose()
