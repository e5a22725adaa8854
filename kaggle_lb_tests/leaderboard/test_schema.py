import pandas as pd
import pandera.errors
import pytest

from kaggle_lb.leaderboard.parsing import parse_leaderboard
from kaggle_lb.leaderboard.schema import LeaderboardModel

BOARD = (
    b"Rank,TeamId,TeamName,LastSubmissionDate,Score,SubmissionCount,TeamMemberUserNames\n"
    b"1,10,a,2026-01-01 00:00:00,0.5,1,a\n"
    b"2,11,b,2026-01-01 00:00:00,0.4,1,b\n"
    b"3,12,c,2026-01-01 00:00:00,0.3,1,c\n"
)


def test_text_columns_name_each_value_that_is_not_a_str():
    board = parse_leaderboard(BOARD, "comp")
    board["team_name"] = pd.Series(["a", 5, None], dtype=object)
    board["member_usernames"] = pd.Series(["a", b"b", "c"], dtype=object)
    with pytest.raises(pandera.errors.SchemaErrors) as raised:
        LeaderboardModel.validate(board, lazy=True)
    failures = raised.value.failure_cases
    failed = {(column, str(case)) for column, case in zip(failures["column"], failures["failure_case"])}
    assert ("team_name", "5") in failed
    assert ("team_name", "None") in failed  # not nullable
    assert ("member_usernames", "b'b'") in failed
    assert not failures["failure_case"].isin(["a", "c"]).any()


def test_text_columns_of_str_pass_and_show_as_str():
    LeaderboardModel.validate(parse_leaderboard(BOARD, "comp"), lazy=True)
    dtypes = {name: str(dtype) for name, dtype in LeaderboardModel.to_schema().dtypes.items()}
    assert dtypes["team_name"] == dtypes["member_usernames"] == "str"
