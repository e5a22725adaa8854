"""Sending many values to the database at once, the fast way for each database."""

import json
from collections.abc import Callable, Iterable

import numpy as np
import pandas as pd
from sqlalchemy import JSON, Connection, Table, bindparam, cast, func, insert, text
from sqlalchemy.sql.expression import BindParameter, TableValuedAlias

# Rows per statement on PostgreSQL: bounds the size of one JSON parameter.
_CHUNK = 50_000


def python_values(column: pd.Series) -> list:
    """The column's values as the driver takes them: plain Python, None for missing."""
    if not column.hasnans:
        return column.tolist()  # already plain Python values, and several times cheaper
    return column.astype(object).where(column.notna(), None).tolist()


def python_rows(frame: pd.DataFrame, values: Callable[[pd.Series], list] = python_values) -> list[dict]:
    """The frame's rows as dicts of its columns' `values` (python_values unless told)."""
    # Column by column: DataFrame.to_dict("records") costs several times more.
    columns = [values(frame[name]) for name in frame.columns]
    return [dict(zip(frame.columns, row)) for row in zip(*columns)]


def insert_rows(conn: Connection, table: Table, rows: pd.DataFrame) -> None:
    """Insert `rows` (columns named as the table's) in the current transaction.

    On PostgreSQL, as statements carrying the rows in one JSON parameter that the server
    expands: a multi-row INSERT's thousands of bind parameters cost the client more than the
    insert costs the server. SQLite runs
    in-process, where one executemany of plain tuples is the cheapest; SQLAlchemy's own
    parameter handling, a Python call per row and per timestamp, cost three times the insert.
    Either way the values are built column by column, timestamps formatted by numpy at once.
    """
    if rows.empty:
        return
    dialect = conn.dialect.name
    if dialect == "postgresql":
        quote = conn.dialect.identifier_preparer
        name = quote.format_table(table)
        columns = ", ".join(quote.quote(column) for column in rows.columns)
        statement = text(
            f"INSERT INTO {name} ({columns}) SELECT {columns} FROM json_populate_recordset(NULL::{name}, :rows)"
        )
        records = python_rows(rows, lambda column: _driver_values(column, dialect))
        for start in range(0, len(records), _CHUNK):
            conn.execute(statement, {"rows": json.dumps(records[start : start + _CHUNK])})
        return
    # The statement is still SQLAlchemy's, and goes through its events and error wrapping.
    compiled = insert(table).compile(dialect=conn.dialect, column_keys=list(rows.columns))
    values = [_driver_values(rows[column], dialect) for column in compiled.positiontup or []]
    conn.exec_driver_sql(compiled.string, list(zip(*values)))


def _driver_values(column: pd.Series, dialect: str) -> list:
    """python_values, but timestamps as text in UTC: SQLAlchemy's SQLite DateTime storage format
    ("2026-03-01 12:30:15.123456"), with "+00:00" on PostgreSQL, which would read text without a
    zone in the session's time zone. Formatted by numpy at once: a datetime object per value, and
    on PostgreSQL its str() for the JSON, cost ten times more."""
    if column.dtype == object and pd.api.types.infer_dtype(column, skipna=True) == "datetime":
        column = pd.to_datetime(column, utc=True)
    if not pd.api.types.is_datetime64_any_dtype(column):
        return python_values(column)
    utc = (column.dt.tz_convert("UTC") if column.dt.tz else column).to_numpy("datetime64[us]")
    zone = "+00:00" if dialect == "postgresql" else ""
    stamps = np.datetime_as_string(utc, unit="us").tolist()
    return [None if stamp == "NaT" else stamp.replace("T", " ") + zone for stamp in stamps]


def json_values(values: Iterable, dialect: str) -> TableValuedAlias:
    """`values` as a one-column table, `value`, carried by one JSON parameter: any number of them
    in one statement and one query plan, to join on. An IN list needs a bind parameter per value,
    and on PostgreSQL a long IN list against a large table is planned as a scan where the join
    probes the index. PostgreSQL hands the values out as text: cast them to compare with numbers."""
    parameter: BindParameter[str] = bindparam("values", json.dumps(list(values)))
    if dialect == "postgresql":
        table = func.json_array_elements_text(cast(parameter, JSON)).table_valued("value")
    else:
        table = func.json_each(parameter).table_valued("value")
    return table.alias("json_values")
