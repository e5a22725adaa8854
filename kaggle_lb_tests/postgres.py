"""Fresh PostgreSQL databases beside KAGGLE_LB_TEST_POSTGRES_URL's. Apart from the database
fixtures (kaggle_lb_tests.databases) because the benchmarks use it too, in the runtime
environment, which has no pytest."""

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from kaggle_lb.resources.database import resolve_database_url

POSTGRES_URL_VAR = "KAGGLE_LB_TEST_POSTGRES_URL"


@contextmanager
def fresh_postgres_url() -> Iterator[str]:
    """A new, empty PostgreSQL database, dropped afterwards; as a plain URL."""
    name = f"kaggle_lb_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(resolve_database_url(os.environ[POSTGRES_URL_VAR]), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(os.environ[POSTGRES_URL_VAR]).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
