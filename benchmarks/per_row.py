"""The old Celery task's process phase, re-implemented on kaggle-lb's tables as the baseline.

Deliberately the per-row design: read the CSV into a pandas DataFrame and take its rows one by
one (`iterrows`, as the old task's `row['TeamName']` did); for each member username one query
for its user, then the team name for a row without members; then per credited user an
update-or-create (a SELECT ... FOR UPDATE, then an INSERT or UPDATE) in its own transaction,
as Django's `update_or_create` does in autocommit mode. The matching rules are kaggle-lb's
(Kaggle username else username, ignoring ASCII case; every member; best rank; Rank 0 never), so
both designs must write the same entries. Stale entries are removed at the end with one
DELETE, which the old task never did.

Two lookups, one query per name either way:
- "index": an equality on kaggle-lb's own indexed user_match_keys, the old task's indexed
  `username = ?` with today's rules: the per-row design given the product's index.
- "scan": the users table alone, as the old schema has it. No index holds the key (it spans
  two columns, and SQL's lower() is not casefold()), so each lookup scans: ASCII names are
  compared in SQL, non-ASCII ones are passed to the exact rule in Python.
"""

import io
import time
from datetime import UTC, datetime
from functools import partial

import pandas as pd
from sqlalchemy import Engine, LargeBinary, cast, collate, delete, func, insert, or_, select, update

from kaggle_lb.leaderboard.matching import fold
from kaggle_lb.leaderboard.parsing import DATE_FORMAT, split_members
from kaggle_lb.storage.schema import Tables

LOOKUPS = ("index", "scan")


def _sample_order(count: int, stride: int = 97) -> list[int]:
    """Every row once, in an order whose every prefix is spread evenly over the board, so a run
    cut short by the time budget is a fair sample (top ranks and the long tail alike)."""
    return [i for start in range(stride) for i in range(start, count, stride)]


def _key(username: str | None, kaggle_username: str | None) -> str | None:
    """A user's key, as matching.user_keys computes it for a frame: one user at a time here."""
    kaggle = fold(kaggle_username or "")
    return kaggle or (fold(username) if username is not None else None)


# What Python's str.strip() removes from an ASCII string (str.isspace() within ASCII).
_ASCII_WHITESPACE = " \t\n\r\x0b\x0c\x1c\x1d\x1e\x1f"


def _scan_key(value, dialect: str):
    """`value.strip().casefold()` for ASCII; PostgreSQL's lower() is pinned to the "C" collation."""
    if dialect == "postgresql":
        return func.lower(collate(func.btrim(value, _ASCII_WHITESPACE), "C"))
    return func.lower(func.trim(value, _ASCII_WHITESPACE))


def _non_ascii(value, dialect: str):
    if dialect == "postgresql":
        return func.octet_length(value) != func.char_length(value)
    return func.length(cast(value, LargeBinary)) != func.length(value)


def _lookup_query(tables: Tables, dialect: str, lookup: str, key: str):
    """(id, username, kaggle_username) of the users whose key may be `key`; Python decides."""
    columns = (tables.user_id, tables.username, tables.kaggle_username)
    if lookup == "index":
        index = tables.user_match_keys
        return (
            select(*columns)
            .join_from(index, tables.users, index.c.user_id == tables.user_id)
            .where(index.c.match_key == key)
        )
    kaggle, username = tables.kaggle_username, tables.username
    return select(*columns).where(
        or_(
            _scan_key(kaggle, dialect) == key,
            _non_ascii(kaggle, dialect),
            # The username is the key only where the Kaggle username is unset or blank.
            (kaggle.is_(None) | (_scan_key(kaggle, dialect) == ""))
            & ((_scan_key(username, dialect) == key) | _non_ascii(username, dialect)),
        )
    )


def process(
    engine: Engine,
    tables: Tables,
    competition_id: int,
    content: bytes,
    lookup: str = "index",
    budget_seconds: float | None = None,
) -> dict:
    """Process the board; past `budget_seconds`, stop and extrapolate the row loop linearly in rows."""
    started = time.perf_counter()
    # As text and without NA detection, like the product: team names such as "NA" are names.
    frame = pd.read_csv(io.BytesIO(content), dtype=str, keep_default_na=False, encoding="utf-8-sig")
    records = [row for _, row in frame.iterrows()]
    read_seconds = time.perf_counter() - started
    entries = tables.entries
    synced_at = datetime.now(UTC)
    best: dict[int, tuple[int, int]] = {}  # user id -> (rank, team id) credited by this sync
    queries = done = 0
    query = partial(_lookup_query, tables, engine.dialect.name, lookup)
    started = time.perf_counter()
    with engine.connect() as conn:
        for position in _sample_order(len(records)):
            if budget_seconds is not None and time.perf_counter() - started > budget_seconds:
                break
            done += 1
            record = records[position]
            rank = int(record["Rank"])
            if rank == 0:
                continue
            names = split_members(record["TeamMemberUserNames"]) or [record["TeamName"]]
            user_ids = []
            for name in names:
                key = fold(name)
                if key:
                    user_ids += [user_id for user_id, *both in conn.execute(query(key)) if _key(*both) == key]
                    conn.rollback()  # autocommit reads, as the old task ran
                    queries += 1
            count = record["SubmissionCount"].strip()
            values = {
                "rank": rank,
                "score": float(record["Score"]),
                "kaggle_team_id": int(record["TeamId"]),
                "kaggle_team_name": record["TeamName"],
                "submission_count": int(count) if count else None,
                "submission_date": datetime.strptime(record["LastSubmissionDate"].strip(), DATE_FORMAT).replace(
                    tzinfo=UTC
                ),
                "last_synced_at": synced_at,
            }
            for user_id in user_ids:
                # A user on several teams keeps the best (rank, team id) this sync has seen.
                if best.get(user_id, (rank + 1, 0)) <= (rank, values["kaggle_team_id"]):
                    continue
                best[user_id] = (rank, values["kaggle_team_id"])
                with conn.begin():
                    where = (entries.c.competition_id == competition_id) & (entries.c.user_id == user_id)
                    existing = conn.execute(select(entries.c.id).where(where).with_for_update()).first()
                    if existing is None:
                        conn.execute(
                            insert(entries).values(
                                competition_id=competition_id, user_id=user_id, first_synced_at=synced_at, **values
                            )
                        )
                    else:
                        conn.execute(update(entries).where(entries.c.id == existing.id).values(**values))
                queries += 2
        if done == len(records):
            with conn.begin():
                conn.execute(
                    delete(entries).where(
                        (entries.c.competition_id == competition_id) & (entries.c.last_synced_at < synced_at)
                    )
                )
    seconds = time.perf_counter() - started
    complete = done == len(records)
    return {
        "seconds": read_seconds + (seconds if complete else seconds * len(records) / max(done, 1)),
        "read_seconds": read_seconds,
        "rows_processed": done,
        "rows": len(records),
        "extrapolated": not complete,
        "queries": queries,
    }


def main(argv: list[str] | None = None) -> None:
    """The per-row design as a process of its own (benchmarks/whole_process.py): one board into the
    database's entries, each name looked up through the key index."""
    import argparse
    from pathlib import Path

    from kaggle_lb.resources.database import DatabaseResource
    from kaggle_lb.storage import registry

    parser = argparse.ArgumentParser(description=main.__doc__)
    for name in ("--database-url", "--home", "--slug", "--board"):
        parser.add_argument(name, required=True)
    args = parser.parse_args(argv)
    database = DatabaseResource(url=args.database_url, home=args.home)
    with database.begin() as conn:
        competition_id = registry.get_competition(conn, database.tables, args.slug).id
    process(database.engine, database.tables, competition_id, Path(args.board).read_bytes(), "index")
    database.dispose()


if __name__ == "__main__":
    main()
