import pandas as pd
import pytest

from kaggle_lb.leaderboard.matching import match_entries, user_keys
from kaggle_lb.leaderboard.parsing import parse_leaderboard, split_members
from kaggle_lb_tests.fixtures import fixture_path

HEADER = "Rank,TeamId,TeamName,LastSubmissionDate,Score,SubmissionCount,TeamMemberUserNames\n"
ENTRY_DTYPES = {
    "user_id": "int64",
    "rank": "int64",
    "score": "float64",
    "kaggle_team_id": "int64",
    "kaggle_team_name": "object",
    "submission_count": "Int64",
    "submission_date": "datetime64[ns, UTC]",
}


def board(*lines: str, header: str = HEADER) -> pd.DataFrame:
    return parse_leaderboard((header + "".join(line + "\n" for line in lines)).encode(), "comp")


def users(*rows: tuple) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["user_id", "username", "kaggle_username"])


def credited(result) -> dict[int, int]:
    """user_id -> rank."""
    return dict(zip(result.entries["user_id"], result.entries["rank"]))


def assert_entry_dtypes(entries: pd.DataFrame) -> None:
    assert {column: str(dtype) for column, dtype in entries.dtypes.items()} == ENTRY_DTYPES


def test_user_keys():
    keys = user_keys(
        users(
            (1, " Alice ", None),
            (2, "bob", " BOB2 "),  # the Kaggle username wins
            (3, "Straße", float("nan")),  # only ASCII letters fold: ß stays ß
            (4, "carol", "  "),  # a blank Kaggle username is unset
            (5, None, None),
            (6, "  ", None),
            (7, "\ufb01ona", "\u212aELVIN"),  # a ligature and the Kelvin sign are not ASCII: kept
        )
    )
    assert keys.tolist() == ["alice", "bob2", "straße", "carol", None, "", "\u212aelvin"]


def test_names_fold_as_kaggle_usernames_do_ascii_case_only():
    # Kaggle usernames are ASCII and case-insensitive: a non-ASCII site name matches only itself
    # (Unicode case folding would let straße claim STRASSE, or the ligature ﬁona claim fiona).
    result = match_entries(
        board(
            "1,10,A,2025-01-01 00:00:00,0.9,1,STRASSE",
            "2,11,B,2025-01-01 00:00:00,0.8,1,fiona",
            "3,12,C,2025-01-01 00:00:00,0.7,1,kelvin",
            "4,13,D,2025-01-01 00:00:00,0.6,1,ÉLODIE",
            "5,14,E,2025-01-01 00:00:00,0.5,1, ZOË ",
        ),
        users(
            (1, "straße", None),
            (2, "\ufb01ona", None),
            (3, "kel", "\u212aelvin"),
            (4, "élodie", None),
            (5, "zoe", "ZOË"),
            (6, "Strasse", "STRASSE "),
        ),
    )
    assert credited(result) == {5: 5, 6: 1}


def test_a_name_claimed_by_several_site_users_credits_none_of_them():
    # Anyone can type a top Kaggler's username into their profile: a name two site users claim is
    # nobody's until the site resolves it, and the claim is reported by name.
    result = match_entries(
        board(
            '1,10,A,2025-01-01 00:00:00,0.9,1,"alice,bob"',
            "2,11,B,2025-01-01 00:00:00,0.8,1,carol",
        ),
        users(
            (1, "alice", None),
            (2, "Alice", None),
            (3, " alice ", None),
            (4, "mallory", "ALICE"),
            (5, "bob", None),
            (6, "carol", None),
            (7, "carla", "carol"),
            (8, "dan", "eve"),
            (9, "eve", None),
        ),
    )
    assert credited(result) == {5: 1}
    # Only names on the board: dan and eve share a key no row holds.
    assert result.contested == {"alice": ["alice", "Alice", " alice ", "mallory"], "carol": ["carol", "carla"]}
    assert result.skipped == 1


def test_a_team_name_claimed_by_several_site_users_credits_none_of_them():
    result = match_entries(
        board(
            "10,Alice,2017-01-01 00:00:00,0.3",
            "11,Bob,2017-01-01 00:00:00,0.4",
            header="TeamId,TeamName,SubmissionDate,Score\n",
        ),
        users((1, "alice", None), (2, "ALICE", None), (3, "bob", None)),
    )
    assert credited(result) == {3: 2}
    assert result.contested == {"alice": ["alice", "ALICE"]}


def test_members_match_case_insensitively_and_all_are_credited():
    result = match_entries(
        board(
            '1,10,Team A,2025-01-01 00:00:00,0.9,3," Alice ,BOB,carol"',
            "2,11,Dave,2025-01-02 00:00:00,0.8,1,dave",
        ),
        users((1, "alice", None), (2, "Bob", None), (3, "Carol", ""), (4, "DAVE", None)),
    )
    assert credited(result) == {1: 1, 2: 1, 3: 1, 4: 2}
    assert result.skipped == 0


def test_entry_columns_and_values():
    result = match_entries(
        board('1,10," Team, A","2025-01-01 10:11:12",0.9,3,alice'),
        users((7, "alice", None)),
    )
    assert_entry_dtypes(result.entries)
    assert result.entries.to_dict("records") == [
        {
            "user_id": 7,
            "rank": 1,
            "score": 0.9,
            "kaggle_team_id": 10,
            "kaggle_team_name": " Team, A",
            "submission_count": 3,
            "submission_date": pd.Timestamp("2025-01-01 10:11:12", tz="UTC"),
        }
    ]


def test_team_name_is_a_fallback_only_for_rows_without_members():
    result = match_entries(
        board(
            # Members listed: the team name must not credit the user named like it.
            "1,10,erin,2025-01-01 00:00:00,0.9,1,frank",
            "2,11, Grace ,2025-01-01 00:00:00,0.8,1,",
            # Only commas and blanks: no member, so the team name credits.
            '3,12,Heidi,2025-01-01 00:00:00,0.7,1," , ,"',
            # One member among blanks: the team name does not.
            '4,13,Ivan,2025-01-01 00:00:00,0.6,1," , judy,"',
        ),
        users((1, "Erin", None), (2, "grace", None), (3, "heidi", None), (4, "ivan", None), (5, "Judy", None)),
    )
    assert credited(result) == {2: 2, 3: 3, 5: 4}
    assert result.skipped == 1


def test_legacy_rows_match_by_team_name():
    result = match_entries(
        board(
            "10,Alice,2017-01-01 00:00:00,0.3",
            "11,Somebody Else,2017-01-01 00:00:00,0.4",
            header="TeamId,TeamName,SubmissionDate,Score\n",
        ),
        users((1, "alice", None)),
    )
    assert credited(result) == {1: 1}
    assert result.entries["submission_count"].isna().all()
    assert_entry_dtypes(result.entries)
    assert result.skipped == 1


def test_kaggle_username_takes_precedence_over_username():
    result = match_entries(
        board(
            "1,10,A,2025-01-01 00:00:00,0.9,1,alice",
            "2,11,B,2025-01-01 00:00:00,0.8,1,kaggle_bob",
        ),
        users((1, "alice", "someone_else"), (2, "bob", " Kaggle_Bob ")),
    )
    assert credited(result) == {2: 2}


def test_blank_kaggle_username_falls_back_to_username():
    result = match_entries(
        board("1,10,A,2025-01-01 00:00:00,0.9,1,alice"),
        users((1, "alice", "  ")),
    )
    assert credited(result) == {1: 1}


def test_benchmark_rows_never_match():
    result = match_entries(
        board(
            "1,10,A,2025-01-01 00:00:00,0.9,1,alice",
            "0,11,Sample Submission Benchmark,2025-01-01 00:00:00,0.5,1,wendykan",
            "0,12,Host,2025-01-01 00:00:00,0.4,1,",
        ),
        users((1, "wendykan", None), (2, "Host", None)),
    )
    assert result.entries.empty
    assert result.skipped == 3


def test_user_on_two_teams_keeps_the_best_rank():
    result = match_entries(
        board(
            "1,20,A,2025-01-01 00:00:00,0.9,1,bob",
            "2,11,B,2025-01-01 00:00:00,0.8,2,alice",
            "3,12,C,2025-01-01 00:00:00,0.7,3,alice",
            # Tied ranks (not in real exports) go to the lowest team id.
            "1,10,D,2025-01-01 00:00:00,0.9,4,bob",
        ),
        users((1, "alice", None), (2, "bob", None)),
    )
    assert result.entries[["user_id", "rank", "kaggle_team_id"]].values.tolist() == [
        [2, 1, 10],
        [1, 2, 11],
    ]
    # Rows 12 and 20 lost their only user to a better row.
    assert result.skipped == 2


def test_entries_sorted_by_rank_then_user():
    result = match_entries(
        board(
            '1,10,A,2025-01-01 00:00:00,0.9,2,"zed,amy"',
            "2,11,B,2025-01-01 00:00:00,0.8,1,bea",
        ),
        users((30, "amy", None), (5, "zed", None), (1, "bea", None)),
    )
    assert result.entries[["user_id", "rank"]].values.tolist() == [[5, 1], [30, 1], [1, 2]]


def test_empty_board():
    result = match_entries(board(), users((1, "alice", None)))
    assert result.entries.empty
    assert list(result.entries.columns) == list(ENTRY_DTYPES)
    assert_entry_dtypes(result.entries)
    assert result.skipped == 0


def test_empty_users():
    no_users = pd.DataFrame(
        {
            "user_id": pd.Series(dtype="int64"),
            "username": pd.Series(dtype=object),
            "kaggle_username": pd.Series(dtype=object),
        }
    )
    result = match_entries(board("1,10,A,2025-01-01 00:00:00,0.9,1,alice"), no_users)
    assert result.entries.empty
    assert_entry_dtypes(result.entries)
    assert result.skipped == 1


def test_kaggle_usernames_all_nan():
    # A column of nothing but NaN (float dtype) must not break the string handling.
    site_users = pd.DataFrame({"user_id": [1, 2], "username": ["alice", None], "kaggle_username": [float("nan")] * 2})
    result = match_entries(board("1,10,A,2025-01-01 00:00:00,0.9,1,alice"), site_users)
    assert credited(result) == {1: 1}


def test_titanic_2025_fixture():
    content = fixture_path("titanic-publicleaderboard-2025-06.csv").read_bytes()
    titanic = parse_leaderboard(content, "titanic")
    teams = titanic.set_index("team_id")
    multi = teams.loc[13739369]  # rank 299, "chuyian,yu0216"
    assert split_members(multi["member_usernames"]) == ["chuyian", "yu0216"]
    site_users = users(
        (1, "ENOCKKATUI", None),  # rank 1
        (2, "site_name", "chuyian"),  # rank 299, with a teammate
        (3, "yu0216", None),
        (4, "del=e8ccd4e1333e6859", None),  # a deleted account, rank 322
        (5, "jeffmoser", None),  # host of the rank 0 benchmark
        (6, "nobody-on-kaggle", None),
        (7, "tesla89", "not-tesla89"),  # rank 13062 by username only
    )
    result = match_entries(titanic, site_users)

    assert credited(result) == {1: 1, 2: 299, 3: 299, 4: 322}
    assert result.skipped == len(titanic) - 3
    assert_entry_dtypes(result.entries)
    entry = result.entries.set_index("user_id").loc[2]
    assert entry["kaggle_team_id"] == 13739369
    assert entry["kaggle_team_name"] == "Chu YiAn"
    assert entry["score"] == pytest.approx(1.0)
    assert entry["submission_count"] == 7
    assert entry["submission_date"] == pd.Timestamp("2025-05-06 06:00:08", tz="UTC")
