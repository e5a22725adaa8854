"""The site's database: SQLAlchemy Core over SQLite (embedded default) or PostgreSQL.

Plain Python, no Dagster: the CLI's commands open it directly (and start fast); the assets open
it through `DatabaseResource`, which wraps it.
"""

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cached_property
from pathlib import Path

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, NoSuchModuleError

from kaggle_lb.errors import ConfigurationError
from kaggle_lb.storage.migrate import HEAD, initialise, revision
from kaggle_lb.storage.schema import Tables, bind_tables
from kaggle_lb.storage.site_check import site_problems
from kaggle_lb.storage.site_schema import SiteSchema, SiteSchemaError, load_site_schema

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


# Query parameters libpq and its drivers take a secret in (`?password=`, a client key's passphrase).
_SECRET_PARAMETERS = {"password", "passwd", "pwd", "sslpassword", "passfile", "sslkey"}


def masked(url: URL) -> str:
    """`url` as text with its password masked, in the user:password@ part and in the query."""
    query = {key: "***" if key.lower() in _SECRET_PARAMETERS else value for key, value in url.query.items()}
    return url.set(query=query).render_as_string(hide_password=True)


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    # This connection only: enforce the foreign keys the schema declares.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def _postgres_timeouts(lock_timeout_seconds: float, statement_timeout_seconds: float):
    """A connect listener bounding this connection's waits: for a lock another session holds, and
    for any one statement (a stuck one would hold the competition's lock for every later sync)."""

    def set_timeouts(dbapi_connection, _record) -> None:
        # Outside a transaction: a setting made in one would go with its rollback.
        autocommit = dbapi_connection.autocommit
        dbapi_connection.autocommit = True
        with dbapi_connection.cursor() as cursor:
            for name, seconds in (
                ("lock_timeout", lock_timeout_seconds),
                ("statement_timeout", statement_timeout_seconds),
            ):
                cursor.execute("SELECT set_config(%s, %s, false)", (name, f"{round(seconds * 1000)}ms"))
        dbapi_connection.autocommit = autocommit

    return set_timeouts


def lock_timed_out(error: DBAPIError) -> bool:
    """Whether the database gave up waiting for a lock: PostgreSQL's lock_timeout (55P03), or
    SQLite's busy timeout (SQLITE_BUSY, "database is locked")."""
    orig = error.orig
    if getattr(orig, "pgcode", None) == "55P03":
        return True
    code = getattr(orig, "sqlite_errorcode", None)
    return code is not None and code & 0xFF == sqlite3.SQLITE_BUSY  # the primary code of an extended one


def describe_database_error(error: Exception, display_url: str) -> str:
    """One line an operator can act on, for an error from connecting to or reading the database."""
    if isinstance(error, NoSuchModuleError):
        return f"database {display_url}: unsupported kind of database (kaggle-lb runs on SQLite and PostgreSQL)"
    if isinstance(error, ArgumentError):
        # Not echoed: the text may hold a password.
        return "the database URL cannot be read (expected e.g. postgresql://user@host/db or sqlite:///path)"
    if isinstance(error, DBAPIError) and error.orig is not None:
        lines = [line.strip() for line in str(error.orig).strip().splitlines() if line.strip()]
        return f"database {display_url}: {lines[-1] if error.connection_invalidated or not lines else lines[0]}"
    return f"database {display_url}: {error}"


class DatabaseNotReadyError(ConfigurationError):
    """The database lacks kaggle-lb's tables, or holds an older version of them."""


class Database:
    """The site's database: its users, competitions and leaderboard entries (where the site schema
    says), and kaggle-lb's own `kaggle_lb_*` tables."""

    def __init__(
        self,
        url: str | None = None,
        home: str = DEFAULT_HOME,
        site_schema: str | None = None,
        lock_timeout_seconds: float = 60,
        statement_timeout_seconds: float = 600,
    ):
        self.url = url
        self.home = home
        self.site_schema = site_schema
        self.lock_timeout_seconds = lock_timeout_seconds
        self.statement_timeout_seconds = statement_timeout_seconds
        self._engine: Engine | None = None
        self._tables: Tables | None = None

    @cached_property
    def schema(self) -> SiteSchema:
        return load_site_schema(self.site_schema)

    @property
    def sqlalchemy_url(self) -> URL:
        return resolve_database_url(self.url, self.home)

    @property
    def display_url(self) -> str:
        """The URL with any password masked: the only form that may reach logs or metadata."""
        return masked(self.sqlalchemy_url)

    def _create_engine(self, create: bool = False) -> Engine:
        """The engine; only `init` (create) may make a new SQLite file, and its directory."""
        url = self.sqlalchemy_url
        if url.get_backend_name() not in ("sqlite", "postgresql"):
            raise ConfigurationError(
                f"database {self.display_url}: unsupported kind of database '{url.get_backend_name()}' "
                "(kaggle-lb runs on SQLite and PostgreSQL)"
            )
        if url.get_backend_name() == "sqlite":
            path = Path(url.database or "")
            if create:
                path.parent.mkdir(parents=True, exist_ok=True)
            elif not path.is_file():
                raise DatabaseNotReadyError(f"database {self.display_url}: no such file; run `kaggle-lb init`")
            engine = create_engine(url, connect_args={"timeout": self.lock_timeout_seconds})
            event.listen(engine, "connect", _sqlite_pragmas)
            return engine
        engine = create_engine(url, pool_pre_ping=True)
        event.listen(engine, "connect", _postgres_timeouts(self.lock_timeout_seconds, self.statement_timeout_seconds))
        return engine

    @property
    def engine(self) -> Engine:
        """The engine, once the database is found ready: kaggle-lb's tables at this version and the
        site's tables as the site schema says (checked once per process, so once per run)."""
        if self._engine is None:
            engine = self._create_engine()
            try:
                with engine.begin() as conn:
                    found = revision(conn)
                    if found != HEAD:
                        state = "has no kaggle-lb tables" if found is None else f"has kaggle-lb's tables at {found}"
                        raise DatabaseNotReadyError(
                            f"database {self.display_url} {state}; this version needs {HEAD}: run `kaggle-lb init`"
                        )
                    problems = site_problems(conn, self.schema)
                    if problems:
                        raise SiteSchemaError([f"{self.schema.source}: {problem}" for problem in problems])
                    self._tables = bind_tables(conn, self.schema)
            except BaseException:
                engine.dispose()
                raise
            self._engine = engine
        return self._engine

    @property
    def tables(self) -> Tables:
        self.engine  # noqa: B018 (binds the tables)
        assert self._tables is not None
        return self._tables

    def initialise(self) -> list[str]:
        """Create or upgrade kaggle-lb's tables (and the built-in site tables the schema leaves to
        kaggle-lb), check the site's, and bring the users' key index up to date; returns what was
        done to the database beside that."""
        # Here, not at the top: the index is built with pandas, which no other command needs.
        from kaggle_lb.storage import user_keys

        self.dispose()
        engine = self._create_engine(create=True)
        notes = []
        try:
            with engine.begin() as conn:
                initialise(conn, self.schema)
                # The users' key index built at once, so a scheduled run never finds it empty.
                user_keys.refresh(conn, bind_tables(conn, self.schema))
            if engine.dialect.name == "sqlite":
                notes.append(_sqlite_journal_mode(engine, set_wal=self.schema.competitions.built_in))
        finally:
            engine.dispose()
        return notes

    @contextmanager
    def begin(self) -> Iterator[Connection]:
        """One transaction: committed when the block ends, rolled back when it raises."""
        with self.engine.begin() as conn:
            yield conn

    def dispose(self) -> None:
        if self._engine is not None:
            self._engine.dispose()
            self._engine = None
            self._tables = None


def _sqlite_journal_mode(engine: Engine, set_wal: bool) -> str:
    """WAL lets a sync write while others read; it is a setting of the database file, so it is
    made only in a database whose competitions kaggle-lb keeps itself, and said either way."""
    with engine.connect() as conn:
        mode = conn.exec_driver_sql("PRAGMA journal_mode").scalar()
        if set_wal and mode != "wal":
            mode = conn.exec_driver_sql("PRAGMA journal_mode=WAL").scalar()
            return f"SQLite journal mode set to {mode}"
    return f"SQLite journal mode {mode}, left as it is" if not set_wal else f"SQLite journal mode {mode}"
