"""Reading kaggle_lb_history (see storage.history): plain SQL, in a module of its own so that the
CLI's `standings` and `history` import none of the writer's pandas."""

from sqlalchemy import Connection, func, select

from kaggle_lb.storage.schema import Tables

ENTERED, MOVED, LEFT = "entered", "moved", "left"


def latest_changes(tables: Tables, competition_id: int):
    """A subquery of each user's latest history row in the competition (user_id, old_rank,
    new_rank, change): what `rank_change` is computed from."""
    h = tables.history
    last = (
        select(h.c.user_id, func.max(h.c.id).label("id"))
        .where(h.c.competition_id == competition_id)
        .group_by(h.c.user_id)
        .subquery("last_change")
    )
    return (
        select(h.c.user_id, h.c.change, h.c.old_rank, h.c.new_rank).join(last, h.c.id == last.c.id).subquery("latest")
    )


def rank_change(change: str | None, old_rank: int | None, new_rank: int | None) -> int | None:
    """Places moved up (positive) or down since the previous change; None for a new entry."""
    if change != MOVED or old_rank is None or new_rank is None:
        return None
    return old_rank - new_rank


def read_history(
    conn: Connection, tables: Tables, competition_id: int, usernames: list[str] | None = None, after_id: int = 0
) -> list[dict]:
    """The competition's history in time order, of the site users named (or everyone's), after
    the row `after_id`."""
    h = tables.history
    query = (
        select(
            h.c.id,
            tables.username.label("username"),
            h.c.change,
            h.c.old_rank,
            h.c.new_rank,
            h.c.old_score,
            h.c.new_score,
            h.c.board,
            h.c.changed_at,
        )
        .join(tables.users, tables.user_id == h.c.user_id)
        .where(h.c.competition_id == competition_id, h.c.id > after_id)
        .order_by(h.c.changed_at, h.c.id)
    )
    if usernames is not None:
        query = query.where(tables.username.in_(usernames))
    return [dict(row._mapping) for row in conn.execute(query)]
