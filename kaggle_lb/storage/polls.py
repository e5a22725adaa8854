"""kaggle_lb_polls: when a batch poll last found a competition's standings still matching Kaggle.

Only the batch's poll writes it (ops.leaderboard_batch). A confirmation counts as a sync for freshness: the
standings are as fresh as the last time anything checked them against Kaggle, whether that
check wrote them (kaggle_lb_syncs.synced_at) or found nothing to write (confirmed_at).
"""

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import Connection, select, update
from sqlalchemy.dialects import postgresql, sqlite

from kaggle_lb.storage.schema import Tables


@dataclass(frozen=True)
class Confirmation:
    confirmed_at: datetime
    fingerprint: str
    key_version: int


def _utc(moment: datetime) -> datetime:
    """SQLite hands timestamps back without a zone; every stored timestamp is UTC."""
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def confirm(
    conn: Connection, tables: Tables, competition_id: int, fingerprint: str, key_version: int, confirmed_at: datetime
) -> None:
    """Record that the competition's standings still match Kaggle at `confirmed_at`."""
    polls = tables.polls
    values = {"confirmed_at": confirmed_at, "fingerprint": fingerprint, "key_version": key_version}
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    inserted = dialect.insert(polls).values(competition_id=competition_id, **values).on_conflict_do_nothing()
    if conn.execute(inserted).rowcount == 0:
        conn.execute(update(polls).where(polls.c.competition_id == competition_id).values(**values))


def confirmations(conn: Connection, tables: Tables, competition_ids: list[int]) -> dict[int, Confirmation]:
    """The last confirmation of each of the competitions that has one."""
    polls = tables.polls
    rows = conn.execute(
        select(polls.c.competition_id, polls.c.confirmed_at, polls.c.fingerprint, polls.c.key_version).where(
            polls.c.competition_id.in_(competition_ids)
        )
    ).all()
    return {row.competition_id: Confirmation(_utc(row.confirmed_at), row.fingerprint, row.key_version) for row in rows}


def last_checked(conn: Connection, tables: Tables, competition_ids: list[int] | None = None) -> dict[int, datetime]:
    """For every competition kaggle-lb has synced (of `competition_ids`, when given), the last time
    its standings were checked against Kaggle: its last sync, or a later poll that found them
    unchanged. One query."""
    syncs, polls = tables.syncs, tables.polls
    query = (
        select(syncs.c.competition_id, syncs.c.synced_at, polls.c.confirmed_at)
        .select_from(syncs.outerjoin(polls, polls.c.competition_id == syncs.c.competition_id))
        .where(syncs.c.synced_at.is_not(None))
    )
    if competition_ids is not None:
        query = query.where(syncs.c.competition_id.in_(competition_ids))
    rows = conn.execute(query).all()
    return {
        row.competition_id: max(_utc(moment) for moment in (row.synced_at, row.confirmed_at) if moment is not None)
        for row in rows
    }
