"""Schema creation: idempotent, migration-ready, and able to read an application's own users table."""

import pandas as pd
from sqlalchemy import Column, Integer, MetaData, String, Table, create_engine, inspect, text

from kaggle_lb.leaderboard.matching import match_entries
from kaggle_lb.resources.database import DatabaseResource, resolve_database_url
from kaggle_lb.storage import registry, standings, user_keys


def test_plain_postgresql_url_uses_the_installed_psycopg2_driver():
    assert resolve_database_url("postgresql://app:pw@db/site").drivername == "postgresql+psycopg2"
    assert resolve_database_url("postgres://app@db/site").drivername == "postgresql+psycopg2"
    assert resolve_database_url(None, "/data").render_as_string() == "sqlite:////data/kaggle_lb.sqlite3"


def test_password_is_masked_in_the_display_url():
    assert "s3cret" not in DatabaseResource(url="postgresql://app:s3cret@db/site").display_url


def test_schema_creation_is_idempotent_and_stamped_for_migrations(database_url, tmp_path):
    for _ in range(2):
        database = DatabaseResource(url=database_url, home=str(tmp_path))
        with database.begin() as conn:
            registry.add_competition(conn, database.tables, "titanic")
            version = conn.execute(text("SELECT version_num FROM alembic_version")).scalar_one()
        database.dispose()
    assert version == "0003"
    with database.begin() as conn:
        assert [c.slug for c in registry.list_competitions(conn, database.tables)] == ["titanic"]
    database.dispose()


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
    database = DatabaseResource(
        url=database_url,
        home=str(tmp_path),
        users_table="accounts",
        users_id_column="pk",
        users_username_column="login",
        users_kaggle_username_column="kaggle_handle",
    )
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
    database.dispose()
    assert [(r["username"], r["rank"]) for r in rows] == [("ana", 1), ("ben", 2)]
    assert columns == {"pk", "login", "kaggle_handle", "email"}


def test_an_older_database_is_upgraded_in_place_without_losing_data(database_url, tmp_path):
    database = DatabaseResource(url=database_url, home=str(tmp_path))
    with database.begin() as conn:
        registry.add_competition(conn, database.tables, "titanic", "Titanic")
        # Take the database back to revision 0001, as a deployment of that version left it.
        conn.execute(text("ALTER TABLE competitions DROP COLUMN score_direction"))
        for table in ("user_match_keys", "user_key_changes", "user_keys_state"):
            conn.execute(text(f"DROP TABLE {table}"))
        conn.execute(text("UPDATE alembic_version SET version_num = '0001'"))
    database.dispose()

    upgraded = DatabaseResource(url=database_url, home=str(tmp_path))
    with upgraded.begin() as conn:
        registry.set_score_direction(conn, upgraded.tables, "titanic", "higher")
        competition = registry.get_competition(conn, upgraded.tables, "titanic")
        version = conn.execute(text("SELECT version_num FROM alembic_version")).scalar_one()
        keys = user_keys.read_state(conn, upgraded.tables)
    upgraded.dispose()
    assert (competition.title, competition.score_direction, version) == ("Titanic", "higher", "0003")
    assert (keys.version, keys.refreshed_at) == (0, None)
