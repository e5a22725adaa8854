"""ML-Battle's database as its Django migrations create it (kaggle_lb_tests/data/sites/ml-battle),
seeded as the site itself would: users with and without a Kaggle username, competitions that are
ongoing, completed and upcoming (one with a Kaggle URL for its id, one with an id that is neither),
registration rows, and the user-less rows its old Celery task left for Kaggle-only teams."""

from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import Connection, MetaData, Table, create_engine, inspect, text

from kaggle_lb.resources.database import resolve_database_url
from kaggle_lb_tests.fixtures import ML_BATTLE_DIR

REPO = Path(__file__).resolve().parents[2]
SITE_SCHEMA = REPO / "deploy" / "sites" / "ml-battle.toml"
NOW = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)

HOUSE_PRICES = "house-prices-advanced-regression-techniques"
FCEN = "fcen-dm-2026-prediccion-precio-de-propiedades"
ONGOING = [FCEN, HOUSE_PRICES]
EXPORTS = {
    HOUSE_PRICES: "house-prices-advanced-regression-techniques-publicleaderboard-2025-07-07T16_40_20.csv",
    FCEN: "fcen-dm-2026-prediccion-precio-de-propiedades-privateleaderboard-2026-04-29T223756.csv",
    "orbit-wars": "orbit-wars-publicleaderboard-2026-05-05T15_36_33.csv",
}

# (username, kaggle_username): members of the boards under their Kaggle names (in another case,
# too), one matched by their site username alone, one with a typo, one who is on no board.
USERS = [
    ("szu", "Bayes2003"),  # house prices, rank 1
    ("computervisi", None),  # house prices, rank 2, by username
    ("ariel", "arielrojas"),  # fcen, rank 1
    ("ludmila", "LudmilaVergini"),  # fcen, rank 2
    ("typo", "ludmila-vergini"),  # registered for fcen, but no such member
    ("nobody", None),
]
# (competition id, slug column, status, higher is better)
COMPETITIONS = [
    (1, FCEN, "ongoing", False),
    (2, f"https://www.kaggle.com/competitions/{HOUSE_PRICES}/leaderboard", "ongoing", False),
    (3, "orbit-wars", "completed", True),
    (4, "titanic", "upcoming", True),
    (5, "not a kaggle id!", "ongoing", True),
]


def load_schema(url: str) -> None:
    """ML-Battle's schema, created by its own SQL dump (no kaggle-lb code involved)."""
    engine = create_engine(resolve_database_url(url))
    kind = "sqlite" if engine.dialect.name == "sqlite" else "postgresql"
    script = (ML_BATTLE_DIR / f"schema.{kind}.sql").read_text()
    raw = engine.raw_connection()
    try:
        if kind == "sqlite":
            raw.driver_connection.executescript(script)
        else:
            with raw.cursor() as cursor:
                cursor.execute(script)
        raw.commit()
    finally:
        raw.close()
        engine.dispose()


def _user(user_id: int, username: str, kaggle_username: str | None) -> dict:
    return {
        "id": user_id,
        "password": "pbkdf2_sha256$600000$x$y",
        "last_login": None,
        "is_superuser": False,
        "username": username,
        "first_name": "",
        "last_name": "",
        "is_staff": False,
        "is_active": True,
        "date_joined": NOW,
        "email": f"{username}@example.org",
        "elo_rating": 1200,
        "highest_rating": 1200,
        "competitions_participated": 0,
        "kaggle_username": kaggle_username,
        "bio": None,
        "avatar_url": None,
        "created_at": NOW,
        "updated_at": NOW,
    }


def _competition(row_id: int, kaggle_id: str, status: str, higher_is_better: bool) -> dict:
    return {
        "id": row_id,
        "title": f"Competition {row_id}",
        "description": "",
        "kaggle_competition_id": kaggle_id,
        "kaggle_url": "",
        "start_date": NOW,
        "end_date": NOW,
        "status": status,
        "rating_weight": 1.0,
        "max_submissions_per_day": 5,
        "evaluation_metric": "rmse",
        "prize_pool": "",
        "participants_count": 0,
        "created_at": NOW,
        "updated_at": NOW,
        "event_id": None,
        "higher_is_better": higher_is_better,
        "metric_max_value": 100000.0,
        "metric_min_value": 0.0,
        "points_for_perfect_score": 100.0,
    }


def _entry(row_id: int, competition_id: int, user_id: int | None, rank: int, team: str | None) -> dict:
    return {
        "id": row_id,
        "best_score": 0.0,
        "rank": rank,
        "submissions_count": 0,
        "last_submission_time": None,
        "competition_id": competition_id,
        "kaggle_team_name": team,
        "score": 0.0,
        "submission_date": None,
        "user_id": user_id,
    }


# Registrations (rank 0 rows the site makes) and the old task's user-less rows.
REGISTRATIONS = [
    _entry(1, 1, 3, 0, None),  # ariel, on the fcen board: this row is updated
    _entry(2, 1, 5, 0, None),  # typo, not on the board: this row stays as it is
    _entry(3, 3, 3, 0, None),  # ariel in a completed competition: never touched
]
OLD_TASK_ROWS = [
    _entry(4, 1, None, 3, "Some Kaggle-only team"),
    _entry(5, 2, None, 7, "Another Kaggle-only team"),
]


def seed(url: str) -> None:
    engine = create_engine(resolve_database_url(url))
    metadata = MetaData()
    with engine.begin() as conn:
        tables = {
            name: Table(name, metadata, autoload_with=conn) for name in ("users", "competitions", "leaderboard_entries")
        }
        conn.execute(tables["users"].insert(), [_user(i, *user) for i, user in enumerate(USERS, start=1)])
        conn.execute(tables["competitions"].insert(), [_competition(*row) for row in COMPETITIONS])
        conn.execute(tables["leaderboard_entries"].insert(), REGISTRATIONS + OLD_TASK_ROWS)
        if conn.dialect.name == "postgresql":
            # Django's identity sequences follow the explicit ids, as after rows the site made itself.
            for name in tables:
                conn.execute(
                    text(f"SELECT setval(pg_get_serial_sequence('{name}', 'id'), (SELECT max(id) FROM {name}))")
                )
    engine.dispose()


def site_tables(conn: Connection) -> list[str]:
    return sorted(name for name in inspect(conn).get_table_names() if not name.startswith("kaggle_lb_"))


def schema_snapshot(url: str) -> dict:
    """Every site table's definition: columns, keys, indexes (and, on PostgreSQL, triggers)."""
    engine = create_engine(resolve_database_url(url))
    with engine.connect() as conn:
        inspector = inspect(conn)
        snapshot = {
            name: (
                [
                    (c["name"], str(c["type"]), c["nullable"], str(c.get("default")))
                    for c in inspector.get_columns(name)
                ],
                inspector.get_pk_constraint(name),
                sorted(str(fk) for fk in inspector.get_foreign_keys(name)),
                sorted(str(index) for index in inspector.get_indexes(name)),
                sorted(str(unique) for unique in inspector.get_unique_constraints(name)),
            )
            for name in site_tables(conn)
        }
        if conn.dialect.name == "postgresql":
            snapshot["triggers"] = sorted(
                map(tuple, conn.execute(text("SELECT tgrelid::regclass::text, tgname FROM pg_trigger")).all())
            )
        else:
            snapshot["pragmas"] = conn.exec_driver_sql("PRAGMA journal_mode").scalar()
    engine.dispose()
    return snapshot


def rows_snapshot(url: str, tables: list[str] | None = None) -> dict[str, list[tuple]]:
    """Every row of the site's tables (or of `tables`), in id order."""
    engine = create_engine(resolve_database_url(url))
    with engine.connect() as conn:
        names = tables or site_tables(conn)
        metadata = MetaData()
        snapshot = {}
        for name in names:
            table = Table(name, metadata, autoload_with=conn, resolve_fks=False)
            order = list(table.primary_key.columns) or list(table.columns)
            snapshot[name] = [tuple(row) for row in conn.execute(table.select().order_by(*order))]
    engine.dispose()
    return snapshot


def entries(url: str) -> list[dict]:
    engine = create_engine(resolve_database_url(url))
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT * FROM leaderboard_entries ORDER BY id")).mappings().all()
    engine.dispose()
    return [dict(row) for row in rows]
