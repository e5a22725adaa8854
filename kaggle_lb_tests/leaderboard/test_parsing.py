import codecs
import csv
import io

import pandas as pd
import pandera.errors
import pytest
from hypothesis import event, example, given, settings
from hypothesis import strategies as st

from kaggle_lb.errors import LeaderboardFormatError, LeaderboardValidationError
from kaggle_lb.leaderboard.parsing import (
    CANONICAL_COLUMNS,
    MAX_TEAM_NAME_CHARS,
    decode,
    parse_leaderboard,
    parse_text,
    read_clean_export,
    split_members,
)
from kaggle_lb.leaderboard.schema import LeaderboardModel
from kaggle_lb_tests.fixtures import FIXTURES_DIR, fixture_path

FIXTURES = sorted(FIXTURES_DIR.glob("*.csv"))
CANONICAL_DTYPES = {
    "rank": "int64",
    "team_id": "int64",
    "team_name": "object",
    "submission_date": "datetime64[ns, UTC]",
    "score": "float64",
    "submission_count": "Int64",
    "member_usernames": "object",
}
HEADER = "Rank,TeamId,TeamName,LastSubmissionDate,Score,SubmissionCount,TeamMemberUserNames\n"
LEGACY_HEADER = "TeamId,TeamName,SubmissionDate,Score\n"


def parse_fixture(name: str) -> pd.DataFrame:
    return parse_leaderboard(fixture_path(name).read_bytes(), name.split("-publicleaderboard")[0])


def row(board: pd.DataFrame, team_id: int) -> pd.Series:
    return board.set_index("team_id").loc[team_id]


def assert_canonical(board: pd.DataFrame) -> None:
    assert list(board.columns) == CANONICAL_COLUMNS
    assert {column: str(dtype) for column, dtype in board.dtypes.items()} == CANONICAL_DTYPES


def test_fixtures_are_present():
    # An empty glob would silently parametrize nothing below.
    assert len(FIXTURES) >= 6, f"expected the shared Kaggle exports in {FIXTURES_DIR}"


@pytest.mark.parametrize("path", FIXTURES, ids=lambda path: path.name)
def test_every_fixture_parses(path):
    content = path.read_bytes()
    board = parse_leaderboard(content, "fixture")

    records = list(csv.reader(io.StringIO(content.decode("utf-8-sig"))))
    header, data = records[0], records[1:]
    assert len(board) == len(data)
    assert_canonical(board)
    assert board["team_id"].is_unique
    assert board["member_usernames"].map(lambda value: value == value.strip()).all()
    if "Rank" in header:
        assert board["rank"].tolist() == [int(record[0]) for record in data]
        assert board["team_name"].tolist() == [record[2] for record in data]
    else:
        assert board["rank"].tolist() == list(range(1, len(data) + 1))
        assert board["submission_count"].isna().all()
        assert (board["member_usernames"] == "").all()
        assert board["team_name"].tolist() == [record[1] for record in data]


@pytest.mark.parametrize("path", FIXTURES, ids=lambda path: path.name)
def test_current_exports_take_the_arrow_reading_with_the_exact_readings_result(path):
    content = path.read_bytes()
    text = content.decode("utf-8-sig")
    clean = read_clean_export(content)
    if not text.startswith("Rank,"):
        assert clean is None  # legacy exports: the exact reading only
        return
    assert clean is not None
    pd.testing.assert_frame_equal(clean, parse_text(text, "fixture"), check_exact=True)


# Cells the two readings could disagree on: padding, signs, other digits, hex, overflow, odd dates,
# zeros written otherwise (not a benchmark's rank), and values past the stored INTEGER.
INTEGER_CELLS = [
    "1",
    "7",
    "007",
    " 5",
    "5 ",
    "+5",
    "-5",
    "0x10",
    "1_0",
    "1.0",
    "",
    "١٢",
    "9" * 18,
    "9" * 19,
    "0",
    "-0",
    "00",
    "+0",
    " 0",
    "2147483647",
    "2147483648",
    "3000000000",
]
SCORE_CELLS = [
    "0.5",
    " 0.25",
    "1e3",
    "-0",
    "inf",
    "nan",
    "",
    "abc",
    "0x1p3",
    "1_000",
    "0.1000000000000000055511",
    ".5",
    "5.",
    "-.5",
    "-",
    ".",
    "1.2.3",
    "0.123456789012",
    "0.1234567890123457",
    "12345678901234567",
]
DATE_CELLS = [
    "2026-01-01 00:00:00",
    " 2026-01-01 00:00:00",
    "2026-1-1 0:0:0",
    "2026-02-30 00:00:00",
    "2026-01-01",
    "2026-01-01T00:00:00",
    "2026-01-01 23:59:60",
    "",
    "2026-01-01 00:00:00Z",
    "2026-01-01 00:00:00.5",
    "2024-02-29 12:00:00",
    "1677-09-21 00:12:43",
    "2026-01-01 24:00:00",
]
TEXT_CELLS = ["a", " A ", "a, b", 'q"uote', "line\nbreak", "NA", "", "起于青萍", "x" * (MAX_TEAM_NAME_CHARS + 1)]
MEMBER_CELLS = ["a", "a, b", " B ", "", " ", "del=e8cc"]
BOMS = [b"", b"", b"", codecs.BOM_UTF8, codecs.BOM_UTF8 * 2]
# NUL, a surrogate, overlong forms, beyond U+10FFFF, a cut-off sequence, a lone continuation byte.
BAD_BYTES = [b"\x00", b"\xed\xa0\x80", b"\xc0\x80", b"\xe0\x80\x80", b"\xf4\x90\x80\x80", b"\xe2\x82", b"\x80"]


@st.composite
def tricky_exports(draw) -> bytes:
    cells = [INTEGER_CELLS, INTEGER_CELLS, TEXT_CELLS, DATE_CELLS, SCORE_CELLS, INTEGER_CELLS, MEMBER_CELLS]
    # Clean rows with a few tricky cells, so that whole boards often take the Arrow reading.
    clean = ["1", "10", "a", "2026-01-01 00:00:00", "0.5", "3", "a"]
    rows = [list(clean) for _ in range(draw(st.integers(0, 5)))]
    for _ in range(draw(st.integers(0, 3))):
        if rows:
            column = draw(st.integers(0, len(cells) - 1))
            rows[draw(st.integers(0, len(rows) - 1))][column] = draw(st.sampled_from(cells[column]))
    for number, row in enumerate(rows):
        if row[1] == "10":
            row[1] = str(10 + number)  # unique team ids unless a drawn cell repeats one
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator=draw(st.sampled_from(["\n", "\r\n"])))
    writer.writerow(HEADER.strip().split(","))
    writer.writerows(rows)
    content = draw(st.sampled_from(BOMS)) + buffer.getvalue().encode()
    # Now and then bytes that are not UTF-8, or a NUL, somewhere in the file.
    if draw(st.integers(0, 2)) == 0:
        at = draw(st.integers(0, len(content)))
        content = content[:at] + draw(st.sampled_from(BAD_BYTES)) + content[at:]
    return content


def outcome(parse):
    try:
        return parse()
    except (LeaderboardFormatError, LeaderboardValidationError) as error:
        return str(error)


@settings(max_examples=150, deadline=None)
# Arrow takes "00" as a plain number; only the exact reading knows it is no benchmark's rank.
@example(content=(HEADER + "00,10,a,2026-01-01 00:00:00,0.5,3,a\n").encode())
@given(content=tricky_exports())
def test_the_arrow_reading_never_disagrees_with_the_exact_one(content):
    exact = outcome(lambda: parse_text(decode(content, "comp"), "comp"))
    clean = read_clean_export(content)
    event("arrow reading" if clean is not None else "exact reading only")
    if clean is not None:
        if isinstance(exact, str):
            # Taken by Arrow, but the board fails validation: parse_leaderboard reports it exactly.
            with pytest.raises(pandera.errors.SchemaErrors):
                LeaderboardModel.validate(clean, lazy=True)
        else:
            pd.testing.assert_frame_equal(clean, exact, check_exact=True)
    result = outcome(lambda: parse_leaderboard(content, "comp"))
    if isinstance(exact, str):
        assert result == exact
    else:
        pd.testing.assert_frame_equal(result, exact, check_exact=True)


@settings(max_examples=100, deadline=None)
# pandas' to_numeric rounds this one a unit lower than Arrow (and Python's float) do.
@example(scores=["0.39825979190748337"])
@given(scores=st.lists(st.from_regex(r"-?[0-9]{0,17}\.?[0-9]{1,17}", fullmatch=True), min_size=1, max_size=20))
def test_both_readings_give_every_plain_score_the_same_double(scores):
    rows = "".join(f"{i},{i},t,2026-01-01 00:00:00,{score},1,a\n" for i, score in enumerate(scores, 1))
    content = (HEADER + rows).encode()
    clean = read_clean_export(content)
    assert clean is not None
    pd.testing.assert_series_equal(clean["score"], parse_text(content.decode(), "comp")["score"], check_exact=True)


def test_row_count_of_titanic_2025():
    # 15,739 data rows (SOURCES.md says 15,738; the file has one more).
    assert len(parse_fixture("titanic-publicleaderboard-2025-06.csv")) == 15_739


def test_orbit_wars_benchmark_row_has_no_members():
    board = parse_fixture("orbit-wars-publicleaderboard-2026-05-05T15_36_33.csv")
    benchmarks = board[board["rank"] == 0]
    assert benchmarks["team_name"].tolist() == ["Strategy Optimized Agent"]
    assert benchmarks["member_usernames"].tolist() == [""]
    # The benchmark sits where its score puts it, between ranked rows.
    assert benchmarks.index[0] == 536


def test_house_prices_values():
    board = parse_fixture("house-prices-advanced-regression-techniques-publicleaderboard-2025-07-07T16_40_20.csv")
    benchmark = row(board, 365313)
    assert benchmark["rank"] == 0
    assert benchmark["team_name"] == "Sample Submission Benchmark"
    assert benchmark["member_usernames"] == "wendykan"
    assert benchmark["score"] == pytest.approx(0.40613)
    assert benchmark["submission_date"] == pd.Timestamp("2016-08-30 16:08:02", tz="UTC")
    # A multi-member team: quoted in the CSV, kept as one comma-separated string.
    team = row(board, 13726788)
    assert team["rank"] == 43
    assert team["submission_count"] == 6
    assert split_members(team["member_usernames"]) == [
        "guiqiyang",
        "liyihe0809",
        "sunxiao2023",
        "tzhang025",
        "zhangtong1123",
    ]
    assert row(board, 13699350)["team_name"] == "起于青萍之末的风"


def test_fcen_has_no_bom_and_three_benchmarks():
    name = "fcen-dm-2026-prediccion-precio-de-propiedades-privateleaderboard-2026-04-29T223756.csv"
    assert not fixture_path(name).read_bytes().startswith(b"\xef\xbb\xbf")
    board = parse_fixture(name)
    assert board.loc[board["rank"] == 0, "team_name"].tolist() == [
        "C3PO",
        "R2D2",
        "ejemplo_de_solucion.csv",
    ]
    assert (board.loc[board["rank"] == 0, "member_usernames"] == "").all()


def test_team_names_stay_byte_exact():
    orbit = parse_fixture("orbit-wars-publicleaderboard-2026-05-05T15_36_33.csv")
    assert row(orbit, 15652106)["team_name"] == " Mansi anil kadam"
    assert row(orbit, 15651157)["team_name"] == "Seok, Jeongeum"
    titanic_2023 = parse_fixture("titanic-publicleaderboard-2023-04.csv")
    assert row(titanic_2023, 9875528)["team_name"] == 'I-"_I'
    assert row(titanic_2023, 8683495)["team_name"] == "💥Tesla, Inc.💥"
    sberbank = parse_fixture("sberbank-russian-housing-market-publicleaderboard-2017.csv")
    assert row(sberbank, 639028)["team_name"] == "German Grief ᕕ( ཀ ʖ̯ ཀ)ᕗ"
    # Deleted accounts in old exports may lose even their uuid.
    assert row(sberbank, 746796)["team_name"] == "[Deleted]"


def test_deleted_account_row():
    board = parse_fixture("titanic-publicleaderboard-2025-06.csv")
    deleted = row(board, 13797808)
    assert deleted["team_name"] == "[Deleted] 4f5177fd-f710-4a7c-82fa-1a78ae7fae8b"
    assert deleted["member_usernames"] == "del=e8ccd4e1333e6859"
    assert deleted["rank"] == 322


def test_legacy_titanic_ranks_follow_row_order():
    board = parse_fixture("titanic-publicleaderboard-2023-04.csv")
    assert board.loc[0, ["rank", "team_id", "team_name"]].tolist() == [1, 8903880, "KAIS ZAIRI"]
    assert board.loc[2, "rank"] == 3
    assert board.loc[0, "submission_date"] == pd.Timestamp("2023-02-11 16:58:33", tz="UTC")


def test_bom_and_crlf_do_not_change_the_frame():
    content = fixture_path("orbit-wars-publicleaderboard-2026-05-05T15_36_33.csv").read_bytes()
    assert content.startswith(b"\xef\xbb\xbf")
    with_bom = parse_leaderboard(content, "orbit-wars")
    without_bom = parse_leaderboard(content[3:], "orbit-wars")
    crlf = parse_leaderboard(content.replace(b"\n", b"\r\n"), "orbit-wars")
    pd.testing.assert_frame_equal(with_bom, without_bom)
    pd.testing.assert_frame_equal(with_bom, crlf)


def test_na_like_names_and_extra_columns_are_kept_as_text():
    content = (
        b"Rank,TeamId,TeamName,LastSubmissionDate,Score,SubmissionCount,TeamMemberUserNames,Extra\n"
        b'1,10,NA,"2025-01-01 00:00:00",0.5,2," alice , Bob ",x\n'
        b"2,11,null,2025-01-02 03:04:05,0.4,1,,y\n"
    )
    board = parse_leaderboard(content, "comp")
    assert_canonical(board)
    assert board["team_name"].tolist() == ["NA", "null"]
    assert board["member_usernames"].tolist() == ["alice , Bob", ""]


def test_header_only_is_an_empty_board():
    for header in (HEADER, LEGACY_HEADER):
        board = parse_leaderboard(header.encode(), "comp")
        assert board.empty
        assert_canonical(board)


@pytest.mark.parametrize("content", [b"", b"\xef\xbb\xbf", b"\n\n"])
def test_empty_file_is_a_format_error(content):
    with pytest.raises(LeaderboardFormatError, match="competition 'comp'.*empty"):
        parse_leaderboard(content, "comp")


def test_invalid_utf8_is_a_format_error():
    content = HEADER.encode() + b'1,10,"Caf\xe9","2025-01-01 00:00:00",0.5,1,cafe\n'
    with pytest.raises(LeaderboardFormatError, match="competition 'comp'.*not valid UTF-8"):
        parse_leaderboard(content, "comp")


def test_missing_column_is_a_format_error():
    content = b"Rank,TeamId,TeamName,LastSubmissionDate,SubmissionCount,TeamMemberUserNames\n"
    with pytest.raises(LeaderboardFormatError) as raised:
        parse_leaderboard(content, "house-prices")
    message = str(raised.value)
    assert message.startswith("competition 'house-prices': ")
    assert "lacks column(s) Score" in message
    assert "header found: Rank,TeamId,TeamName,LastSubmissionDate,SubmissionCount" in message


def test_unrelated_header_is_a_format_error():
    with pytest.raises(LeaderboardFormatError, match="TeamName, SubmissionDate, Score"):
        parse_leaderboard(b"TeamId,Name\n1,x\n", "comp")


def test_broken_csv_is_a_format_error():
    with pytest.raises(LeaderboardFormatError, match="cannot be read"):
        parse_leaderboard(HEADER.encode() + b'1,10,"unterminated\n', "comp")


def validation_message(content: str) -> str:
    with pytest.raises(LeaderboardValidationError) as raised:
        parse_leaderboard(content.encode(), "comp")
    message = str(raised.value)
    assert message.startswith("competition 'comp': ")
    return message


def test_every_validation_failure_is_reported():
    message = validation_message(
        HEADER
        + "1,10,a,2025-01-01 00:00:00,abc,1,a\n"
        + "2,10,b,2025-13-01 00:00:00,0.5,1,b\n"
        + "-3,12,c,2025-01-01 00:00:00,0.4,1,c\n"
        + "4,x,d,yesterday,0.3,-2,d\n"
    )
    # A TeamId on two rows is no cell's fault: unique_team_ids_check reports it, with the rows.
    assert "6 schema failure(s) in 4 row(s)" in message and "uniqueness" not in message
    for expected in (
        "| 1 | score | not a number | 'abc' |",
        "| 2 | submission_date | not a date %Y-%m-%d %H:%M:%S (or %m/%d/%Y %I:%M:%S %p) | '2025-13-01 00:00:00' |",
        # A negative rank is still seen although another row's id does not convert.
        "| 3 | rank | greater_than_or_equal_to(0) | '-3' |",
        "| 4 | team_id | not an integer | 'x' |",
        "| 4 | submission_date | not a date %Y-%m-%d %H:%M:%S (or %m/%d/%Y %I:%M:%S %p) | 'yesterday' |",
        "| 4 | submission_count | greater_than_or_equal_to(0) | '-2' |",
    ):
        assert expected in message


def test_failure_table_is_bounded():
    rows = "".join(f"{i},{i},team,not a date,x,1,\n" for i in range(1, 100_001))
    message = validation_message(HEADER + rows)
    assert "200000 schema failure(s) in 100000 row(s); first 10:" in message
    assert len(message) < 2_000
    assert message.count("\n| ") == 11  # the column header plus ten failures


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("1,10,a,2025-01-01 00:00:00,,1,a", "| 1 | score | not a number | '' |"),
        ("1,10,a,2025-01-01 00:00:00,inf,1,a", "| 1 | score | score must be a finite number"),
        ("1.5,10,a,2025-01-01 00:00:00,0.5,1,a", "| 1 | rank | not an integer | '1.5' |"),
        ("1,10,a,2025-01-01T00:00:00Z,0.5,1,a", "| 1 | submission_date | not a date"),
        ("1,10,a,2025-01-01 00:00:00,0.5,many,a", "| 1 | submission_count | not an integer"),
    ],
)
def test_single_validation_failures(line, expected):
    assert expected in validation_message(HEADER + line + "\n")


def test_legacy_failures_name_data_rows():
    message = validation_message(LEGACY_HEADER + "1,a,2017-01-01 00:00:00,0.3\n2,b,,0.4\n")
    assert "1 schema failure(s) in 1 row(s)" in message
    assert "| 2 | submission_date | not a date %Y-%m-%d %H:%M:%S (or %m/%d/%Y %I:%M:%S %p) | '' |" in message


def test_missing_submission_count_is_na():
    board = parse_leaderboard((HEADER + "1,10,a,2025-01-01 00:00:00,0.5,,a\n").encode(), "comp")
    assert board["submission_count"].isna().all()


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("", []),
        ("alice", ["alice"]),
        ("alice,Bob", ["alice", "Bob"]),
        (" alice , ,Bob,", ["alice", "Bob"]),
    ],
)
def test_split_members(value, expected):
    assert split_members(value) == expected


# --- every legacy shape ranked as Kaggle ranked it ---------------------------------------------

SBERBANK = fixture_path("sberbank-russian-housing-market-publicleaderboard-2017.csv").read_bytes()


def _by_team_id(content: bytes) -> bytes:
    header, *rows = content.decode("utf-8-sig").splitlines(keepends=True)
    return (header + "".join(sorted(rows, key=lambda row: int(row.split(",", 1)[0])))).encode()


def test_a_legacy_export_sorted_by_team_id_is_ranked_by_score_in_the_competitions_direction():
    as_exported = parse_leaderboard(SBERBANK, "sber")
    reordered = parse_leaderboard(_by_team_id(SBERBANK), "sber", "lower")
    both = reordered.merge(as_exported, on="team_id", suffixes=("", "_exported"))
    assert len(both) == len(as_exported) == 3265
    # Where the score alone decides, the rank is the one Kaggle exported.
    alone = both[~both["score"].duplicated(keep=False)]
    assert len(alone) > 1000 and (alone["rank"] == alone["rank_exported"]).all()
    # Ties go to the earlier submission.
    tied = reordered[reordered["score"].duplicated(keep=False)].sort_values("rank")
    assert (tied.groupby("score")["submission_date"].apply(lambda d: d.is_monotonic_increasing)).all()
    assert reordered["rank"].tolist() == list(range(1, 3266))


def test_a_legacy_export_in_another_order_without_a_direction_says_what_to_set():
    with pytest.raises(LeaderboardFormatError, match="not in score order.*set the competition's score direction"):
        parse_leaderboard(_by_team_id(SBERBANK), "sber")


def test_a_history_export_keeps_each_teams_best_and_shows_its_own_direction():
    # Kaggle's submission history: a team on a row per improving submission, in date order.
    header, *rows = SBERBANK.decode("utf-8-sig").splitlines(keepends=True)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    for team_id, name, date, score in csv.reader(rows[:50]):
        writer.writerow([team_id, name, "2017-06-01 00:00:00", f"{float(score) + 0.05:.5f}"])  # an earlier, worse try
        writer.writerow([team_id, name, date, score])
    history = [header, out.getvalue()]
    board = parse_leaderboard("".join(history).encode(), "sber")  # no direction given
    assert len(board) == 50 and board["team_id"].is_unique
    expected = parse_leaderboard((header + "".join(rows[:50])).encode(), "sber")
    alone = expected[~expected["score"].duplicated(keep=False)]
    merged = alone.merge(board, on="team_id", suffixes=("", "_history"))
    assert (merged["rank"] == merged["rank_history"]).all() and (merged["score"] == merged["score_history"]).all()


def test_us_dates_and_spaced_header_names_are_read():
    content = b"TeamId, TeamName ,SubmissionDate,Score \n7,A,4/29/2026 10:37:56 PM,0.5\n8,B,12/1/2025 1:02:03 AM,0.4\n"
    board = parse_leaderboard(content, "us")
    assert board["submission_date"].dt.strftime("%Y-%m-%d %H:%M:%S").tolist() == [
        "2026-04-29 22:37:56",
        "2025-12-01 01:02:03",
    ]
    assert board["rank"].tolist() == [1, 2]
