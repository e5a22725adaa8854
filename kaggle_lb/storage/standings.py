"""Writing one competition's standings as a diff, and reading them back.

The caller runs `write_standings` inside one transaction per competition: either the whole new
board lands (inserts, updates and removals together) or the previous standings stay as they were.
"""

from dataclasses import asdict, dataclass
from datetime import datetime, timezone

import pandas as pd
from sqlalchemy import Connection, bindparam, cast, delete, func, select, update

from kaggle_lb.leaderboard.matching import ENTRY_DTYPES
from kaggle_lb.storage.bulk import insert_rows, json_values, python_rows
from kaggle_lb.storage.schema import Tables

ENTRY_COLUMNS = list(ENTRY_DTYPES)
# The columns whose change makes an entry "updated"; the sync timestamps are bookkeeping.
_COMPARED = ENTRY_COLUMNS[1:]


@dataclass(frozen=True)
class SyncCounts:
    created: int
    updated: int
    unchanged: int
    removed: int

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


def _as_utc(values: pd.Series) -> pd.Series:
    """SQLite hands timestamps back without a zone; every stored timestamp is UTC."""
    stamps = pd.to_datetime(values)
    if getattr(stamps.dt, "tz", None) is None:
        return stamps.dt.tz_localize("UTC")
    return stamps.dt.tz_convert("UTC")


def _normalise(frame: pd.DataFrame) -> pd.DataFrame:
    """The matcher's dtypes, whatever the driver handed back; columns already right are kept as they are."""
    wrong = {column: dtype for column, dtype in ENTRY_DTYPES.items() if frame[column].dtype != dtype}
    dates = wrong.pop("submission_date", None)
    frame = frame.astype(wrong) if wrong else frame
    return frame.assign(submission_date=_as_utc(frame["submission_date"])) if dates else frame


def load_entries(conn: Connection, tables: Tables, competition_id: int) -> pd.DataFrame:
    entries = tables.leaderboard_entries
    rows = conn.execute(
        select(entries.c.id, *(entries.c[name] for name in ENTRY_COLUMNS)).where(
            entries.c.competition_id == competition_id
        )
    ).all()
    frame = pd.DataFrame.from_records(rows, columns=["id", *ENTRY_COLUMNS])
    return _normalise(frame)


def _changed(both: pd.DataFrame) -> pd.Series:
    """Rows of new and old columns (the old ones suffixed "_old") where a compared value differs;
    two missing values count as equal."""
    new = both[_COMPARED]
    old = both[[f"{column}_old" for column in _COMPARED]].set_axis(_COMPARED, axis=1)
    same = new.eq(old).fillna(False) | (new.isna() & old.isna())
    return ~same.all(axis=1)


def _lock_competition(conn: Connection, tables: Tables, competition_id: int) -> None:
    """Serialize the writers of one competition: a second one waits here until the first commits,
    then diffs against its result instead of inserting the same entries again."""
    competitions = tables.competitions
    if conn.dialect.name == "sqlite":
        # No row locks: a write takes the database's write lock, waiting out another writer. The
        # driver opens the transaction at the first write, so the diff's reads come after the wait.
        conn.execute(update(competitions).where(competitions.c.id == competition_id).values(id=competitions.c.id))
    else:
        conn.execute(select(competitions.c.id).where(competitions.c.id == competition_id).with_for_update())


def _existing_user_ids(conn: Connection, tables: Tables, user_ids: pd.Series) -> set[int]:
    """Those of `user_ids` still in the users table, locked against deletion until the transaction
    ends (PostgreSQL; SQLite's write lock already holds deletes off): a user deleted since the
    matcher read the users must not fail the insert with a foreign key error."""
    ids = json_values(user_ids.tolist(), conn.dialect.name)
    query = (
        select(tables.user_id)
        .select_from(ids.join(tables.users, tables.user_id == cast(ids.c.value, tables.user_id.type)))
        .with_for_update(read=True, key_share=True, of=tables.users)
    )
    return set(conn.execute(query).scalars().all())


def write_standings(
    conn: Connection,
    tables: Tables,
    competition_id: int,
    entries: pd.DataFrame,
    synced_at: datetime | None = None,
) -> SyncCounts:
    """Make the competition's entries equal `entries`: insert new, update changed, delete gone."""
    synced_at = synced_at or datetime.now(timezone.utc)
    table = tables.leaderboard_entries
    _lock_competition(conn, tables, competition_id)
    new = _normalise(entries[ENTRY_COLUMNS])
    old = load_entries(conn, tables, competition_id)

    to_insert = new[~new["user_id"].isin(old["user_id"])]
    if len(to_insert):
        to_insert = to_insert[to_insert["user_id"].isin(_existing_user_ids(conn, tables, to_insert["user_id"]))]
    to_delete = old[~old["user_id"].isin(new["user_id"])]
    both = new.merge(old, on="user_id", suffixes=("", "_old"))
    to_update = both[_changed(both)] if len(both) else both  # a first sync has nothing to compare

    if len(to_delete):
        ids = [int(i) for i in to_delete["id"]]
        # Chunked so a board that lost thousands of users stays under SQLite's bind-parameter limit.
        for start in range(0, len(ids), 10_000):
            conn.execute(delete(table).where(table.c.id.in_(ids[start : start + 10_000])))
    if len(to_update):
        params = [
            {"b_id": int(row.pop("id")), **row, "last_synced_at": synced_at}
            for row in python_rows(to_update[["id", *_COMPARED]])
        ]
        # Without .values(), the SET clause comes from the parameter keys (one executemany).
        conn.execute(update(table).where(table.c.id == bindparam("b_id")), params)
    insert_rows(
        conn,
        table,
        to_insert.assign(competition_id=competition_id, first_synced_at=synced_at, last_synced_at=synced_at),
    )

    return SyncCounts(
        created=len(to_insert),
        updated=len(to_update),
        unchanged=len(both) - len(to_update),
        removed=len(to_delete),
    )


def count_entries(conn: Connection, tables: Tables, competition_id: int) -> int:
    entries = tables.leaderboard_entries
    query = select(func.count()).select_from(entries).where(entries.c.competition_id == competition_id)
    return conn.execute(query).scalar_one()


def read_standings(conn: Connection, tables: Tables, competition_id: int) -> list[dict]:
    """The platform's entries for one competition in rank order, with the platform username."""
    entries = tables.leaderboard_entries
    query = (
        select(
            tables.username.label("username"),
            entries.c.rank,
            entries.c.score,
            entries.c.kaggle_team_id,
            entries.c.kaggle_team_name,
            entries.c.submission_count,
            entries.c.submission_date,
        )
        .join(tables.users, tables.user_id == entries.c.user_id)
        .where(entries.c.competition_id == competition_id)
        .order_by(entries.c.rank, tables.username)
    )
    return [dict(row._mapping) for row in conn.execute(query)]
