"""kaggle_lb_history and rank_change through real syncs (Dagster, SQLite and PostgreSQL): a
sequence of boards and the rows a person would write down for it."""

from sqlalchemy import func, select

from kaggle_lb.storage import registry
from kaggle_lb.storage.history_read import read_history
from kaggle_lb.storage.standings_read import read_standings
from kaggle_lb_tests.pipeline import board

ALPHA = '"Team Alpha","2026-11-01 10:00:00",{score},4,"alice,BOB"'
CAROL = 'carol,"2026-11-02 11:00:00",{score},2,carol'
ERIN = 'erin,"2026-11-03 12:00:00",{score},7,erin'

# alice and bob (one team), carol_site (Kaggle name CAROL) and erin, as the boards move them.
BOARDS = [
    board(f"1,101,{ALPHA.format(score=0.95)}", f"2,102,{CAROL.format(score=0.90)}", f"3,104,{ERIN.format(score=0.85)}"),
    # carol overtakes the team; erin stays where she was
    board(f"1,102,{CAROL.format(score=0.97)}", f"2,101,{ALPHA.format(score=0.95)}", f"3,104,{ERIN.format(score=0.85)}"),
    # the team improves its score without changing place; erin leaves the board
    board(f"1,102,{CAROL.format(score=0.97)}", f"2,101,{ALPHA.format(score=0.96)}"),
    # erin comes back
    board(f"1,102,{CAROL.format(score=0.97)}", f"2,101,{ALPHA.format(score=0.96)}", f"3,104,{ERIN.format(score=0.88)}"),
]


def history(sync) -> list[tuple]:
    with sync.database.begin() as conn:
        competition = registry.get_competition(conn, sync.database.tables, "demo-comp")
        rows = read_history(conn, sync.database.tables, competition.id)
    return [
        (r["username"], r["change"], r["old_rank"], r["new_rank"], r["old_score"], r["new_score"], r["board"])
        for r in rows
    ]


def rank_changes(sync) -> dict[str, int | None]:
    with sync.database.begin() as conn:
        competition = registry.get_competition(conn, sync.database.tables, "demo-comp")
        return {r["username"]: r["rank_change"] for r in read_standings(conn, sync.database.tables, competition.id)}


def history_rows(sync) -> int:
    with sync.database.begin() as conn:
        return conn.execute(select(func.count()).select_from(sync.database.tables.history)).scalar_one()


def test_a_sequence_of_boards_writes_the_changes_a_person_would(sync, exports):
    path = exports / "demo-comp.csv"
    written = []
    for number, content in enumerate(BOARDS):
        path.write_bytes(content)
        sync()
        rows = history(sync)
        written.append(rows[sum(map(len, written)) :])
        if number == 0:
            assert rank_changes(sync) == {"alice": None, "bob": None, "carol_site": None, "erin": None}
        if number == 1:
            assert rank_changes(sync) == {"carol_site": 1, "alice": -1, "bob": -1, "erin": None}
        if number == 2:
            # A move of score alone is a change of 0 places; erin is gone.
            assert rank_changes(sync) == {"carol_site": 1, "alice": 0, "bob": 0}

    entered = [
        ("alice", "entered", None, 1, None, 0.95, "public"),
        ("bob", "entered", None, 1, None, 0.95, "public"),
        ("carol_site", "entered", None, 2, None, 0.90, "public"),
        ("erin", "entered", None, 3, None, 0.85, "public"),
    ]
    assert sorted(written[0]) == entered
    assert sorted(written[1]) == [
        ("alice", "moved", 1, 2, 0.95, 0.95, "public"),
        ("bob", "moved", 1, 2, 0.95, 0.95, "public"),
        ("carol_site", "moved", 2, 1, 0.90, 0.97, "public"),
    ]
    assert sorted(written[2]) == [
        ("alice", "moved", 2, 2, 0.95, 0.96, "public"),
        ("bob", "moved", 2, 2, 0.95, 0.96, "public"),
        ("erin", "left", 3, None, 0.85, None, "public"),
    ]
    assert written[3] == [("erin", "entered", None, 3, None, 0.88, "public")]
    assert rank_changes(sync) == {"carol_site": 1, "alice": 0, "bob": 0, "erin": None}


def test_unchanged_polls_add_no_history(sync, exports):
    (exports / "demo-comp.csv").write_bytes(BOARDS[0])
    sync()
    before = history_rows(sync)
    assert before == 4
    sync()
    sync(scheduled=True)
    assert history_rows(sync) == before


def test_a_new_team_name_or_submission_count_alone_is_no_move(sync, exports):
    (exports / "demo-comp.csv").write_bytes(BOARDS[0])
    sync()
    renamed = BOARDS[0].replace(
        b'"Team Alpha","2026-11-01 10:00:00",0.95,4', b'"Alpha Prime","2026-11-01 10:00:00",0.95,9'
    )
    (exports / "demo-comp.csv").write_bytes(renamed)
    sync()
    assert sync.entries()["alice"] == (1, "Alpha Prime")
    assert history_rows(sync) == 4
