"""Creating and upgrading kaggle-lb's tables: an explicit step (`kaggle-lb init`, a deployment's
start-up), never a side effect of connecting. Runs check the revision instead (see `revision`)."""

from pathlib import Path

from sqlalchemy import Connection, insert, inspect, select, text

from kaggle_lb.storage.schema import VERSION_TABLE, built_in_metadata, own_metadata
from kaggle_lb.storage.site_check import site_problems
from kaggle_lb.storage.site_schema import SiteSchema, SiteSchemaError

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
HEAD = "0006"
# Before 0004 kaggle-lb kept its revision in Alembic's default table, which a site using Alembic
# itself would share; these are the revisions it may hold there.
_LEGACY_VERSION_TABLE = "alembic_version"
_LEGACY_REVISIONS = ("0001", "0002", "0003")


def _alembic_config(connection: Connection):
    # Alembic only for `init`: every run and command checks the revision, which plain SQL reads.
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.attributes["connection"] = connection
    return config


def revision(connection: Connection) -> str | None:
    """kaggle-lb's schema revision in this database; None before `kaggle-lb init`."""
    if not inspect(connection).has_table(VERSION_TABLE):
        return None
    return connection.execute(text(f"SELECT version_num FROM {VERSION_TABLE}")).scalar()


def _adopt_legacy_version(connection: Connection, config) -> None:
    """Move kaggle-lb's revision out of `alembic_version`, only when it is kaggle-lb's own: one of
    its revisions, beside its own tables."""
    inspector = inspect(connection)
    names = set(inspector.get_table_names())
    if _LEGACY_VERSION_TABLE not in names or VERSION_TABLE in names:
        return
    ours = "user_keys_state" in names or (
        "competitions" in names
        and {"slug", "is_active"} <= {column["name"] for column in inspector.get_columns("competitions")}
    )
    legacy = connection.execute(text(f"SELECT version_num FROM {_LEGACY_VERSION_TABLE}")).scalars().all()
    if ours and len(legacy) == 1 and legacy[0] in _LEGACY_REVISIONS:
        from alembic import command

        command.stamp(config, legacy[0])
        connection.execute(text(f"DROP TABLE {_LEGACY_VERSION_TABLE}"))


def _conflicts(connection: Connection, schema: SiteSchema) -> list[str]:
    """Tables kaggle-lb would create for the schema's built-in sections that the database already
    has with other columns: a site's own table, which only a site-schema file may describe."""
    inspector = inspect(connection)
    names = set(inspector.get_table_names())
    problems = []
    for table in built_in_metadata(schema).sorted_tables:
        if table.name in names:
            found = {column["name"] for column in inspector.get_columns(table.name)}
            missing = [column.name for column in table.columns if column.name not in found]
            if missing:
                problems.append(
                    f"{table.name}: the database already has this table without kaggle-lb's column(s) "
                    f"{', '.join(missing)}: describe the site's tables in a site-schema file (KAGGLE_LB_SITE_SCHEMA)"
                )
    return problems


def initialise(connection: Connection, schema: SiteSchema) -> None:
    """Create what is missing (kaggle-lb's tables, and the built-in site tables `schema` asks for)
    or upgrade an older kaggle-lb schema in place; then check the site's tables against `schema`.
    Never alters a table of the site's."""
    from alembic import command

    config = _alembic_config(connection)
    _adopt_legacy_version(connection, config)
    if revision(connection) is None:
        problems = _conflicts(connection, schema)
        if problems:
            raise SiteSchemaError(problems)
        # checkfirst: a site's existing users table stays exactly as it is.
        built_in_metadata(schema).create_all(connection, checkfirst=True)
        own_metadata().create_all(connection, checkfirst=True)
        command.stamp(config, "head")
    else:
        command.upgrade(config, "head")
    _ensure_user_keys_state(connection)
    problems = site_problems(connection, schema)
    if problems:
        raise SiteSchemaError(problems)


def _ensure_user_keys_state(connection: Connection) -> None:
    state = own_metadata().tables["kaggle_lb_user_keys_state"]
    if connection.execute(select(state.c.id)).first() is None:
        connection.execute(insert(state).values(id=1, version=0, refreshed_at=None))
