"""The registry of competitions and platform users: what the sync reads before it writes."""

from collections.abc import Iterable
from dataclasses import dataclass

import pandas as pd
from sqlalchemy import Connection, bindparam, delete, insert, select, update

from kaggle_lb.storage.schema import Tables


@dataclass(frozen=True)
class Competition:
    id: int
    slug: str
    title: str | None
    is_active: bool
    score_direction: str | None


@dataclass(frozen=True)
class UserImportCounts:
    created: int
    updated: int
    unchanged: int


def _competition_select(tables: Tables):
    c = tables.competitions.c
    return select(c.id, c.slug, c.title, c.is_active, c.score_direction)


def list_competitions(conn: Connection, tables: Tables, active_only: bool = False) -> list[Competition]:
    query = _competition_select(tables).order_by(tables.competitions.c.slug)
    if active_only:
        query = query.where(tables.competitions.c.is_active.is_(True))
    return [Competition(*row) for row in conn.execute(query)]


def get_competition(conn: Connection, tables: Tables, slug: str) -> Competition | None:
    row = conn.execute(_competition_select(tables).where(tables.competitions.c.slug == slug)).first()
    return Competition(*row) if row else None


def add_competition(conn: Connection, tables: Tables, slug: str, title: str | None = None) -> bool:
    """Register a competition; returns False (and updates a given title) when it already exists."""
    existing = get_competition(conn, tables, slug)
    if existing is None:
        conn.execute(insert(tables.competitions).values(slug=slug, title=title, is_active=True))
        return True
    if title is not None and title != existing.title:
        conn.execute(update(tables.competitions).where(tables.competitions.c.id == existing.id).values(title=title))
    return False


def set_competition_active(conn: Connection, tables: Tables, slug: str, active: bool) -> bool:
    result = conn.execute(
        update(tables.competitions).where(tables.competitions.c.slug == slug).values(is_active=active)
    )
    return result.rowcount > 0


def set_score_direction(conn: Connection, tables: Tables, slug: str, direction: str | None) -> bool:
    """Fix which way the board sorts ("higher" or "lower" is better); None infers it from the board."""
    result = conn.execute(
        update(tables.competitions).where(tables.competitions.c.slug == slug).values(score_direction=direction)
    )
    return result.rowcount > 0


def remove_competition(conn: Connection, tables: Tables, slug: str) -> bool:
    competition = get_competition(conn, tables, slug)
    if competition is None:
        return False
    # Explicit rather than relying on ON DELETE CASCADE, which SQLite only honours with a pragma.
    entries = tables.leaderboard_entries
    conn.execute(delete(entries).where(entries.c.competition_id == competition.id))
    conn.execute(delete(tables.competitions).where(tables.competitions.c.id == competition.id))
    return True


def import_users(conn: Connection, tables: Tables, users: Iterable[tuple[str, str | None]]) -> UserImportCounts:
    """Upsert (username, kaggle_username) pairs with one read and two bulk statements."""
    wanted: dict[str, str | None] = {}
    for username, kaggle_username in users:
        wanted[username] = kaggle_username or None
    # One read of the whole table: an IN list of every imported name would hit SQLite's bind limit.
    existing = {
        username: (user_id, kaggle_username)
        for user_id, username, kaggle_username in conn.execute(
            select(tables.user_id, tables.username, tables.kaggle_username)
        )
    }
    config = tables.users_config
    new_rows = [
        {config.username_column: username, config.kaggle_username_column: kaggle}
        for username, kaggle in wanted.items()
        if username not in existing
    ]
    changed = [
        {"b_id": existing[username][0], "b_kaggle": kaggle}
        for username, kaggle in wanted.items()
        if username in existing and existing[username][1] != kaggle
    ]
    if new_rows:
        conn.execute(insert(tables.users), new_rows)
    if changed:
        conn.execute(
            update(tables.users)
            .where(tables.user_id == bindparam("b_id"))
            .values({tables.kaggle_username: bindparam("b_kaggle")}),
            changed,
        )
    return UserImportCounts(
        created=len(new_rows), updated=len(changed), unchanged=len(wanted) - len(new_rows) - len(changed)
    )


def load_users(conn: Connection, tables: Tables) -> pd.DataFrame:
    """All platform users as the matcher wants them: user_id, username, kaggle_username."""
    query = select(tables.user_id, tables.username, tables.kaggle_username).order_by(tables.user_id)
    return users_frame(conn.execute(query).all())


def users_frame(rows) -> pd.DataFrame:
    return pd.DataFrame.from_records(rows, columns=["user_id", "username", "kaggle_username"]).astype(
        {"user_id": "int64"}
    )
