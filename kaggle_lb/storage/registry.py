"""The site's competitions and users: what the sync reads before it writes.

Both are read through the site schema. Only the built-in tables may be changed by kaggle-lb
(`kaggle-lb competitions add`, `users import`); a site's own rows are the site's to change.
"""

from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlalchemy import Connection, bindparam, case, delete, insert, literal_column, null, select, update

from kaggle_lb.slugs import competition_slug
from kaggle_lb.storage.schema import Tables
from kaggle_lb.storage.site_schema import CompetitionsMapping, SiteOwnedError

if TYPE_CHECKING:
    import pandas as pd


@dataclass(frozen=True)
class Competition:
    id: int  # the row's id in the site's competitions table
    slug: str
    title: str | None
    is_active: bool
    score_direction: str | None


@dataclass(frozen=True)
class Registered:
    """The site's competitions that kaggle-lb can sync, and why the others cannot be."""

    competitions: list[Competition]
    problems: list[str]


@dataclass(frozen=True)
class UserImportCounts:
    created: int
    updated: int
    unchanged: int


def _direction(mapping: CompetitionsMapping, value) -> str | None:
    if mapping.higher_is_better:
        return None if value is None else "higher" if value else "lower"
    return value if value in ("higher", "lower") else None


def read_competitions(conn: Connection, tables: Tables) -> Registered:
    """Every competition row with a slug: a Kaggle URL is read as its slug; a value that is neither,
    or a slug on two rows, is reported by name and left out."""
    mapping, table = tables.schema.competitions, tables.competitions
    direction = mapping.higher_is_better or mapping.score_direction
    query = select(
        table.c[mapping.id],
        table.c[mapping.slug],
        table.c[mapping.title] if mapping.title else null(),
        case((literal_column(f"({mapping.active})"), True), else_=False),
        table.c[direction] if direction else null(),
    ).where(table.c[mapping.slug].is_not(None), table.c[mapping.slug] != "")
    found: dict[str, list[Competition]] = {}
    problems = []
    for row_id, value, title, active, raw_direction in conn.execute(query):
        try:
            slug = competition_slug(value)
        except ValueError as error:
            problems.append(f"{mapping.table} row {row_id}: {error}; not synced")
            continue
        found.setdefault(slug, []).append(
            Competition(row_id, slug, title, bool(active), _direction(mapping, raw_direction))
        )
    competitions = []
    for slug, rows in sorted(found.items()):
        if len(rows) > 1:
            ids = ", ".join(str(c.id) for c in rows)
            problems.append(
                f"{mapping.table} rows {ids} all name competition '{slug}'; none is synced until one remains"
            )
        else:
            competitions.append(rows[0])
    return Registered(competitions, problems)


def list_competitions(conn: Connection, tables: Tables, active_only: bool = False) -> list[Competition]:
    competitions = read_competitions(conn, tables).competitions
    return [c for c in competitions if c.is_active] if active_only else competitions


def get_competition(conn: Connection, tables: Tables, slug: str) -> Competition | None:
    return next((c for c in list_competitions(conn, tables) if c.slug == slug), None)


def has_user(conn: Connection, tables: Tables, username: str) -> bool:
    return conn.execute(select(tables.user_id).where(tables.username == username)).first() is not None


def _built_in(tables: Tables, section: str) -> None:
    mapping = getattr(tables.schema, section)
    if not mapping.built_in:
        raise SiteOwnedError(
            f"the site owns its {section} (table {mapping.table}, {tables.schema.source}): "
            f"change them in the site; kaggle-lb only reads them"
        )


def add_competition(conn: Connection, tables: Tables, slug: str, title: str | None = None) -> bool:
    """Register a competition; returns False (and updates a given title) when it already exists."""
    _built_in(tables, "competitions")
    competitions = tables.competitions
    existing = get_competition(conn, tables, slug)
    if existing is None:
        conn.execute(insert(competitions).values(slug=slug, title=title, is_active=True))
        return True
    if title is not None and title != existing.title:
        conn.execute(update(competitions).where(competitions.c.id == existing.id).values(title=title))
    return False


def set_competition_active(conn: Connection, tables: Tables, slug: str, active: bool) -> bool:
    _built_in(tables, "competitions")
    competitions = tables.competitions
    result = conn.execute(update(competitions).where(competitions.c.slug == slug).values(is_active=active))
    return result.rowcount > 0


def set_score_direction(conn: Connection, tables: Tables, slug: str, direction: str | None) -> bool:
    """Fix which way the board sorts ("higher" or "lower" is better); None infers it from the board."""
    _built_in(tables, "competitions")
    competitions = tables.competitions
    result = conn.execute(update(competitions).where(competitions.c.slug == slug).values(score_direction=direction))
    return result.rowcount > 0


def remove_competition(conn: Connection, tables: Tables, slug: str) -> bool:
    """Unregister a built-in competition, with its standings and kaggle-lb's record of them."""
    _built_in(tables, "competitions")
    competition = get_competition(conn, tables, slug)
    if competition is None:
        return False
    # Explicit rather than relying on ON DELETE CASCADE, which SQLite only honours with a pragma.
    entries_mapping = tables.schema.entries
    conn.execute(delete(tables.entries).where(tables.entries.c[entries_mapping.competition] == competition.id))
    for own in (tables.standings, tables.syncs, tables.polls, tables.history, tables.digests):
        conn.execute(delete(own).where(own.c.competition_id == competition.id))
    conn.execute(delete(tables.competitions).where(tables.competitions.c.id == competition.id))
    return True


def import_users(conn: Connection, tables: Tables, users: Iterable[tuple[str, str | None]]) -> UserImportCounts:
    """Upsert (username, kaggle_username) pairs with one read and two bulk statements."""
    _built_in(tables, "users")
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
    config = tables.schema.users
    new_rows = [
        {config.username: username, config.kaggle_username: kaggle}
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


def kaggle_usernames(conn: Connection, tables: Tables, limit: int | None = None) -> list[tuple[str, str]]:
    """(username, kaggle_username) of the users with a Kaggle username set, by username; at most
    `limit` of them (any: unsorted, the database stops at the limit instead of sorting a million
    users first)."""
    query = (
        select(tables.username, tables.kaggle_username)
        .where(tables.kaggle_username.is_not(None), tables.kaggle_username != "")
        .limit(limit)
    )
    return sorted(tuple(row) for row in conn.execute(query))


def load_users(conn: Connection, tables: Tables) -> "pd.DataFrame":
    """All platform users as the matcher wants them: user_id, username, kaggle_username."""
    query = select(tables.user_id, tables.username, tables.kaggle_username).order_by(tables.user_id)
    return users_frame(conn.execute(query).all())


def users_frame(rows) -> "pd.DataFrame":
    # Imported here: the CLI's commands use this module and need no pandas.
    import pandas as pd

    return pd.DataFrame.from_records(rows, columns=["user_id", "username", "kaggle_username"]).astype(
        {"user_id": "int64"}
    )
