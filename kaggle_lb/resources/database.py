"""The platform database: SQLAlchemy Core over SQLite (embedded default) or PostgreSQL."""

from collections.abc import Iterator
from contextlib import contextmanager
from functools import cached_property
from pathlib import Path

from dagster import ConfigurableResource
from pydantic import Field, PrivateAttr
from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import URL, make_url

from kaggle_lb.storage.migrate import ensure_schema
from kaggle_lb.storage.schema import Tables, UsersTableConfig, build_tables

DEFAULT_HOME = "./.kaggle_lb"


def resolve_database_url(url: str | None, home: str = DEFAULT_HOME) -> URL:
    """The SQLAlchemy URL to use: the configured one, or an SQLite file under the data directory.

    SQLAlchemy 2.1 maps a bare `postgresql://` to psycopg 3; the driver installed with
    dagster-postgres is psycopg2, so a bare PostgreSQL URL is pinned to it.
    """
    if not url:
        path = Path(home).expanduser().resolve() / "kaggle_lb.sqlite3"
        return make_url(f"sqlite:///{path}")
    parsed = make_url(url.replace("postgres://", "postgresql://", 1) if url.startswith("postgres://") else url)
    if parsed.drivername == "postgresql":
        parsed = parsed.set(drivername="postgresql+psycopg2")
    return parsed


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    cursor = dbapi_connection.cursor()
    # Enforce the foreign keys the schema declares, and let concurrent runs wait for the write lock.
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.close()


class DatabaseResource(ConfigurableResource):
    """The site's database, holding competitions, users and leaderboard entries."""

    url: str | None = Field(
        default=None,
        description="SQLAlchemy URL (KAGGLE_LB_DATABASE_URL); unset means an SQLite file under `home`.",
    )
    home: str = Field(default=DEFAULT_HOME, description="Data directory (KAGGLE_LB_HOME).")
    users_table: str = Field(default="users", description="The platform's users table.")
    users_id_column: str = Field(default="id", description="Its integer primary key column.")
    users_username_column: str = Field(default="username", description="Its platform username column.")
    users_kaggle_username_column: str = Field(
        default="kaggle_username", description="Its Kaggle username column (may be NULL)."
    )

    _engine: Engine | None = PrivateAttr(default=None)

    @cached_property
    def tables(self) -> Tables:
        return build_tables(
            UsersTableConfig(
                table=self.users_table,
                id_column=self.users_id_column,
                username_column=self.users_username_column,
                kaggle_username_column=self.users_kaggle_username_column,
            )
        )

    @property
    def sqlalchemy_url(self) -> URL:
        return resolve_database_url(self.url, self.home)

    @property
    def display_url(self) -> str:
        """The URL with any password masked: the only form that may reach logs or metadata."""
        return self.sqlalchemy_url.render_as_string(hide_password=True)

    @property
    def engine(self) -> Engine:
        if self._engine is None:
            url = self.sqlalchemy_url
            if url.get_backend_name() == "sqlite":
                Path(url.database).parent.mkdir(parents=True, exist_ok=True)
                engine = create_engine(url, connect_args={"timeout": 60})
                event.listen(engine, "connect", _sqlite_pragmas)
            else:
                engine = create_engine(url, pool_pre_ping=True)
            # Every process that touches the database finds the schema current (idempotent).
            with engine.begin() as conn:
                ensure_schema(conn, self.tables)
            self._engine = engine
        return self._engine

    @contextmanager
    def begin(self) -> Iterator[Connection]:
        """One transaction: committed when the block ends, rolled back when it raises."""
        with self.engine.begin() as conn:
            yield conn

    def dispose(self) -> None:
        if self._engine is not None:
            self._engine.dispose()
            self._engine = None

    def teardown_after_execution(self, context) -> None:
        self.dispose()
