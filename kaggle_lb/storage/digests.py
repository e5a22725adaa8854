"""The community digest's state per competition (kaggle_lb_digests): the period it was last sent
for and the last history row it covered. Claimed before the digest is sent and given back if
sending fails, so a digest goes out at most once a period, whatever restarts in between, and no
network call is made inside a transaction."""

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, select, update
from sqlalchemy.dialects import postgresql, sqlite

from kaggle_lb.storage.schema import Tables


@dataclass(frozen=True)
class DigestState:
    period: str | None
    last_history_id: int
    sent_at: datetime | None
    previous_board: str | None  # the board of the last history row covered


def lock_state(conn: Connection, tables: Tables, competition_id: int) -> DigestState:
    """The competition's digest state, its row locked until the transaction ends."""
    digests = tables.digests
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    conn.execute(dialect.insert(digests).values(competition_id=competition_id).on_conflict_do_nothing())
    row = conn.execute(
        select(digests.c.period, digests.c.last_history_id, digests.c.sent_at)
        .where(digests.c.competition_id == competition_id)
        .with_for_update()
    ).one()
    board = conn.execute(select(tables.history.c.board).where(tables.history.c.id == row.last_history_id)).scalar()
    return DigestState(row.period, int(row.last_history_id), row.sent_at, board)


def store_state(conn: Connection, tables: Tables, competition_id: int, state: DigestState) -> None:
    digests = tables.digests
    conn.execute(
        update(digests)
        .where(digests.c.competition_id == competition_id)
        .values(period=state.period, last_history_id=state.last_history_id, sent_at=state.sent_at)
    )
