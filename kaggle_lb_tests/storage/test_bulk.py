"""Bulk inserts: every value arrives as given, whatever the database and the chunking."""

from datetime import UTC, datetime, timedelta, timezone

import pandas as pd
from sqlalchemy import func, insert, select

from kaggle_lb.storage import bulk, registry


def test_insert_rows_keeps_every_value_exactly_across_chunks(database, monkeypatch):
    monkeypatch.setattr(bulk, "_CHUNK", 2)
    tables = database.tables
    stamp = datetime(2026, 3, 1, 12, 30, 15, 123456, tzinfo=UTC)
    names = ['The "Best", Team', "🚀 Rocket\nTeam", "\\N", "", "Straße"]
    with database.begin() as conn:
        registry.add_competition(conn, tables, "comp")
        registry.import_users(conn, tables, [(f"u{i}", None) for i in range(len(names))])
        competition_id = registry.get_competition(conn, tables, "comp").id
        user_ids = sorted(conn.execute(select(tables.user_id)).scalars())
        rows = [
            {
                "competition_id": competition_id,
                "user_id": user_id,
                "rank": rank,
                "score": 0.1 * rank if rank % 2 else None,
                "kaggle_team_id": 10**12 + rank,
                "kaggle_team_name": name,
                "submission_count": rank if rank % 2 else None,
                "submission_date": stamp,
                "first_synced_at": stamp,
                "last_synced_at": stamp,
            }
            for rank, (user_id, name) in enumerate(zip(user_ids, names), start=1)
        ]
        # A frame as the sync builds it (nullable integers, timestamps in UTC)...
        frame = pd.DataFrame(rows).astype({"submission_count": "Int64"})
        frame["submission_date"] = pd.to_datetime(frame["submission_date"], utc=True)
        bulk.insert_rows(conn, tables.entries, frame)
        bulk.insert_rows(conn, tables.entries, frame.iloc[:0])
        entries = tables.entries
        stored = conn.execute(select(*(entries.c[column] for column in rows[0])).order_by(entries.c.rank)).all()

    def utc(value):
        return value if value.tzinfo else value.replace(tzinfo=UTC)  # SQLite drops the zone

    assert [
        {
            **row._asdict(),
            **{c: utc(row._asdict()[c]) for c in ("submission_date", "first_synced_at", "last_synced_at")},
        }
        for row in stored
    ] == rows


def test_timestamps_are_stored_as_sqlalchemy_itself_stores_them(database):
    """The SQLite path formats timestamps itself: they must read back, sort and compare in SQL
    exactly as those SQLAlchemy writes, whether given as a datetime64 column or as datetimes.
    A zoned one is stored in UTC (SQLAlchemy's SQLite type would keep its wall time, losing the zone)."""
    tables = database.tables
    stamps = [
        datetime(2026, 3, 1, 12, 30, 15, 123456, tzinfo=UTC),
        datetime(1999, 12, 31, 23, 59, 59, tzinfo=UTC),
        datetime(2026, 3, 1, 14, 30, 15, 5, tzinfo=timezone(timedelta(hours=2))),  # the first, zoned
    ]
    state = tables.user_keys_state
    with database.begin() as conn:
        for number, stamp in enumerate(stamps):
            utc = stamp.astimezone(UTC)
            conn.execute(insert(state).values(id=100 + number, version=0, refreshed_at=utc))
        as_column = pd.DataFrame(
            {"id": [200, 201, 202], "version": 0, "refreshed_at": pd.to_datetime(stamps, utc=True)}
        )
        as_objects = as_column.assign(id=[300, 301, 302], refreshed_at=pd.Series(stamps, dtype=object))
        bulk.insert_rows(conn, state, as_column)
        bulk.insert_rows(conn, state, as_objects)
        text = func.cast(state.c.refreshed_at, tables.user_match_keys.c.match_key.type)
        stored = {row.id: row for row in conn.execute(select(state.c.id, state.c.refreshed_at, text.label("text")))}
    for number in range(len(stamps)):
        by_sqlalchemy = stored[100 + number]
        for copy in (stored[200 + number], stored[300 + number]):
            assert copy.refreshed_at == by_sqlalchemy.refreshed_at
            assert copy.text == by_sqlalchemy.text
