"""Hostile and malformed leaderboard CSVs: a correct parse or one error naming the competition,
never a bare traceback and never a partial write. Cases already in leaderboard/test_parsing.py
(missing columns, invalid UTF-8, BOM/CRLF equivalence, a header only, bad numbers) are not repeated
there, only run through the assets here."""

import subprocess
import sys
import textwrap

import pytest

from kaggle_lb.errors import MAX_CAUSE_CHARS, LeaderboardFormatError, LeaderboardValidationError
from kaggle_lb.leaderboard.parsing import MAX_TEAM_NAME_CHARS, parse_leaderboard
from kaggle_lb.resources.leaderboard_source import LocalExportsResource
from kaggle_lb.storage import registry, standings
from kaggle_lb.storage.schema import built_in_metadata, own_metadata
from kaggle_lb.storage.site_schema import BUILT_IN
from kaggle_lb_tests.databases import dump_entries
from kaggle_lb_tests.hardening.conftest import GOOD_BOARD, HEADER, SLUG, AssetSync, assert_clear_failure, board

ROW = "1,10,a,2026-01-01 00:00:00,0.5,1,a"


def error_of(content: bytes, kind=(LeaderboardFormatError, LeaderboardValidationError)) -> str:
    with pytest.raises(kind) as raised:
        parse_leaderboard(content, SLUG)
    assert raised.value.competition == SLUG
    assert str(raised.value).startswith(f"competition '{SLUG}': ")
    return str(raised.value)


@pytest.mark.parametrize(
    "date",
    ["2026-02-30 00:00:00", "2026-02-03 25:61:00", "2026-13-01 00:00:00", "0000-01-01 00:00:00"],
)
def test_impossible_dates_are_validation_errors(date):
    message = error_of(board(f"1,10,a,{date},0.5,1,a"), LeaderboardValidationError)
    assert f"| 1 | submission_date | not a date %Y-%m-%d %H:%M:%S (or %m/%d/%Y %I:%M:%S %p) | '{date}' |" in message


@pytest.mark.parametrize(
    "content, line",
    [
        (board("1,10,al\x00ice,2026-01-01 00:00:00,0.5,1,alice"), 2),
        (board(ROW, "2,11,b,2026-01-01 00:00:00,0.4,1,al\x00ice"), 3),
        (HEADER.replace("Rank", "Rank\x00").encode() + ROW.encode(), 1),
    ],
    ids=["team-name", "member", "header"],
)
def test_nul_bytes_are_a_format_error_not_a_silently_cut_field(content, line):
    # pandas would cut "al\0ice" to "al", crediting a user named "al" with someone else's rank.
    message = error_of(content, LeaderboardFormatError)
    assert f"holds a NUL byte (line {line}): the file is corrupt" in message


def test_a_first_row_longer_than_the_header_is_a_format_error_not_an_index():
    # Otherwise pandas takes the extra leading fields as an index and shifts every value.
    message = error_of(board(ROW + ",extra,more"), LeaderboardFormatError)
    assert message.endswith("its first data row has more fields than the header")


def test_a_later_row_longer_than_the_header_is_a_format_error():
    message = error_of(board(ROW, "2,11,b,2026-01-01 00:00:00,0.4,1,b,extra"), LeaderboardFormatError)
    assert "cannot be read: Error tokenizing data. C error: Expected 7 fields in line 3, saw 8" in message


def test_columns_in_another_order_parse_by_name():
    content = (
        b"TeamMemberUserNames,Score,TeamName,Rank,SubmissionCount,TeamId,LastSubmissionDate\n"
        b'"alice,bob",0.5,Team A,1,3,10,2026-01-01 00:00:00\n'
    )
    [row] = parse_leaderboard(content, SLUG).to_dict("records")
    assert (row["rank"], row["team_id"], row["team_name"], row["member_usernames"]) == (1, 10, "Team A", "alice,bob")


def test_latin1_bytes_inside_utf8_name_the_offending_byte():
    content = board("1,10,Café 東京,2026-01-01 00:00:00,0.5,1,a") + b"2,11,Caf\xe9,2026-01-01 00:00:00,0.4,1,b\n"
    message = error_of(content, LeaderboardFormatError)
    assert "not valid UTF-8: 'utf-8' codec can't decode byte 0xe9" in message


def test_a_team_name_longer_than_the_column_is_a_validation_error():
    message = error_of(board(f"1,10,{'x' * (MAX_TEAM_NAME_CHARS + 1)},2026-01-01 00:00:00,0.5,1,a"))
    assert f"| 1 | team_name | longer than {MAX_TEAM_NAME_CHARS} characters | 'xxxx" in message
    assert len(message) < 1000  # the value is shown truncated
    # Exactly at the limit is fine.
    parse_leaderboard(board(f"1,10,{'x' * MAX_TEAM_NAME_CHARS},2026-01-01 00:00:00,0.5,1,a"), SLUG)


@pytest.mark.parametrize("rank", ["-0", "00", "+0"])
def test_only_a_literal_0_rank_marks_a_benchmark(rank):
    # Read as 0, the row would be a benchmark's: its team's members would silently lose their rank.
    message = error_of(board(ROW, f"{rank},11,b,2026-01-01 00:00:00,0.4,1,bob"), LeaderboardValidationError)
    assert "1 schema failure(s) in 1 row(s)" in message
    assert f"| 2 | rank | 0 written other than as 0 (a benchmark's rank) | '{rank}' |" in message
    parsed = parse_leaderboard(board(ROW, "0,11,b,2026-01-01 00:00:00,0.4,1,"), SLUG)
    assert parsed["rank"].tolist() == [1, 0]


@pytest.mark.parametrize(
    "row, column",
    [
        ("3000000000,11,b,2026-01-01 00:00:00,0.4,1,bob", "rank"),
        ("2,11,b,2026-01-01 00:00:00,0.4,3000000000,bob", "submission_count"),
    ],
)
def test_a_value_past_the_stored_integer_is_a_validation_error_naming_the_row(row, column):
    # 3e9 fits int64 but not the INTEGER columns: refused here, not by the database's write.
    message = error_of(board(ROW, row), LeaderboardValidationError)
    assert f"| 2 | {column} | less_than_or_equal_to(2147483647) | '3000000000' |" in message
    # The largest stored value is still taken.
    parsed = parse_leaderboard(board(ROW, row.replace("3000000000", "2147483647")), SLUG)
    assert parsed[column].tolist() == [1, 2147483647]


def test_an_error_quoting_a_huge_header_is_cut():
    # The error names the header it found; a 1.1-million-character one must not make a message
    # (a log line, run metadata, an alert) as long.
    message = error_of(("Name," + "x" * 1_100_000 + "\n").encode(), LeaderboardFormatError)
    assert "header lacks column(s) TeamId, TeamName" in message
    assert message.endswith("xxx…") and len(message) < 600 < MAX_CAUSE_CHARS


def test_the_team_name_limit_is_the_columns_length():
    assert (
        built_in_metadata(BUILT_IN).tables["leaderboard_entries"].c.kaggle_team_name.type.length == MAX_TEAM_NAME_CHARS
    )
    assert own_metadata().tables["kaggle_lb_standings"].c.team_name.type.length == MAX_TEAM_NAME_CHARS


def test_embedded_crlf_in_a_quoted_team_name_is_kept():
    content = board('1,10,"two\r\nlines",2026-01-01 00:00:00,0.5,1,a').replace(b"\n", b"\r\n")
    assert parse_leaderboard(content, SLUG)["team_name"].tolist() == ["two\r\r\nlines"]


_BIG_FIELD_SCRIPT = textwrap.dedent(
    """
    import resource, sys
    from kaggle_lb.errors import LeaderboardValidationError
    from kaggle_lb.leaderboard.parsing import parse_leaderboard

    header = b"Rank,TeamId,TeamName,LastSubmissionDate,Score,SubmissionCount,TeamMemberUserNames\\n"
    big = b"x" * (50 * 2**20)
    members = header + b"1,10,a,2026-01-01 00:00:00,0.5,1," + big + b"\\n"
    name = header + b"1,10," + big + b",2026-01-01 00:00:00,0.5,1,a\\n"
    del big
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    parsed = parse_leaderboard(members, "comp")
    assert len(parsed.loc[0, "member_usernames"]) == 50 * 2**20
    try:
        parse_leaderboard(name, "comp")
    except LeaderboardValidationError as error:
        assert "longer than 1024 characters" in str(error)
    else:
        raise AssertionError("a 50 MB team name was accepted")
    print((resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) // 1024)
    """
)


def test_a_50_mb_field_parses_or_fails_cleanly_in_bounded_memory():
    # In a fresh interpreter, so the peak resident size belongs to this parse alone.
    done = subprocess.run([sys.executable, "-c", _BIG_FIELD_SCRIPT], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    peak_growth_mb = int(done.stdout.strip())
    # A bounded number of copies of the field (bytes, text, parser buffers, the cell: about eight
    # of 50 MB), not an explosion.
    assert peak_growth_mb < 512


# --- through the assets: the standings never change on a bad board ------------------------------


@pytest.fixture
def sync(site, exports, tmp_path):
    return AssetSync(site, LocalExportsResource(directory=str(exports)), tmp_path / "raw")


def current_standings(database) -> dict[str, int]:
    with database.begin() as conn:
        competition = registry.get_competition(conn, database.tables, SLUG)
        return {row["username"]: row["rank"] for row in standings.read_standings(conn, database.tables, competition.id)}


@pytest.mark.parametrize(
    "content, error",
    [
        (b"Name,Points\nalice,3\n", "required_columns_check: header lacks column(s)"),
        (board(ROW, "2,10,b,2026-01-01 00:00:00,0.4,1,bob"), "unique_team_ids_check: 1 TeamId value(s)"),
        (board("1,10,a,2026-01-01 00:00:00,high,1,alice"), "not a number"),
        (board("first,10,a,2026-01-01 00:00:00,0.5,1,alice"), "not an integer"),
        (board("1,10,a,2026-02-30 00:00:00,0.5,1,alice"), "not a date"),
        (board("1,10,a,2026-02-03 25:61:00,0.5,1,alice"), "not a date"),
        (board("1,10,al\x00ice,2026-01-01 00:00:00,0.5,1,alice"), "holds a NUL byte"),
        (board(ROW + ",extra"), "more fields than the header"),
        (GOOD_BOARD + b"3,11,Caf\xe9,2026-01-01 00:00:00,0.4,1,bob\n", "not valid UTF-8"),
        (board(f"1,10,{'x' * 5000},2026-01-01 00:00:00,0.5,1,alice"), "longer than 1024 characters"),
        (board(ROW, "-0,11,b,2026-01-01 00:00:00,0.4,1,bob"), "0 written other than as 0"),
        (board("3000000000,10,a,2026-01-01 00:00:00,0.5,1,alice"), "less_than_or_equal_to(2147483647)"),
        (board("1,10,a,2026-01-01 00:00:00,0.5,3000000000,alice"), "less_than_or_equal_to(2147483647)"),
    ],
    ids=[
        "wrong-columns",
        "duplicate-team-id",
        "score",
        "rank",
        "feb-30",
        "25-61",
        "nul",
        "extra-field",
        "latin1",
        "long-name",
        "minus-zero-rank",
        "rank-over-int32",
        "submissions-over-int32",
    ],
)
def test_a_hostile_board_fails_validation_and_keeps_the_standings(sync, site, exports, content, error):
    (exports / f"{SLUG}.csv").write_bytes(GOOD_BOARD)
    assert sync().success
    before = dump_entries(site)
    assert len(before) == 3

    (exports / f"{SLUG}.csv").write_bytes(content)
    result = sync()

    check, _, said = error.partition(": ")
    if said:  # a board a blocking check stops, in its own words
        (failed,) = [e for e in result.get_asset_check_evaluations() if not e.passed]
        assert not result.success and failed.check_name == check and said in failed.description
    else:
        assert_clear_failure(result, "validated_leaderboard", error)
    assert dump_entries(site) == before


@pytest.mark.parametrize(
    "content, expected",
    [
        (GOOD_BOARD.replace(b"\n", b"\r\n"), {"alice": 1, "bob": 1, "carol": 2}),
        (b"\xef\xbb\xbf" + GOOD_BOARD.replace(b"\n", b"\r"), {"alice": 1, "bob": 1, "carol": 2}),
        (board('1,10,a,2026-01-01 00:00:00,0.5,1,"carol,' + "x" * (10 * 2**20) + '"'), {"carol": 1}),
    ],
    ids=["crlf", "bom-and-cr", "10-mb-member-field"],
)
def test_an_odd_but_valid_board_syncs_exactly(sync, site, exports, content, expected):
    (exports / f"{SLUG}.csv").write_bytes(GOOD_BOARD)
    sync()

    (exports / f"{SLUG}.csv").write_bytes(content)
    result = sync()

    assert result.success
    assert current_standings(site) == expected


def test_a_header_only_board_is_stopped_while_the_competition_has_entries(sync, site, exports):
    (exports / f"{SLUG}.csv").write_bytes(GOOD_BOARD)
    sync()
    before = dump_entries(site)
    (exports / f"{SLUG}.csv").write_bytes(HEADER.encode())

    result = sync()

    (failed,) = [e for e in result.get_asset_check_evaluations() if not e.passed]
    assert failed.check_name == "not_empty_check" and dump_entries(site) == before
