"""Whether the live database is what the site schema says: one line per problem, naming the table
and column, so `kaggle-lb init` and every run can refuse before a statement goes wrong."""

from sqlalchemy import Boolean, Connection, Date, DateTime, Float, Integer, Numeric, String, inspect, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.types import NullType

from kaggle_lb.storage.site_schema import (
    FIELDS,
    INTEGER_FIELDS,
    NUMBER_FIELDS,
    TEXT_FIELDS,
    TIME_FIELDS,
    SiteSchema,
)

_KINDS = {
    "integer": (Integer,),
    "number": (Integer, Numeric, Float),
    "text": (String,),
    "time": (DateTime, Date),
    "flag": (Boolean, Integer),
}


def _kind_of(field: str) -> str | None:
    if field in INTEGER_FIELDS:
        return "integer"
    if field in NUMBER_FIELDS:
        return "number"
    if field in TEXT_FIELDS:
        return "text"
    return "time" if field in TIME_FIELDS else None


def _first_line(error: DBAPIError) -> str:
    return str(error.orig).strip().splitlines()[0] if error.orig is not None else str(error)


def _runs(conn: Connection, sql: str) -> str | None:
    """The database's complaint about `sql`, or None; a failure leaves the transaction usable."""
    try:
        with conn.begin_nested():
            conn.execute(text(sql)).all()
    except DBAPIError as error:
        return _first_line(error)
    return None


def site_problems(conn: Connection, schema: SiteSchema) -> list[str]:
    inspector = inspect(conn)
    existing = set(inspector.get_table_names())
    quote = conn.dialect.identifier_preparer.quote
    problems: list[str] = []

    def columns(table: str, wanted: dict[str, str | None]) -> dict | None:
        """The table's reflected columns, after checking `wanted` (column -> kind) is there."""
        if table not in existing:
            problems.append(f"{table}: no such table")
            return None
        found = {column["name"]: column for column in inspector.get_columns(table)}
        for name, kind in wanted.items():
            if name not in found:
                problems.append(f"{table}.{name}: no such column")
            elif (
                kind
                and not isinstance(found[name]["type"], NullType)
                and not isinstance(found[name]["type"], _KINDS[kind])
            ):
                problems.append(f"{table}.{name}: is {found[name]['type']}, expected a {kind} column")
        return found

    users, competitions, entries = schema.users, schema.competitions, schema.entries
    columns(users.table, {users.id: "integer", users.username: "text", users.kaggle_username: "text"})
    competition_columns: dict[str, str | None] = {competitions.id: "integer", competitions.slug: "text"}
    if competitions.title:
        competition_columns[competitions.title] = "text"
    if competitions.higher_is_better:
        competition_columns[competitions.higher_is_better] = "flag"
    if competitions.score_direction:
        competition_columns[competitions.score_direction] = "text"
    if columns(competitions.table, competition_columns) is not None:
        complaint = _runs(conn, f"SELECT count(*) FROM {quote(competitions.table)} WHERE ({competitions.active})")
        if complaint:
            problems.append(f"{competitions.table}: the active condition `{competitions.active}` fails: {complaint}")

    entry_columns: dict[str, str | None] = {
        entries.id: "integer",
        entries.competition: "integer",
        entries.user: "integer",
    }
    entry_columns |= {column: _kind_of(value) for column, value in entries.columns.items() if value in FIELDS}
    found = columns(entries.table, {**{c: None for c in entries.columns}, **entry_columns})
    if found is None:
        return problems
    if entries.unmatched_teams and entries.user in found and not found[entries.user]["nullable"]:
        problems.append(f"{entries.table}.{entries.user}: is NOT NULL, so unmatched_teams cannot write user-less rows")
    written = {entries.competition, entries.user, *entries.columns}
    primary_key = set(inspector.get_pk_constraint(entries.table).get("constrained_columns") or [])
    for name, column in found.items():
        generated = name in primary_key and len(primary_key) == 1 and isinstance(column["type"], Integer)
        if name not in written and not column["nullable"] and column.get("default") is None and not generated:
            problems.append(f"{entries.table}.{name}: NOT NULL without a default, and not mapped in [entries.columns]")
    if "kaggle_lb_standings" in existing:
        for column in entries.columns:
            sql = (
                f"SELECT {entries.expression(column)} FROM kaggle_lb_standings AS entry "
                f"CROSS JOIN {quote(competitions.table)} AS competition WHERE 1 = 0"
            )
            complaint = _runs(conn, sql)
            if complaint:
                problems.append(f"{entries.table}.{column}: `{entries.columns[column]}` fails: {complaint}")
    return problems
