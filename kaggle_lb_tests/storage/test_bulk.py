"""Bulk inserts: every value arrives as given, whatever the database and the chunking."""

from datetime import datetime, timezone

from sqlalchemy import select

from kaggle_lb.storage import bulk, registry


def test_insert_rows_keeps_every_value_exactly_across_chunks(database, monkeypatch):
    monkeypatch.setattr(bulk, "_CHUNK", 2)
    tables = database.tables
    stamp = datetime(2026, 3, 1, 12, 30, 15, 123456, tzinfo=timezone.utc)
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
        bulk.insert_rows(conn, tables.leaderboard_entries, rows)
        bulk.insert_rows(conn, tables.leaderboard_entries, [])
        entries = tables.leaderboard_entries
        stored = conn.execute(select(*(entries.c[column] for column in rows[0])).order_by(entries.c.rank)).all()

    def utc(value):
        return value if value.tzinfo else value.replace(tzinfo=timezone.utc)  # SQLite drops the zone

    assert [
        {**row._asdict(), **{c: utc(row._asdict()[c]) for c in ("submission_date", "first_synced_at", "last_synced_at")}}
        for row in stored
    ] == rows
