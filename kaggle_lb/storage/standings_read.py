"""Reading a competition's standings back: plain SQL, in a module of its own so that the CLI's
`standings` imports none of the writer's pandas."""

from sqlalchemy import Connection, select

from kaggle_lb.storage.history_read import latest_changes, rank_change
from kaggle_lb.storage.schema import Tables


def read_standings(conn: Connection, tables: Tables, competition_id: int) -> list[dict]:
    """The competition's standings of site users in rank order, with the site username, the board
    they come from and each one's `rank_change` since the user's previous change (kaggle_lb_history)."""
    own = tables.standings
    latest = latest_changes(tables, competition_id)
    query = (
        select(
            tables.username.label("username"),
            own.c.rank,
            own.c.score,
            own.c.team_id.label("kaggle_team_id"),
            own.c.team_name.label("kaggle_team_name"),
            own.c.submission_count,
            own.c.last_submission.label("submission_date"),
            own.c.board,
            latest.c.change,
            latest.c.old_rank,
            latest.c.new_rank,
        )
        .join(tables.users, tables.user_id == own.c.user_id)
        .outerjoin(latest, latest.c.user_id == own.c.user_id)
        .where(own.c.competition_id == competition_id)
        .order_by(own.c.rank, tables.username)
    )
    rows = []
    for row in conn.execute(query):
        values = dict(row._mapping)
        values["rank_change"] = rank_change(values.pop("change"), values.pop("old_rank"), values.pop("new_rank"))
        rows.append(values)
    return rows
