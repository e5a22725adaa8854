"""Database fixtures: every database test runs on SQLite and, when KAGGLE_LB_TEST_POSTGRES_URL is
set (CI sets it), on a fresh PostgreSQL database of its own as well."""

import os
from collections.abc import Iterator

import pytest

from kaggle_lb.resources.database import DatabaseResource
from kaggle_lb_tests.postgres import POSTGRES_URL_VAR, fresh_postgres_url


def database_kinds() -> list[str]:
    return ["sqlite", "postgresql"] if os.environ.get(POSTGRES_URL_VAR) else ["sqlite"]


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "database_kind" in metafunc.fixturenames:
        metafunc.parametrize("database_kind", database_kinds())


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
