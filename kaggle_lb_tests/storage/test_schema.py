"""Schema creation: idempotent, migration-ready, and able to read an application's own users table."""

from datetime import UTC, datetime

import pandas as pd
import pytest
from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Float,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    create_engine,
    inspect,
    select,
    text,
)

from kaggle_lb.leaderboard.matching import match_entries
from kaggle_lb.resources.database import DatabaseNotReadyError, DatabaseResource, resolve_database_url
from kaggle_lb.storage import registry, standings, user_keys
from kaggle_lb.storage.migrate import HEAD
from kaggle_lb.storage.schema import own_metadata
from kaggle_lb.storage.site_schema import SiteOwnedError


def test_plain_postgresql_url_uses_the_installed_psycopg2_driver():
    assert resolve_database_url("postgresql://app:pw@db/site").drivername == "postgresql+psycopg2"
    assert resolve_database_url("postgres://app@db/site").drivername == "postgresql+psycopg2"
    assert resolve_database_url(None, "/data").render_as_string() == "sqlite:////data/kaggle_lb.sqlite3"


@pytest.mark.parametrize(
    "url",
    [
        "postgresql://app:s3cret@db/site",
        "postgresql://app@db/site?password=s3cret&sslmode=require",
        "postgresql://app@db/site?sslpassword=s3cret&PASSWORD=s3cret",
    ],
)
def test_password_is_masked_in_the_display_url(url):
    shown = DatabaseResource(url=url).display_url
    assert "s3cret" not in shown and "app" in shown and "db/site" in shown


def test_init_is_idempotent_and_keeps_its_revision_in_a_table_of_its_own(database_url, tmp_path):
    for _ in range(2):
        database = DatabaseResource(url=database_url, home=str(tmp_path))
        database.initialise()
        with database.begin() as conn:
            registry.add_competition(conn, database.tables, "titanic")
            version = conn.execute(text("SELECT version_num FROM kaggle_lb_alembic_version")).scalar_one()
            names = set(inspect(conn).get_table_names())
        database.dispose()
    assert version == HEAD
    own = {name for name in names if name.startswith("kaggle_lb_")}
    assert names - own == {"competitions", "users", "leaderboard_entries"}
    with database.begin() as conn:
        assert [c.slug for c in registry.list_competitions(conn, database.tables)] == ["titanic"]
    database.dispose()


def test_a_database_without_init_is_refused_with_what_to_do(database_url, tmp_path):
    engine = create_engine(resolve_database_url(database_url))
    with engine.begin() as conn:  # a site's database that kaggle-lb has never seen
        conn.execute(text("CREATE TABLE accounts (id INTEGER PRIMARY KEY)"))
    database = DatabaseResource(url=database_url, home=str(tmp_path))
    with pytest.raises(DatabaseNotReadyError, match="has no kaggle-lb tables.*run `kaggle-lb init`"):
        _ = database.tables
    with engine.connect() as conn:
        assert inspect(conn).get_table_names() == ["accounts"]  # a run creates nothing
    engine.dispose()


def test_a_run_never_creates_an_sqlite_file(tmp_path):
    database = DatabaseResource(url=f"sqlite:///{tmp_path / 'missing' / 'site.sqlite3'}", home=str(tmp_path))
    with pytest.raises(DatabaseNotReadyError, match="no such file; run `kaggle-lb init`"):
        _ = database.tables
    assert not (tmp_path / "missing").exists()


def test_reads_an_existing_application_users_table(database_url, tmp_path):
    # The platform's own table, with its own names and an extra column kaggle-lb knows nothing of.
    app_metadata = MetaData()
    accounts = Table(
        "accounts",
        app_metadata,
        Column("pk", Integer, primary_key=True),
        Column("login", String(80), nullable=False, unique=True),
        Column("kaggle_handle", String(80)),
        Column("email", String(200), nullable=False),
    )
    engine = create_engine(resolve_database_url(database_url))
    with engine.begin() as conn:
        app_metadata.create_all(conn)
        conn.execute(
            accounts.insert(),
            [
                {"pk": 7, "login": "ana", "kaggle_handle": "AnaK", "email": "ana@example.org"},
                {"pk": 9, "login": "ben", "kaggle_handle": None, "email": "ben@example.org"},
            ],
        )
    engine.dispose()
    site = tmp_path / "site.toml"
    site.write_text('[users]\ntable = "accounts"\nid = "pk"\nusername = "login"\nkaggle_username = "kaggle_handle"\n')
    database = DatabaseResource(url=database_url, home=str(tmp_path), site_schema=str(site))
    database.initialise()
    board = pd.DataFrame(
        {
            "rank": [1, 2],
            "team_id": [11, 12],
            "team_name": ["A", "B"],
            "submission_date": pd.to_datetime(["2026-01-01", "2026-01-02"]).tz_localize("UTC"),
            "score": [0.9, 0.8],
            "submission_count": pd.array([1, 2], dtype="Int64"),
            "member_usernames": ["anak", "BEN"],
        }
    )
    with database.begin() as conn:
        registry.add_competition(conn, database.tables, "comp")
        competition = registry.get_competition(conn, database.tables, "comp")
        result = match_entries(board, registry.load_users(conn, database.tables))
        standings.write_standings(conn, database.tables, competition.id, result.entries)
        rows = standings.read_standings(conn, database.tables, competition.id)
        columns = {c["name"] for c in inspect(conn).get_columns("accounts")}
        with pytest.raises(SiteOwnedError, match="the site owns its users"):
            registry.import_users(conn, database.tables, [("cleo", None)])
    database.dispose()
    assert [(r["username"], r["rank"]) for r in rows] == [("ana", 1), ("ben", 2)]
    assert columns == {"pk", "login", "kaggle_handle", "email"}


def _legacy_metadata() -> MetaData:
    """The tables as revision 0003 of kaggle-lb left them, all unprefixed."""
    metadata = MetaData()
    Table(
        "competitions",
        metadata,
        Column("id", Integer, primary_key=True),
        Column("slug", String(255), unique=True),
        Column("title", String(255)),
        Column("is_active", Boolean, nullable=False),
        Column("score_direction", String(8)),
    )
    Table(
        "users",
        metadata,
        Column("id", Integer, primary_key=True),
        Column("username", String(255), unique=True),
        Column("kaggle_username", String(255)),
    )
    Table(
        "leaderboard_entries",
        metadata,
        Column("id", Integer, primary_key=True),
        Column("competition_id", Integer, nullable=False),
        Column("user_id", Integer, nullable=False),
        Column("rank", Integer, nullable=False),
        Column("score", Float),
        Column("kaggle_team_id", BigInteger),
        Column("kaggle_team_name", String(1024)),
        Column("submission_count", Integer),
        Column("submission_date", DateTime(timezone=True)),
        Column("first_synced_at", DateTime(timezone=True)),
        Column("last_synced_at", DateTime(timezone=True)),
    )
    Table(
        "user_match_keys",
        metadata,
        Column("user_id", Integer, primary_key=True, autoincrement=False),
        Column("match_key", Text, nullable=False, index=True),
        Column("username", Text),
        Column("kaggle_username", Text),
    )
    Table(
        "user_key_changes",
        metadata,
        Column("version", Integer, primary_key=True, autoincrement=False),
        Column("match_key", Text, primary_key=True),
    )
    Table(
        "user_keys_state",
        metadata,
        Column("id", Integer, primary_key=True, autoincrement=False),
        Column("version", Integer, nullable=False),
        Column("log_start", Integer, nullable=False),
        Column("refreshed_at", DateTime(timezone=True)),
    )
    Table("alembic_version", metadata, Column("version_num", String(32), primary_key=True))
    return metadata


def test_a_revision_0003_database_is_upgraded_in_place_without_losing_data(database_url, tmp_path):
    metadata = _legacy_metadata()
    tables = metadata.tables
    synced = datetime(2026, 11, 1, tzinfo=UTC)
    engine = create_engine(resolve_database_url(database_url))
    with engine.begin() as conn:
        metadata.create_all(conn)
        conn.execute(tables["alembic_version"].insert().values(version_num="0003"))
        conn.execute(tables["competitions"].insert().values(id=1, slug="titanic", title="Titanic", is_active=True))
        conn.execute(tables["users"].insert(), [{"id": 1, "username": "ana"}, {"id": 2, "username": "ben"}])
        conn.execute(tables["user_match_keys"].insert().values(user_id=1, match_key="ana", username="ana"))
        conn.execute(tables["user_keys_state"].insert().values(id=1, version=3, log_start=3, refreshed_at=synced))
        conn.execute(
            tables["leaderboard_entries"]
            .insert()
            .values(
                id=5,
                competition_id=1,
                user_id=1,
                rank=4,
                score=0.5,
                kaggle_team_id=10,
                kaggle_team_name="A",
                submission_count=2,
                submission_date=synced,
                first_synced_at=synced,
                last_synced_at=synced,
            )
        )
    engine.dispose()

    database = DatabaseResource(url=database_url, home=str(tmp_path))
    database.initialise()
    with database.begin() as conn:
        names = set(inspect(conn).get_table_names())
        version = conn.execute(text("SELECT version_num FROM kaggle_lb_alembic_version")).scalar_one()
        keys = user_keys.read_state(conn, database.tables)
        stored = standings.read_standings(conn, database.tables, 1)
        site_row = conn.execute(
            select(database.tables.standings.c.site_row_id, database.tables.standings.c.owned)
        ).one()
        # The next sync goes on from the copy: ana moves up, her row (the same one) is updated.
        board = standings.load_entries(conn, database.tables, 1).drop(columns=["id", "site_row_id", "owned"])
        counts = standings.write_standings(conn, database.tables, 1, board.assign(rank=1))
        rows = conn.execute(select(database.tables.entries.c.id, database.tables.entries.c.rank)).all()
        # Every migration together gives kaggle-lb's tables exactly the columns a fresh init creates.
        upgraded = {
            table.name: {column["name"] for column in inspect(conn).get_columns(table.name)}
            for table in own_metadata().sorted_tables
        }
    database.dispose()
    assert upgraded == {table.name: set(table.columns.keys()) for table in own_metadata().sorted_tables}
    assert version == HEAD and "alembic_version" not in names
    assert {"user_match_keys", "user_key_changes", "user_keys_state"}.isdisjoint(names)
    assert keys.version == 4  # version 3 carried over; init's refresh indexed ben
    assert [(r["username"], r["rank"], r["kaggle_team_name"]) for r in stored] == [("ana", 4, "A")]
    assert tuple(site_row) == (5, True)
    assert counts.updated == 1 and rows == [(5, 1)]


def test_a_sites_own_alembic_version_table_is_left_alone(database_url, tmp_path):
    engine = create_engine(resolve_database_url(database_url))
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE alembic_version (version_num VARCHAR(32) PRIMARY KEY)"))
        conn.execute(text("INSERT INTO alembic_version VALUES ('ae1027a6acf')"))
    engine.dispose()
    database = DatabaseResource(url=database_url, home=str(tmp_path))
    database.initialise()
    with database.begin() as conn:
        assert conn.execute(text("SELECT version_num FROM alembic_version")).scalar_one() == "ae1027a6acf"
        assert conn.execute(text("SELECT version_num FROM kaggle_lb_alembic_version")).scalar_one() == HEAD
    database.dispose()
