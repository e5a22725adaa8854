"""Reading a competition's standings back: plain SQL, in a module of its own so that the CLI's
`standings` imports none of the writer's pandas."""

from sqlalchemy import Connection, select

from kaggle_lb.storage.schema import Tables


def read_standings(conn: Connection, tables: Tables, competition_id: int) -> list[dict]:
    """The competition's standings of site users in rank order, with the site username."""
    own = tables.standings
    query = (
        select(
            tables.username.label("username"),
            own.c.rank,
            own.c.score,
            own.c.team_id.label("kaggle_team_id"),
            own.c.team_name.label("kaggle_team_name"),
            own.c.submission_count,
            own.c.last_submission.label("submission_date"),
        )
        .join(tables.users, tables.user_id == own.c.user_id)
        .where(own.c.competition_id == competition_id)
        .order_by(own.c.rank, tables.username)
    )
    return [dict(row._mapping) for row in conn.execute(query)]
