"""Database fixtures: every database test runs on SQLite and, when KAGGLE_LB_TEST_POSTGRES_URL is
set (CI sets it), on a fresh PostgreSQL database of its own as well."""

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from kaggle_lb.resources.database import DatabaseResource, resolve_database_url

POSTGRES_URL_VAR = "KAGGLE_LB_TEST_POSTGRES_URL"


def database_kinds() -> list[str]:
    return ["sqlite", "postgresql"] if os.environ.get(POSTGRES_URL_VAR) else ["sqlite"]


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "database_kind" in metafunc.fixturenames:
        metafunc.parametrize("database_kind", database_kinds())


def _admin_engine():
    url = resolve_database_url(os.environ[POSTGRES_URL_VAR])
    return create_engine(url, isolation_level="AUTOCOMMIT")


@contextmanager
def fresh_postgres_url() -> Iterator[str]:
    """A new, empty PostgreSQL database for one test, dropped afterwards; as a plain URL."""
    name = f"kaggle_lb_test_{uuid.uuid4().hex[:12]}"
    admin = _admin_engine()
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(os.environ[POSTGRES_URL_VAR]).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture
def database_url(database_kind: str, tmp_path) -> Iterator[str]:
    """A URL of an empty database; for PostgreSQL a plain `postgresql://` URL, as users write it."""
    if database_kind == "sqlite":
        yield f"sqlite:///{tmp_path / 'site.sqlite3'}"
        return
    with fresh_postgres_url() as url:
        yield url


@pytest.fixture
def database(database_url: str, tmp_path) -> Iterator[DatabaseResource]:
    resource = DatabaseResource(url=database_url, home=str(tmp_path / "home"))
    resource.initialise()
    try:
        yield resource
    finally:
        resource.dispose()


def dump_entries(database: DatabaseResource) -> list[tuple]:
    """Every row of the site's entries table, every column, in a stable order: for byte-for-byte comparisons."""
    table = database.tables.entries
    with database.begin() as conn:
        return [tuple(row) for row in conn.execute(table.select().order_by(table.c.id))]
