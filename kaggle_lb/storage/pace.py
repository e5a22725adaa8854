"""kaggle_lb_kaggle_pace: the one pace every process sending requests to Kaggle keeps.

One row. A request claims the next free slot and moves the next one on by the interval; a 429
pauses every request until its Retry-After has passed and doubles the interval for the rest of the
window. Times are epoch seconds (time.time()), so the processes' clocks must agree (NTP).
Each function is one short transaction's work: the caller commits, then sleeps outside it.
"""

from sqlalchemy import Connection, Row, select, update
from sqlalchemy.dialects import postgresql, sqlite

from kaggle_lb.storage.schema import Tables

_ROW_ID = 1


def _locked(conn: Connection, tables: Tables) -> Row:
    """The pace's row, created on first use, locked until the transaction ends."""
    pace = tables.kaggle_pace
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    # On SQLite this insert is a write even when the row exists: it takes the database's write
    # lock, so the read below already comes after any other claim. PostgreSQL locks the row.
    conn.execute(
        dialect.insert(pace)
        .values(id=_ROW_ID, next_at=0.0, paused_until=0.0, slowdown=1.0, slowdown_until=0.0)
        .on_conflict_do_nothing()
    )
    query = select(pace).where(pace.c.id == _ROW_ID)
    if conn.dialect.name == "postgresql":
        query = query.with_for_update()
    return conn.execute(query).one()


def _slowdown_in_force(state: Row, now: float) -> float:
    return state.slowdown if now < state.slowdown_until else 1.0


def claim_slot(conn: Connection, tables: Tables, interval_seconds: float, now: float) -> float:
    """The time the caller may send its request at (now, or later when others are ahead of it or
    a 429 paused everyone); the next caller's slot is one interval after it, slowed down while a
    429's slow-down lasts."""
    state = _locked(conn, tables)
    slot = max(now, state.next_at, state.paused_until)
    spacing = interval_seconds * _slowdown_in_force(state, now)
    pace = tables.kaggle_pace
    conn.execute(update(pace).where(pace.c.id == _ROW_ID).values(next_at=slot + spacing))
    return slot


def slow_down(
    conn: Connection,
    tables: Tables,
    now: float,
    retry_after_seconds: float,
    window_seconds: float,
    max_slowdown: float,
) -> None:
    """Kaggle answered 429: no slot before `now + retry_after_seconds`, and the interval doubled
    (up to `max_slowdown` times the normal one) until `now + window_seconds`. The 429s of requests
    already on their way when the pause began belong to the same burst: they extend the pause but
    do not double the interval again."""
    state = _locked(conn, tables)
    slowdown = _slowdown_in_force(state, now)
    if now >= state.paused_until:
        slowdown = min(slowdown * 2, max_slowdown)
    pace = tables.kaggle_pace
    conn.execute(
        update(pace)
        .where(pace.c.id == _ROW_ID)
        .values(
            paused_until=max(state.paused_until, now + retry_after_seconds),
            slowdown=slowdown,
            slowdown_until=now + window_seconds,
        )
    )


def paused_until(conn: Connection, tables: Tables) -> float:
    """When the last pause ends (0 before any): a caller that slept until its slot checks it was
    not paused meanwhile."""
    pace = tables.kaggle_pace
    return conn.execute(select(pace.c.paused_until).where(pace.c.id == _ROW_ID)).scalar() or 0.0
