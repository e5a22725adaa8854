"""How big kaggle_lb_history grows: rows per change on the board and bytes per row.

    python -m benchmarks.history_size [--rows 15000] [--polls 60] [--improvements 2]

A board of ROWS teams, every tenth one a site user (as in the sync benchmark), written through
`standings.write_standings` poll after poll; at each poll IMPROVEMENTS random teams improve their
score and climb to a random place above their own, pushing every team in between down one
place, as a real submission does. Prints the history rows per improvement and the bytes per
row on SQLite (the file's growth) and PostgreSQL (the table's size with its indexes, when
KAGGLE_LB_TEST_POSTGRES_URL names a server), and what a month of polls at that rate comes to.
"""

import argparse
import os
import random
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd
from sqlalchemy import func, select, text

from kaggle_lb.resources.database import DatabaseResource
from kaggle_lb.storage import registry, standings

POLLS_A_MONTH = 30 * 24 * 12


def _board(scores: list[float]) -> pd.DataFrame:
    """Standings of the site users: team t (a user when t % 10 == 0) ranked by its score."""
    order = sorted(range(len(scores)), key=lambda team: -scores[team])
    ranked = [(place, team) for place, team in enumerate(order, start=1) if team % 10 == 0]
    return pd.DataFrame(
        {
            "user_id": [team // 10 + 1 for _, team in ranked],
            "rank": [place for place, _ in ranked],
            "score": [scores[team] for _, team in ranked],
            "kaggle_team_id": [team + 1 for _, team in ranked],
            "kaggle_team_name": [f"team {team}" for _, team in ranked],
            "submission_count": pd.array([1] * len(ranked), dtype="Int64"),
            "submission_date": pd.Timestamp("2026-11-01", tz="UTC"),
        }
    )


def measure(database: DatabaseResource, rows: int, polls: int, improvements: int, seed: int = 17) -> dict:
    database.initialise()
    with database.begin() as conn:
        registry.add_competition(conn, database.tables, "history-size")
        registry.import_users(conn, database.tables, [(f"user{i}", None) for i in range(rows // 10 + 1)])
        competition = registry.get_competition(conn, database.tables, "history-size").id
    rng = random.Random(seed)
    scores = [rng.random() for _ in range(rows)]
    start = datetime(2026, 11, 1, tzinfo=UTC)
    with database.begin() as conn:
        standings.write_standings(conn, database.tables, competition, _board(scores), synced_at=start)
    first = _history_size(database)
    for poll in range(1, polls + 1):
        for team in rng.sample(range(rows), improvements):
            scores[team] = rng.uniform(scores[team], max(scores) + 1e-6)
        with database.begin() as conn:
            standings.write_standings(
                conn, database.tables, competition, _board(scores), synced_at=start + timedelta(minutes=5 * poll)
            )
    last = _history_size(database)
    added_rows, added_bytes = last[0] - first[0], last[1] - first[1]
    per_improvement = added_rows / (polls * improvements)
    per_row = added_bytes / added_rows if added_rows else 0
    return {
        "first sync rows": first[0],
        "rows per improvement": round(per_improvement, 1),
        "bytes per row": round(per_row),
        "a month, per daily improvement (MB)": round(per_improvement * 30 * per_row / 1e6, 2),
    }


def _history_size(database: DatabaseResource) -> tuple[int, int]:
    with database.begin() as conn:
        rows = conn.execute(select(func.count()).select_from(database.tables.history)).scalar_one()
        if conn.dialect.name == "postgresql":
            size = conn.execute(text("SELECT pg_total_relation_size('kaggle_lb_history')")).scalar_one()
        else:
            pages = conn.execute(text("PRAGMA page_count")).scalar_one()
            size = pages * conn.execute(text("PRAGMA page_size")).scalar_one()
    return rows, size


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=15_000)
    parser.add_argument("--polls", type=int, default=60)
    parser.add_argument("--improvements", type=int, default=2)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as directory:
        sqlite = DatabaseResource(url=f"sqlite:///{Path(directory) / 'history.sqlite3'}", home=directory)
        print("sqlite", measure(sqlite, args.rows, args.polls, args.improvements))
        sqlite.dispose()
        if os.environ.get("KAGGLE_LB_TEST_POSTGRES_URL"):
            from kaggle_lb_tests.postgres import fresh_postgres_url

            with fresh_postgres_url() as url:
                postgres = DatabaseResource(url=url, home=directory)
                print("postgresql", measure(postgres, args.rows, args.polls, args.improvements))
                postgres.dispose()


if __name__ == "__main__":
    main()
