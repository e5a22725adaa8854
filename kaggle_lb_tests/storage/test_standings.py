"""The standings writer: a diff per competition, written in one transaction."""

from datetime import UTC, datetime

import pandas as pd
import pytest
from sqlalchemy.exc import IntegrityError

from kaggle_lb.storage import registry, standings
from kaggle_lb_tests.databases import dump_entries

T1 = datetime(2026, 11, 1, tzinfo=UTC)
T2 = datetime(2026, 11, 2, tzinfo=UTC)


def entries(*rows):
    frame = pd.DataFrame(
        rows, columns=["user_id", "rank", "score", "kaggle_team_id", "kaggle_team_name", "submission_count"]
    )
    return frame.assign(
        submission_count=frame["submission_count"].astype("Int64"),
        submission_date=pd.Timestamp("2026-10-30 12:00:00", tz="UTC"),
    )


@pytest.fixture
def comp(database):
    with database.begin() as conn:
        registry.add_competition(conn, database.tables, "comp")
        registry.import_users(conn, database.tables, [("u1", None), ("u2", None), ("u3", None)])
        return registry.get_competition(conn, database.tables, "comp").id


def write(database, comp, frame, at):
    with database.begin() as conn:
        return standings.write_standings(conn, database.tables, comp, frame, synced_at=at)


def test_inserts_updates_leaves_unchanged_and_removes(database, comp):
    assert write(database, comp, entries((1, 1, 0.9, 10, "a", 3), (2, 2, 0.8, 11, "b", None)), T1).as_dict() == {
        "created": 2,
        "updated": 0,
        "unchanged": 0,
        "removed": 0,
    }
    counts = write(database, comp, entries((2, 1, 0.95, 11, "b", 4), (3, 2, 0.7, 12, "c", 1)), T2)
    assert counts.as_dict() == {"created": 1, "updated": 1, "unchanged": 0, "removed": 1}

    table = database.tables.entries
    with database.begin() as conn:
        rows = {r.user_id: r for r in conn.execute(table.select())}
    assert set(rows) == {2, 3}
    assert (rows[2].rank, rows[2].score, rows[2].submission_count) == (1, 0.95, 4)
    # first_synced_at survives an update; last_synced_at moves.
    assert rows[2].first_synced_at.replace(tzinfo=UTC) == T1
    assert rows[2].last_synced_at.replace(tzinfo=UTC) == T2


def test_a_repeated_board_writes_nothing(database, comp):
    board = entries((1, 1, 0.9, 10, 'Ünïcode, "quoted"', None), (2, 2, 0.8, 11, "b", 5))
    write(database, comp, board, T1)
    before = dump_entries(database)

    counts = write(database, comp, board, T2)

    assert counts.as_dict() == {"created": 0, "updated": 0, "unchanged": 2, "removed": 0}
    assert dump_entries(database) == before


@pytest.mark.parametrize(
    "changed",
    [
        (1, 2, 0.9, 10, "a", None),
        (1, 1, 0.91, 10, "a", None),
        (1, 1, 0.9, 13, "a", None),
        (1, 1, 0.9, 10, "A", None),
        (1, 1, 0.9, 10, "a", 1),
    ],
    ids=["rank", "score", "team id", "team name", "count set"],
)
def test_a_change_in_any_one_column_is_an_update(database, comp, changed):
    write(database, comp, entries((1, 1, 0.9, 10, "a", None), (2, 2, 0.8, 11, "b", 5)), T1)
    # User 2's count going missing is a change too; user 1's missing count staying missing is not.
    counts = write(database, comp, entries(changed, (2, 2, 0.8, 11, "b", None)), T2)
    assert counts.as_dict() == {"created": 0, "updated": 2, "unchanged": 0, "removed": 0}
    later = entries(changed, (2, 2, 0.8, 11, "b", None)).assign(submission_date=pd.Timestamp("2026-10-31", tz="UTC"))
    assert write(database, comp, later, T2).as_dict()["updated"] == 2
    assert write(database, comp, later, T2).as_dict()["unchanged"] == 2


def test_a_failure_inside_the_transaction_keeps_the_previous_standings(database, comp):
    write(database, comp, entries((1, 1, 0.9, 10, "a", 3), (2, 2, 0.8, 11, "b", 1)), T1)
    before = dump_entries(database)

    # User 3's entry has no team name: NOT NULL rejects the insert, after the delete of user 2 and
    # the update of user 1 already ran in the same transaction.
    with pytest.raises(IntegrityError):
        write(database, comp, entries((1, 2, 0.5, 10, "a", 4), (3, 1, 0.95, 12, None, 1)), T2)

    assert dump_entries(database) == before


def test_a_removed_competition_gets_nothing(database, comp):
    with database.begin() as conn:
        registry.remove_competition(conn, database.tables, "comp")

    with pytest.raises(standings.CompetitionRemovedError):
        write(database, comp, entries((1, 1, 0.9, 10, "a", 3)), T1)

    assert dump_entries(database) == []
    with database.begin() as conn:
        assert standings.count_entries(conn, database.tables, comp) == 0
        assert standings.last_sync(conn, database.tables, comp) is None


def test_site_rows_differ_only_when_the_site_changed_what_the_standings_wrote(database, comp):
    """What a poll asks before it calls a board unchanged: a row the site deleted or changed is
    written again by a sync, so the poll must not skip it."""
    table = database.tables.entries

    def differ() -> bool:
        with database.begin() as conn:
            return standings.site_rows_differ(conn, database.tables, comp)

    write(database, comp, entries((1, 1, 0.9, 10, "a", 3), (2, 2, 0.8, 11, "b", None)), T1)
    assert not differ()
    with database.begin() as conn:
        conn.execute(table.update().where(table.c.user_id == 1).values(rank=7))
    assert differ()
    write(database, comp, entries((1, 1, 0.9, 10, "a", 3), (2, 2, 0.8, 11, "b", None)), T2)
    assert not differ()
    with database.begin() as conn:
        conn.execute(table.delete().where(table.c.user_id == 2))
    assert differ()
    write(database, comp, entries((1, 1, 0.9, 10, "a", 3), (2, 2, 0.8, 11, "b", None)), T2)
    assert not differ()
    assert len(dump_entries(database)) == 2
