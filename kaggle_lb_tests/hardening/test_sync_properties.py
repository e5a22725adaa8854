"""Property-based tests of matching and writing: for any sequence of boards and user sets, the
entries table after a sync is what the matching rules give for the last board, and syncing the
same inputs again writes nothing. On SQLite (fast); the writer's SQL is the same on PostgreSQL."""

import csv
import io

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import delete, select

from kaggle_lb.leaderboard.parsing import parse_leaderboard
from kaggle_lb.resources.database import DatabaseResource
from kaggle_lb.storage import registry, standings, user_keys

SLUG = "prop-comp"
HEADER = ["Rank", "TeamId", "TeamName", "LastSubmissionDate", "Score", "SubmissionCount", "TeamMemberUserNames"]
# Few names, many spellings of each: case, surrounding spaces, names that only Unicode folding
# would equate (ß / SS, É / é, the ﬁ ligature / fi).
NAMES = [
    "ana",
    "Ana",
    " ANA ",
    "bob",
    "BOB",
    "b0b",
    "straße",
    "STRASSE",
    "Élodie",
    "élodie",
    "zoë",
    "x",
    "\ufb01ona",
    "FIONA",
]
DATES = ["2026-01-01 00:00:00", "2026-02-28 23:59:59", "2025-06-15 12:30:00"]


@st.composite
def boards(draw) -> list[dict]:
    team_ids = draw(st.lists(st.integers(1, 40), min_size=0, max_size=8, unique=True))
    return [
        {
            "rank": draw(st.integers(0, 5)),  # 0: a benchmark row
            "team_id": team_id,
            "team_name": draw(st.sampled_from(NAMES + ["Team Ana", "a, b", ""])),
            "date": draw(st.sampled_from(DATES)),
            "score": draw(st.integers(-64, 64)) / 8,  # exact in binary: no rounding to argue about
            "count": draw(st.none() | st.integers(0, 30)),
            # Empty for a team-name-only row; otherwise names with stray spaces and empty slots.
            "members": draw(st.lists(st.sampled_from(NAMES + [" ", ""]), max_size=3).map(",".join)),
        }
        for team_id in team_ids
    ]


# username -> kaggle_username (None, blank or a name): unique usernames, as the table demands.
user_sets = st.dictionaries(
    st.sampled_from(NAMES + ["carol", "dave"]),
    st.none() | st.sampled_from(NAMES + ["", "  "]),
    max_size=7,
)


def to_csv(rows: list[dict]) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(HEADER)
    for r in rows:
        count = "" if r["count"] is None else r["count"]
        writer.writerow([r["rank"], r["team_id"], r["team_name"], r["date"], r["score"], count, r["members"]])
    return buffer.getvalue().encode()


def reference_entries(rows: list[dict], users: dict[int, tuple[str, str | None]]) -> dict[int, tuple]:
    """The matching rules, written out plainly: the oracle for the vectorised matcher."""

    def key(value: str) -> str:
        # Trimmed, then A-Z lower-cased and every other character kept, one at a time.
        return "".join(chr(ord(c) + 32) if "A" <= c <= "Z" else c for c in value.strip())

    user_key = {}
    for user_id, (username, kaggle_username) in users.items():
        if kaggle_username is not None and key(kaggle_username) != "":
            user_key[user_id] = key(kaggle_username)
        else:
            user_key[user_id] = key(username)
    # A key two users share is nobody's.
    claimants = list(user_key.values())
    user_key = {user_id: k for user_id, k in user_key.items() if claimants.count(k) == 1}

    best: dict[int, tuple] = {}
    for row in rows:
        if row["rank"] == 0:  # benchmarks credit nobody
            continue
        members = [key(name) for name in row["members"].split(",") if key(name)]
        # The team name counts only for a row without any member.
        credited = members if members else [key(row["team_name"])]
        for user_id, k in user_key.items():
            if k and k in credited:
                candidate = (row["rank"], row["team_id"])
                if user_id not in best or candidate < best[user_id][0]:
                    best[user_id] = (candidate, row)
    return {
        user_id: (row["rank"], row["score"], row["team_id"], row["team_name"], row["count"], row["date"])
        for user_id, (_, row) in best.items()
    }


@pytest.fixture(scope="module")
def database(tmp_path_factory):
    # One database for all examples (schema creation is the slow part); each example starts empty.
    home = tmp_path_factory.mktemp("property_db")
    resource = DatabaseResource(url=f"sqlite:///{home / 'site.sqlite3'}", home=str(home))
    resource.initialise()
    yield resource
    resource.dispose()


def stored_entries(database: DatabaseResource, competition_id: int) -> dict[int, tuple]:
    e = database.tables.entries
    query = select(
        e.c.user_id,
        e.c.rank,
        e.c.score,
        e.c.kaggle_team_id,
        e.c.kaggle_team_name,
        e.c.submission_count,
        e.c.submission_date,
    ).where(e.c.competition_id == competition_id)
    with database.begin() as conn:
        rows = conn.execute(query).all()
    assert len({row.user_id for row in rows}) == len(rows), "a user has two entries"
    return {
        row.user_id: (
            row.rank,
            row.score,
            row.kaggle_team_id,
            row.kaggle_team_name,
            row.submission_count,
            row.submission_date.strftime("%Y-%m-%d %H:%M:%S"),
        )
        for row in rows
    }


def set_users(database: DatabaseResource, wanted: dict[str, str | None]) -> dict[int, tuple[str, str | None]]:
    """Make the users table hold exactly `wanted` (ids kept for users who stay)."""
    tables = database.tables
    with database.begin() as conn:
        conn.execute(delete(tables.users).where(tables.username.not_in(list(wanted))))
        registry.import_users(conn, tables, list(wanted.items()))
        rows = conn.execute(select(tables.user_id, tables.username, tables.kaggle_username)).all()
    return {user_id: (username, kaggle) for user_id, username, kaggle in rows}


def sync(database: DatabaseResource, competition_id: int, board) -> standings.SyncCounts:
    """The user keys refreshed (user_match_keys), then matched_entries' write path: the board's
    users, matched and written in one transaction."""
    with database.begin() as conn:
        user_keys.refresh(conn, database.tables)
    with database.begin() as conn:
        result, _ = user_keys.match_board(conn, database.tables, board)
        return standings.write_standings(conn, database.tables, competition_id, result.entries)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(steps=st.lists(st.tuples(boards(), user_sets), min_size=1, max_size=3))
def test_entries_follow_the_matching_rules_and_a_repeat_writes_nothing(database, steps):
    tables = database.tables
    with database.begin() as conn:
        for table in (tables.entries, tables.standings, tables.syncs, tables.users, tables.competitions):
            conn.execute(delete(table))
        registry.add_competition(conn, tables, SLUG)
        competition_id = registry.get_competition(conn, tables, SLUG).id

    for rows, wanted_users in steps:
        users = set_users(database, wanted_users)
        board = parse_leaderboard(to_csv(rows), SLUG)

        sync(database, competition_id, board)
        expected = reference_entries(rows, users)
        assert stored_entries(database, competition_id) == expected

        again = sync(database, competition_id, board)
        assert (again.created, again.updated, again.removed) == (0, 0, 0)
        assert again.unchanged == len(expected)
        assert stored_entries(database, competition_id) == expected


def test_the_reference_follows_the_documented_rules():
    # The oracle itself, on a hand-checked case, so a wrong oracle cannot agree with a wrong matcher.
    users = {
        1: ("ana", None),
        2: ("bob", "  "),
        3: ("carol", "Straße"),
        4: ("dave", "nobody"),
        5: ("erin", " X"),
        6: ("x", None),
        7: ("fay", "\ufb01ona"),
    }
    rows = [
        {"rank": 0, "team_id": 1, "team_name": "ana", "date": DATES[0], "score": 1.0, "count": 1, "members": "ana"},
        {"rank": 2, "team_id": 9, "team_name": "t3", "date": DATES[0], "score": 0.5, "count": 1, "members": "ana"},
        {
            "rank": 2,
            "team_id": 5,
            "team_name": "t",
            "date": DATES[0],
            "score": 0.5,
            "count": None,
            "members": " ANA ,STRASSE",
        },
        {
            "rank": 2,
            "team_id": 3,
            "team_name": "t2",
            "date": DATES[1],
            "score": 0.5,
            "count": 2,
            "members": "straße,FIONA",
        },
        {"rank": 3, "team_id": 7, "team_name": "Bob", "date": DATES[2], "score": 0.25, "count": 4, "members": ""},
        {"rank": 4, "team_id": 8, "team_name": "dave", "date": DATES[2], "score": 0.1, "count": 4, "members": "x"},
    ]
    assert reference_entries(rows, users) == {
        # The benchmark row credits nobody; " ANA " folds to ana; a rank tie goes to the lower team id.
        1: (2, 0.5, 5, "t", None, DATES[0]),
        # Only ASCII folds: Straße is not STRASSE but is straße, the ligature ﬁona is not FIONA.
        3: (2, 0.5, 3, "t2", 2, DATES[1]),
        2: (3, 0.25, 7, "Bob", 4, DATES[2]),  # a blank Kaggle username falls back to the username
        # erin (Kaggle username " X") and x share the key x: neither is credited for team 8.
    }
