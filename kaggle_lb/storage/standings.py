"""Writing one competition's standings, and reading them back.

kaggle-lb keeps the standings it computed in its own `kaggle_lb_standings`, written as a diff
(new ones inserted, changed ones updated, unchanged ones untouched, gone ones deleted), and from
there writes the site's entries table through the site schema's columns, in SQL:

- a site row is found by (competition, user); a row the site made itself (a registration) is
  updated and never deleted, a row kaggle-lb inserted is recorded as owned and is deleted when
  its standing goes;
- only rows whose mapped values differ are updated, so a site row the site reset or deleted is
  written again by the next sync;
- rows with no user are never read or touched unless kaggle-lb inserted them.

Every change of a site user's standing (entered, moved, left) is recorded in kaggle_lb_history
by the same write (storage.history). The caller runs `write_standings` inside one transaction
per competition: either the whole new board lands, in all three tables, or the previous
standings stay exactly as they were.
"""

from dataclasses import asdict, dataclass
from datetime import UTC, datetime

import numpy as np
import pandas as pd
from sqlalchemy import (
    Connection,
    and_,
    bindparam,
    cast,
    delete,
    func,
    insert,
    literal,
    literal_column,
    or_,
    select,
    type_coerce,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.sql.elements import ColumnElement

from kaggle_lb.leaderboard.matching import ENTRY_DTYPES
from kaggle_lb.storage import history
from kaggle_lb.storage.bulk import insert_rows, json_values, python_rows
from kaggle_lb.storage.schema import PUBLIC, Tables
from kaggle_lb.storage.site_schema import BUILT_IN_ENTRY_COLUMNS
from kaggle_lb.storage.standings_read import read_standings  # noqa: F401 (kept importable from here)

ENTRY_COLUMNS = list(ENTRY_DTYPES)
# kaggle_lb_standings names its columns as the site schema's fields; the matcher names them as the
# built-in entries table does.
_STANDINGS_COLUMN = {"user_id": "user_id"} | {
    column: field for column, field in BUILT_IN_ENTRY_COLUMNS.items() if column in ENTRY_DTYPES
}
# The columns whose change makes an entry "updated"; the sync timestamps are bookkeeping.
_COMPARED = [*ENTRY_COLUMNS[1:], "board"]
_DTYPES = {**ENTRY_DTYPES, "user_id": "Int64", "board": "object"}  # NA: a team no site user was credited for
_CHUNK = 10_000  # ids per DELETE: under SQLite's bind-parameter limit


class SiteWriteError(Exception):
    """A value the site's entries table cannot take; nothing is written."""


class CompetitionRemovedError(Exception):
    """The competition's row is gone: it was removed after its sync began; nothing is written."""


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
    """The writer's dtypes, whatever the driver handed back; columns already right are kept as they are."""
    wrong = {column: dtype for column, dtype in _DTYPES.items() if frame[column].dtype != dtype}
    dates = wrong.pop("submission_date", None)
    frame = frame.astype(wrong) if wrong else frame
    return frame.assign(submission_date=_as_utc(frame["submission_date"])) if dates else frame


def _keys(frame: pd.DataFrame) -> np.ndarray:
    """Each standing's identity: its user, or for a user-less row its Kaggle team."""
    users = frame["user_id"]
    teams = "t" + frame["kaggle_team_id"].astype(str)
    return np.where(users.isna(), teams, "u" + users.astype(str))


def _load(conn: Connection, tables: Tables, competition_id: int, users_only: bool) -> pd.DataFrame:
    own = tables.standings
    query = select(
        own.c.id,
        own.c.site_row_id,
        own.c.owned,
        *(own.c[_STANDINGS_COLUMN[name]].label(name) for name in ENTRY_COLUMNS),
        own.c.board,
    ).where(own.c.competition_id == competition_id)
    if users_only:
        query = query.where(own.c.user_id.is_not(None))
    columns = ["id", "site_row_id", "owned", *ENTRY_COLUMNS, "board"]
    return _normalise(pd.DataFrame.from_records(conn.execute(query).all(), columns=columns))


def load_entries(conn: Connection, tables: Tables, competition_id: int) -> pd.DataFrame:
    """The competition's standings of site users, in the matcher's columns."""
    return _load(conn, tables, competition_id, users_only=True).drop(columns="board").astype({"user_id": "int64"})


def _changed(both: pd.DataFrame) -> pd.Series:
    """Rows of new and old columns (the old ones suffixed "_old") where a compared value differs;
    two missing values count as equal."""
    new = both[_COMPARED]
    old = both[[f"{column}_old" for column in _COMPARED]].set_axis(_COMPARED, axis=1)
    same = new.eq(old).fillna(False) | (new.isna() & old.isna())
    return ~same.all(axis=1)


def _lock_competition(conn: Connection, tables: Tables, competition_id: int, synced_at: datetime) -> None:
    """Serialize the writers of one competition on kaggle-lb's own row for it: a second one waits
    here until the first commits, then diffs against its result instead of inserting the same
    entries again. SQLite has no row locks: the write takes the database's write lock, and the
    driver opens the transaction at it, so the diff's reads come after the wait."""
    syncs = tables.syncs
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    conn.execute(dialect.insert(syncs).values(competition_id=competition_id).on_conflict_do_nothing())
    conn.execute(update(syncs).where(syncs.c.competition_id == competition_id).values(synced_at=synced_at))


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


def _check_lengths(tables: Tables, new: pd.DataFrame) -> None:
    """A team name longer than the site's column would fail the whole write: refuse it by name."""
    mapping = tables.schema.entries
    for column in mapping.columns:
        limit = getattr(tables.entries.c[column].type, "length", None)
        if mapping.field_of(column) != "team_name" or not limit:
            continue
        names = new["kaggle_team_name"]
        too_long = new[names.str.len() > limit]
        if len(too_long):
            row = too_long.iloc[0]
            raise SiteWriteError(
                f"team {row['kaggle_team_id']}'s name is {len(row['kaggle_team_name'])} characters, over the "
                f"{limit} of {mapping.table}.{column} ({len(too_long)} such team(s)); nothing was written"
            )


def write_standings(
    conn: Connection,
    tables: Tables,
    competition_id: int,
    entries: pd.DataFrame,
    synced_at: datetime | None = None,
    board: str = PUBLIC,
) -> SyncCounts:
    """Make the competition's standings equal `entries` (the matcher's columns; a missing user_id
    is an unmatched team), from Kaggle's `board` ("public" or "private"), in kaggle-lb's table and
    in the site's, and record each user's change in the history. Raises CompetitionRemovedError
    when the competition's row is gone; the caller's rollback then leaves no trace of the write."""
    synced_at = synced_at or datetime.now(UTC)
    own = tables.standings
    _lock_competition(conn, tables, competition_id, synced_at)
    # Under the lock, so the reads below come after any removal it waited for: a competition
    # removed since the caller looked it up gets nothing, not standings for no competition.
    competitions_id = tables.competitions.c[tables.schema.competitions.id]
    if conn.execute(select(competitions_id).where(competitions_id == competition_id)).first() is None:
        raise CompetitionRemovedError(
            f"competition {competition_id} is no longer in {tables.schema.competitions.table}"
        )
    new = _normalise(entries[ENTRY_COLUMNS].assign(board=board))
    _check_lengths(tables, new)
    new = new.assign(key=_keys(new))
    old = _load(conn, tables, competition_id, users_only=False)
    old = old.assign(key=_keys(old))

    to_insert = new[~new["key"].isin(old["key"])]
    users = to_insert["user_id"].dropna()
    if len(users):
        gone = ~users.isin(_existing_user_ids(conn, tables, users))
        to_insert = to_insert.drop(index=gone[gone].index)
    to_delete = old[~old["key"].isin(new["key"])]
    both = new.merge(old, on="key", suffixes=("", "_old"))
    to_update = both[_changed(both)] if len(both) else both  # a first sync has nothing to compare

    if len(to_delete):
        _delete_owned_site_rows(conn, tables, competition_id, to_delete)
        ids = [int(i) for i in to_delete["id"]]
        for start in range(0, len(ids), _CHUNK):
            conn.execute(delete(own).where(own.c.id.in_(ids[start : start + _CHUNK])))
    if len(to_update):
        changed = to_update[["id", *_COMPARED]].rename(columns=_STANDINGS_COLUMN)
        params = [{"b_id": int(row.pop("id")), **row, "last_synced": synced_at} for row in python_rows(changed)]
        # Without .values(), the SET clause comes from the parameter keys (one executemany).
        conn.execute(update(own).where(own.c.id == bindparam("b_id")), params)
    insert_rows(
        conn,
        own,
        to_insert[[*ENTRY_COLUMNS, "board"]]
        .rename(columns=_STANDINGS_COLUMN)
        .assign(competition_id=competition_id, first_synced=synced_at, last_synced=synced_at, owned=False),
    )
    _write_site_rows(conn, tables, competition_id)
    history.record(conn, tables, competition_id, to_insert, to_update, to_delete, board, synced_at)
    return SyncCounts(
        created=len(to_insert),
        updated=len(to_update),
        unchanged=len(both) - len(to_update),
        removed=len(to_delete),
    )


def _delete_owned_site_rows(conn: Connection, tables: Tables, competition_id: int, gone: pd.DataFrame) -> None:
    mapping, site = tables.schema.entries, tables.entries
    owned = gone[gone["owned"].astype(bool) & gone["site_row_id"].notna()]
    ids = [int(i) for i in owned["site_row_id"]]
    for start in range(0, len(ids), _CHUNK):
        conn.execute(
            delete(site).where(
                site.c[mapping.id].in_(ids[start : start + _CHUNK]), site.c[mapping.competition] == competition_id
            )
        )


def _linked(tables: Tables):
    """A standing's site row is still its own: there, in its competition, held by its user (or, for
    a user-less standing, by nobody)."""
    mapping, site, own = tables.schema.entries, tables.entries, tables.standings
    site_id, site_competition, site_user = (site.c[mapping.id], site.c[mapping.competition], site.c[mapping.user])
    same_holder = or_(site_user == own.c.user_id, and_(site_user.is_(None), own.c.user_id.is_(None)))
    return select(site_id).where(site_id == own.c.site_row_id, site_competition == own.c.competition_id, same_holder)


def _site_values(tables: Tables):
    """The standing aliased `entry`, its competition aliased `competition`, and each mapped site
    column's value computed from them, as the site schema says."""
    mapping = tables.schema.entries
    entry = tables.standings.alias("entry")
    competition = tables.competitions.alias("competition")
    computed: dict[str, ColumnElement] = {
        column: literal_column(mapping.expression(column)) for column in mapping.columns
    }
    return entry, competition, computed


def _stale_site_rows(tables: Tables, competition_id: int, entry, competition, computed):
    """The competition's site rows whose mapped values differ from what their standings compute."""
    mapping, site = tables.schema.entries, tables.entries
    competitions_id = competition.c[tables.schema.competitions.id]
    return (
        site.c[mapping.id] == entry.c.site_row_id,
        entry.c.competition_id == competition_id,
        competitions_id == entry.c.competition_id,
        or_(*(site.c[column].is_distinct_from(value) for column, value in computed.items())),
    )


def site_rows_differ(conn: Connection, tables: Tables, competition_id: int) -> bool:
    """Whether the site's entries table no longer holds exactly what the competition's standings
    write there: a row the site deleted, moved or changed. Read-only; what the next sync repairs."""
    own, site = tables.standings, tables.entries
    unwritten = (
        select(own.c.id)
        .where(own.c.competition_id == competition_id, or_(own.c.site_row_id.is_(None), ~_linked(tables).exists()))
        .limit(1)
    )
    if conn.execute(unwritten).first() is not None:
        return True
    entry, competition, computed = _site_values(tables)
    changed = select(site.c[tables.schema.entries.id]).where(
        *_stale_site_rows(tables, competition_id, entry, competition, computed)
    )
    return conn.execute(changed.limit(1)).first() is not None


def _write_site_rows(conn: Connection, tables: Tables, competition_id: int) -> None:
    """The site's entries from kaggle_lb_standings, set-based: link, update what differs, insert."""
    mapping, site, own = tables.schema.entries, tables.entries, tables.standings
    site_id, site_competition, site_user = (site.c[mapping.id], site.c[mapping.competition], site.c[mapping.user])

    # Link each standing whose site row is unknown or gone to the site's own row for its user,
    # if there is one. A user-less standing has only the row kaggle-lb inserted for it.
    site_row = (
        select(func.min(site_id))
        .where(site_competition == own.c.competition_id, site_user == own.c.user_id)
        .scalar_subquery()
    )
    conn.execute(
        update(own)
        .where(own.c.competition_id == competition_id, ~_linked(tables).exists())
        .values(site_row_id=site_row, owned=False)
    )

    entry, competition, computed = _site_values(tables)
    conn.execute(
        update(site)
        .values({site.c[column]: value for column, value in computed.items()})
        .where(*_stale_site_rows(tables, competition_id, entry, competition, computed))
    )

    competitions_id = competition.c[tables.schema.competitions.id]
    unwritten = (
        entry.join(competition, competitions_id == entry.c.competition_id),
        (entry.c.competition_id == competition_id) & entry.c.site_row_id.is_(None),
    )
    _insert_user_rows(conn, tables, competition_id, computed, *unwritten)
    _insert_team_rows(conn, tables, competition_id, computed, *unwritten)


def _insert_user_rows(conn, tables: Tables, competition_id: int, computed: dict, source, unwritten) -> None:
    """One INSERT ... SELECT for the users' new rows: a user has one row per competition, so the
    returned (id, user) pairs tell each standing its row."""
    mapping, site, own = tables.schema.entries, tables.entries, tables.standings
    entry = source.left
    query = (
        select(literal(competition_id), entry.c.user_id, *computed.values())
        .select_from(source)
        .where(unwritten, entry.c.user_id.is_not(None))
    )
    inserted = conn.execute(
        insert(site)
        .from_select([mapping.competition, mapping.user, *computed], query)
        .returning(site.c[mapping.id], site.c[mapping.user])
    ).all()
    if inserted:
        conn.execute(
            update(own)
            .where(own.c.competition_id == competition_id, own.c.user_id == bindparam("b_user"))
            .values(site_row_id=bindparam("b_site"), owned=True),
            [{"b_user": user_id, "b_site": site_row_id} for site_row_id, user_id in inserted],
        )


def _insert_team_rows(conn, tables: Tables, competition_id: int, computed: dict, source, unwritten) -> None:
    """The user-less rows (entries.unmatched_teams): their values computed by the database, then
    inserted with the ids returned in the rows' order, since nothing else tells them apart."""
    mapping, site, own = tables.schema.entries, tables.entries, tables.standings
    entry = source.left
    rows = conn.execute(
        select(
            entry.c.id, *(type_coerce(value, site.c[column].type).label(column) for column, value in computed.items())
        )
        .select_from(source)
        .where(unwritten, entry.c.user_id.is_(None))
        .order_by(entry.c.id)
    ).all()
    if not rows:
        return
    values = [
        {mapping.competition: competition_id, mapping.user: None, **{c: row._mapping[c] for c in computed}}
        for row in rows
    ]
    inserted = (
        conn.execute(insert(site).returning(site.c[mapping.id], sort_by_parameter_order=True), values).scalars().all()
    )
    conn.execute(
        update(own).where(own.c.id == bindparam("b_id")).values(site_row_id=bindparam("b_site"), owned=True),
        [{"b_id": row.id, "b_site": site_row_id} for row, site_row_id in zip(rows, inserted)],
    )


@dataclass(frozen=True)
class LastSync:
    synced_at: datetime
    board_rows: int | None
    matched: int | None
    board: str | None  # the Kaggle board its standings came from; None before kaggle-lb recorded it
    fingerprint: str | None = None  # what they were computed from (polling.fingerprint); None before 0006
    key_version: int | None = None  # the users' key version they were matched against


def last_syncs(conn: Connection, tables: Tables, competition_ids: list[int]) -> dict[int, LastSync]:
    """Each competition's last completed sync, as recorded with its standings, for those that have one."""
    syncs = tables.syncs
    rows = conn.execute(
        select(
            syncs.c.competition_id,
            syncs.c.synced_at,
            syncs.c.board_rows,
            syncs.c.matched,
            syncs.c.board,
            syncs.c.fingerprint,
            syncs.c.key_version,
        ).where(syncs.c.competition_id.in_(competition_ids), syncs.c.synced_at.is_not(None))
    ).all()
    return {
        row.competition_id: LastSync(
            row.synced_at if row.synced_at.tzinfo else row.synced_at.replace(tzinfo=UTC),
            row.board_rows,
            row.matched,
            row.board,
            row.fingerprint,
            row.key_version,
        )
        for row in rows
    }


def last_sync(conn: Connection, tables: Tables, competition_id: int) -> LastSync | None:
    """The competition's last completed sync, as recorded with its standings."""
    return last_syncs(conn, tables, [competition_id]).get(competition_id)


def credited_users(conn: Connection, tables: Tables, competition_id: int) -> set[int]:
    """The site users the competition's standings credit."""
    own = tables.standings
    query = select(own.c.user_id).where(own.c.competition_id == competition_id, own.c.user_id.is_not(None))
    return set(conn.execute(query).scalars())


def credits_a_removed_user(conn: Connection, tables: Tables, competition_id: int) -> bool:
    """Whether a standing credits a user who is gone from the users' key index (deleted by the site)."""
    own, index = tables.standings, tables.user_match_keys
    query = (
        select(own.c.id)
        .where(
            own.c.competition_id == competition_id,
            own.c.user_id.is_not(None),
            ~select(index.c.user_id).where(index.c.user_id == own.c.user_id).exists(),
        )
        .limit(1)
    )
    return conn.execute(query).first() is not None


def record_sync(
    conn: Connection,
    tables: Tables,
    competition_id: int,
    board_rows: int,
    matched: int,
    board: str = PUBLIC,
    fingerprint: str | None = None,
    key_version: int | None = None,
) -> None:
    """What the next sync's checks compare with, the board it synced, and what its standings were
    computed from (the board's fingerprint, the users' key version) for the next poll to compare;
    in the transaction of write_standings."""
    syncs = tables.syncs
    conn.execute(
        update(syncs)
        .where(syncs.c.competition_id == competition_id)
        .values(board_rows=board_rows, matched=matched, board=board, fingerprint=fingerprint, key_version=key_version)
    )


def count_entries(conn: Connection, tables: Tables, competition_id: int) -> int:
    own = tables.standings
    query = select(func.count()).select_from(own).where(own.c.competition_id == competition_id)
    return conn.execute(query).scalar_one()
