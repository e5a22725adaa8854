"""kaggle-lb's index of the site's users: each user's match key, in an indexed table of its own.

Matching credits the user whose key (Kaggle username, else username, folded: see
matching.user_keys) is on the board. No index on the site's users table answers that: the key
spans two columns, and its trimming is Python's strip(). So `refresh` copies the keys into
`kaggle_lb_user_match_keys` as a diff (only changed users are written), under a new version when
a key changed; `load_board_users` then finds a board's users through the index.

The diff compares names, which a new folding rule leaves as they were, so the rule the keys were
computed by (matching.KEY_RULE) is stored beside the state, as the `version` of its second row:
a refresh that finds another rule there, or none (a database indexed before the rule was
recorded), computes every key again.
"""

from collections.abc import Collection
from dataclasses import asdict, dataclass
from datetime import UTC, datetime

import pandas as pd
from sqlalchemy import Connection, bindparam, case, delete, func, insert, select, text, true, update

from kaggle_lb.leaderboard.matching import KEY_RULE, MatchResult, match_entries, row_keys, user_keys
from kaggle_lb.storage.bulk import insert_rows, json_values
from kaggle_lb.storage.registry import users_frame
from kaggle_lb.storage.schema import Tables

_STATE_ID = 1
_RULE_ID = 2  # the state table's row whose version is the key rule of the stored keys
_ANALYZE_AFTER = 10_000


@dataclass(frozen=True)
class KeysState:
    version: int
    refreshed_at: datetime | None


@dataclass(frozen=True)
class KeyRefresh:
    users: int
    added: int
    changed: int
    removed: int
    version: int

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


def read_state(conn: Connection, tables: Tables) -> KeysState:
    state = tables.user_keys_state
    row = conn.execute(select(state.c.version, state.c.refreshed_at).where(state.c.id == _STATE_ID)).one()
    return KeysState(*row)


def _lock(conn: Connection, tables: Tables) -> None:
    """Serialize refreshes: a second one waits, then diffs against the first one's result."""
    state = tables.user_keys_state
    if conn.dialect.name == "sqlite":
        # A write takes the database's write lock (the driver opens the transaction at it).
        conn.execute(update(state).where(state.c.id == _STATE_ID).values(version=state.c.version))
    else:
        conn.execute(select(state.c.id).where(state.c.id == _STATE_ID).with_for_update())


def refresh(conn: Connection, tables: Tables) -> KeyRefresh:
    """Bring user_match_keys up to date with the users table; a new version when a key changed.

    The database finds the users whose names differ from the copy kept beside their key (one
    join, no rows when nothing changed), so only changed users are read and folded; under a new
    key rule, every user is (once, as long as the first build)."""
    _lock(conn, tables)
    state = read_state(conn, tables)
    stored_rule = conn.execute(
        select(tables.user_keys_state.c.version).where(tables.user_keys_state.c.id == _RULE_ID)
    ).scalar()
    index, users = tables.user_match_keys, tables.users
    names = (tables.username, tables.kaggle_username)
    differs = (
        index.c.user_id.is_(None)
        | index.c.username.is_distinct_from(tables.username)
        | index.c.kaggle_username.is_distinct_from(tables.kaggle_username)
    )
    changed = pd.DataFrame.from_records(
        conn.execute(
            select(tables.user_id, *names, index.c.match_key, differs.label("names_differ"))
            .select_from(users.outerjoin(index, index.c.user_id == tables.user_id))
            .where(differs if stored_rule == KEY_RULE else true())
        ).all(),
        columns=["user_id", "username", "kaggle_username", "old_key", "names_differ"],
    )
    removed = conn.execute(
        select(index.c.user_id, index.c.match_key).where(
            ~select(tables.user_id).where(tables.user_id == index.c.user_id).exists()
        )
    ).all()
    # A user with no usable name gets "", which no board key equals: every user has a row.
    changed["match_key"] = pd.Series(user_keys(changed), dtype=object).fillna("").to_numpy()
    added = changed[changed["old_key"].isna()]
    known = changed[changed["old_key"].notna()]
    updated = known[known["names_differ"].astype(bool) | (known["old_key"] != known["match_key"])]
    rekeyed = updated[updated["old_key"] != updated["match_key"]]
    version = state.version + 1 if len(added) + len(rekeyed) + len(removed) else state.version

    if removed:
        conn.execute(delete(index).where(index.c.user_id == bindparam("b_id")), [{"b_id": i} for i, _ in removed])
    rows = [
        {"b_id": int(i), "b_key": k, "b_username": u, "b_kaggle": g}
        for i, u, g, k in updated[["user_id", "username", "kaggle_username", "match_key"]].itertuples(index=False)
    ]
    if rows:
        conn.execute(
            update(index)
            .where(index.c.user_id == bindparam("b_id"))
            .values(
                match_key=bindparam("b_key"),
                username=bindparam("b_username"),
                kaggle_username=bindparam("b_kaggle"),
                # A new name under the same key changes no match.
                changed_version=case((index.c.match_key != bindparam("b_key"), version), else_=index.c.changed_version),
            ),
            rows,
        )
    insert_rows(
        conn,
        index,
        added[["user_id", "match_key", "username", "kaggle_username"]].assign(changed_version=version),
    )

    if conn.dialect.name == "postgresql" and len(added) + len(removed) > _ANALYZE_AFTER:
        # Fresh statistics at once, not at autovacuum's leisure: stale ones make the board's
        # lookup scan both tables instead of probing the index.
        conn.execute(text(f"ANALYZE {index.name}"))
    conn.execute(
        update(tables.user_keys_state)
        .where(tables.user_keys_state.c.id == _STATE_ID)
        .values(version=version, refreshed_at=datetime.now(UTC))
    )
    if stored_rule is None:
        conn.execute(insert(tables.user_keys_state).values(id=_RULE_ID, version=KEY_RULE))
    elif stored_rule != KEY_RULE:
        conn.execute(
            update(tables.user_keys_state).where(tables.user_keys_state.c.id == _RULE_ID).values(version=KEY_RULE)
        )
    return KeyRefresh(
        users=conn.execute(select(func.count()).select_from(index)).scalar_one(),
        added=len(added),
        changed=len(rekeyed),
        removed=len(removed),
        version=version,
    )


def keys_changed_since(conn: Connection, tables: Tables, version: int) -> list[tuple[int, str, int]]:
    """(user_id, match_key, changed_version) of every key added or changed after `version`."""
    index = tables.user_match_keys
    query = select(index.c.user_id, index.c.match_key, index.c.changed_version).where(index.c.changed_version > version)
    return [(int(user_id), key, int(changed)) for user_id, key, changed in conn.execute(query).all()]


def load_board_users(conn: Connection, tables: Tables, keys: Collection[str]) -> pd.DataFrame:
    """The users whose match key is one of `keys` (see matching.row_keys), as registry.load_users
    returns them: found through user_match_keys' index, in one read-only query whatever the number
    of keys (they travel as one JSON parameter, never as binds). A user renamed since the last
    refresh is left out until the next one, rather than credited under their old name."""
    if not keys:
        return users_frame([])
    index = tables.user_match_keys
    # A join, not IN: the keys are distinct already, and PostgreSQL would hash them once more.
    board = json_values(keys, conn.dialect.name)
    query = (
        select(tables.user_id, tables.username, tables.kaggle_username)
        .select_from(
            board.join(index, index.c.match_key == board.c.value).join(tables.users, tables.user_id == index.c.user_id)
        )
        .order_by(tables.user_id)
    )
    users = users_frame(conn.execute(query).all())
    # .loc: a plain [] would take an empty list as a selection of columns.
    return users.loc[[key in keys for key in user_keys(users)]].reset_index(drop=True)


def match_board(conn: Connection, tables: Tables, board: pd.DataFrame) -> tuple[MatchResult, pd.DataFrame]:
    """`board` (see parse_leaderboard) matched against the users it names, read through the index,
    and those users: what matched_entries writes, and what its checks expect it to have written."""
    pairs = row_keys(board)
    users = load_board_users(conn, tables, set(pairs[1]))
    return match_entries(board, users, pairs), users
