"""Schema creation and upgrades through Alembic, idempotent and safe to run on every start."""

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Connection

from kaggle_lb.storage.schema import Tables
from kaggle_lb.storage.user_keys import ensure_state

MIGRATIONS_DIR = Path(__file__).parent / "migrations"


def _alembic_config(connection: Connection, tables: Tables) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.attributes["connection"] = connection
    config.attributes["metadata"] = tables.metadata
    return config


def ensure_schema(connection: Connection, tables: Tables) -> None:
    """Create missing tables on a new database, or apply pending migrations on an existing one."""
    config = _alembic_config(connection, tables)
    if MigrationContext.configure(connection).get_current_revision() is None:
        # checkfirst leaves an application's existing users table exactly as it is.
        tables.metadata.create_all(connection, checkfirst=True)
        command.stamp(config, "head")
    else:
        command.upgrade(config, "head")
    ensure_state(connection, tables)
