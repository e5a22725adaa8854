"""Read a Kaggle leaderboard CSV export into a validated frame with canonical columns."""

import codecs
import csv
import io
import re
import warnings

import numpy as np
import pandas as pd
import pandera.errors
import pyarrow as pa
import pyarrow.compute as arrow_compute
import pyarrow.csv as arrow_csv

from kaggle_lb.errors import LeaderboardFormatError, LeaderboardValidationError
from kaggle_lb.leaderboard.schema import LeaderboardModel

CANONICAL_COLUMNS = [
    "rank",
    "team_id",
    "team_name",
    "submission_date",
    "score",
    "submission_count",
    "member_usernames",
]

# Export header column -> canonical column, per format.
CURRENT_COLUMNS = {
    "Rank": "rank",
    "TeamId": "team_id",
    "TeamName": "team_name",
    "LastSubmissionDate": "submission_date",
    "Score": "score",
    "SubmissionCount": "submission_count",
    "TeamMemberUserNames": "member_usernames",
}
# Exports from 2023 and before: rows are in rank order, no members, no submission count.
LEGACY_COLUMNS = {
    "TeamId": "team_id",
    "TeamName": "team_name",
    "SubmissionDate": "submission_date",
    "Score": "score",
}

DATE_FORMAT = "%Y-%m-%d %H:%M:%S"
# Some exports write dates the US way: 4/29/2026 10:37:56 PM.
US_DATE_FORMAT = "%m/%d/%Y %I:%M:%S %p"
HIGHER, LOWER = "higher", "lower"
# 18 digits always fit in int64, so a matching value never overflows on conversion.
_INTEGER_PATTERN = r"[+-]?\d{1,18}"
_DATE_LAYOUT = r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$"
_PLAIN_DECIMAL = r"^-?(\d+\.?\d*|\.\d+)$"
# Rank 0 marks a benchmark row, which credits nobody: only "0" itself is that rank.
_DISGUISED_ZERO = r"^00+$"
_MAX_REPORTED_FAILURES = 10
# The length of leaderboard_entries.kaggle_team_name: a longer name would fail the write.
MAX_TEAM_NAME_CHARS = 1024
_MAX_VALUE_CHARS = 40


def parse_leaderboard(content: bytes, competition: str, direction: str | None = None) -> pd.DataFrame:
    """Parse a Kaggle leaderboard export (current or legacy format) into `CANONICAL_COLUMNS`.

    TeamName is kept byte-exact; an empty SubmissionCount becomes NA. A legacy export has no
    rank: see `rank_legacy` for how its rows are ranked (`direction`, "higher" or "lower" is
    better, is the competition's, when known).
    Raises LeaderboardFormatError when the bytes are not a leaderboard CSV (bad encoding,
    no header, missing columns, broken CSV, a legacy board that cannot be ranked) and
    LeaderboardValidationError listing every row that breaks `LeaderboardModel`.
    """
    typed = read_clean_export(content)
    if typed is not None:
        try:
            return LeaderboardModel.validate(typed, lazy=True)
        except pandera.errors.SchemaErrors:
            pass  # The exact reading reports every failure with the CSV's own text.
    return parse_text(decode(content, competition), competition, direction)


def parse_text(text: str, competition: str, direction: str | None = None) -> pd.DataFrame:
    """The exact reading of parse_leaderboard: every column as text, then each cell converted and
    checked, so that every failing cell is reported. Takes the decoded CSV."""
    raw = _read_csv(text, competition)
    mapping = detect_columns(list(raw.columns), competition)
    board = raw[list(mapping)].rename(columns=mapping)
    legacy = "rank" not in board
    if legacy:
        board.insert(0, "rank", pd.Series(range(1, len(board) + 1), index=board.index).astype(str))
        board["submission_count"] = ""
        board["member_usernames"] = ""
    board = board[CANONICAL_COLUMNS]
    typed, conversion_failures = _convert(board)
    validated = _validate(typed, conversion_failures, board, competition)
    return rank_legacy(validated, direction, competition) if legacy else validated


def rank_legacy(board: pd.DataFrame, direction: str | None, competition: str) -> pd.DataFrame:
    """Rank a legacy export as Kaggle ranked it. Rows in score order are ranked by row order. A
    history export, where a TeamId repeats once per improving submission in date order, keeps
    each team's best row and shows its own direction. Rows in another order (sorted by TeamId,
    say) are ranked by score in the competition's direction, ties by the earlier submission;
    without a direction that cannot be done, and is said."""
    repeated = board["team_id"].duplicated(keep=False)
    if repeated.any():
        shown = _history_direction(board[repeated])
        if shown is None:
            return board  # true duplicates: unique_team_ids_check reports them
        best = board.sort_values("score", ascending=shown == LOWER, kind="stable")
        best = best.sort_values("submission_date", kind="stable").drop_duplicates("team_id", keep="last")
        return _rank_by_score(best, shown)
    steps = board["score"].diff().dropna()
    if direction != HIGHER and (steps >= 0).all() or direction != LOWER and (steps <= 0).all():
        return board
    if direction is None:
        raise LeaderboardFormatError(
            competition,
            "the legacy export's rows are not in score order (sorted by TeamId, say), and which score "
            "is better is not set, so its ranks cannot be told: set the competition's score direction "
            "(`kaggle-lb competitions add SLUG --score-direction higher|lower`, or the site's column)",
        )
    return _rank_by_score(board, direction)


def _history_direction(repeated: pd.DataFrame) -> str | None:
    """Which way every repeated team's scores move in date order, when they all move one way."""
    ordered = repeated.sort_values("submission_date", kind="stable")
    steps = ordered.groupby("team_id", sort=False)["score"].diff().dropna()
    if len(steps) and (steps > 0).all():
        return HIGHER
    if len(steps) and (steps < 0).all():
        return LOWER
    return None


def _rank_by_score(board: pd.DataFrame, direction: str) -> pd.DataFrame:
    ranked = board.sort_values(
        ["score", "submission_date"], ascending=[direction == LOWER, True], kind="stable"
    ).reset_index(drop=True)
    return ranked.assign(rank=np.arange(1, len(ranked) + 1, dtype=np.int64))


def split_members(value: str) -> list[str]:
    """Split a TeamMemberUserNames cell into usernames (case kept, blanks dropped)."""
    return [name.strip() for name in value.split(",") if name.strip()]


def decode(content: bytes, competition: str) -> str:
    """The export's text, or LeaderboardFormatError when it is not UTF-8 or holds a NUL."""
    try:
        text = content.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        cause = f"leaderboard CSV is not valid UTF-8: {exc}"
        raise LeaderboardFormatError(competition, cause) from exc
    if "\x00" in text:
        # pandas' parser silently cuts a field at a NUL, which could turn "al\0ice" into user "al".
        line = text.count("\n", 0, text.index("\x00")) + 1
        cause = f"leaderboard CSV holds a NUL byte (line {line}): the file is corrupt"
        raise LeaderboardFormatError(competition, cause)
    return text


def read_clean_export(content: bytes) -> pd.DataFrame | None:
    """The typed board of a current-format export in which every cell converts as it stands, read
    by Arrow's CSV reader (several times faster than the exact reading); None for anything else.

    Only what the exact reading accepts with the same value passes here: UTF-8 without NUL (checked
    by Arrow and memchr, without building the text), integers as plain digits (Arrow alone would
    also take hex), scores and dates with the values the exact conversions give, and a header of
    exactly the current columns' names, each once. Anything odd, including a board that fails
    validation, goes to the exact reading, which alone reports failures.
    """
    if b"\x00" in content:
        return None
    try:
        pa.array([content], pa.large_binary()).cast(pa.large_string())  # as strict as bytes.decode
    except pa.ArrowInvalid:
        return None
    # Arrow's reader, like the "utf-8-sig" codec, skips one byte order mark.
    first_line = re.split(rb"[\r\n]", content.removeprefix(codecs.BOM_UTF8), maxsplit=1)[0].decode()
    header = first_line.split(",")
    plain = '"' not in first_line and all(name == name.strip() for name in header) and len(set(header)) == len(header)
    if not plain or not set(CURRENT_COLUMNS) <= set(header):
        return None
    try:
        table = arrow_csv.read_csv(
            io.BytesIO(content),
            parse_options=arrow_csv.ParseOptions(newlines_in_values=True),
            convert_options=arrow_csv.ConvertOptions(
                column_types={name: pa.string() for name in CURRENT_COLUMNS},
                include_columns=list(CURRENT_COLUMNS),
                strings_can_be_null=False,
            ),
        )
    except pa.ArrowInvalid:
        return None  # a row of the wrong length, broken quoting: the exact reading names it
    columns = table.rename_columns([CURRENT_COLUMNS[name] for name in table.column_names])

    def integers(name: str, nullable: bool) -> pd.Series | None:
        values = columns[name]
        if nullable:
            values = arrow_compute.if_else(arrow_compute.equal(values, ""), None, values)
        # Plain ASCII digits only: Arrow's cast alone would also take signs, padding and hex.
        if not arrow_compute.all(arrow_compute.ascii_is_decimal(values)).as_py():
            return None
        try:
            numbers = arrow_compute.cast(values, pa.int64())
        except pa.ArrowInvalid:
            return None  # beyond int64
        return numbers.to_pandas(types_mapper={pa.int64(): pd.Int64Dtype()}.get if nullable else None)

    # A zero written otherwise ("00") takes the exact reading, which refuses it.
    if arrow_compute.any(arrow_compute.match_substring_regex(columns["rank"], _DISGUISED_ZERO)).as_py():
        return None
    typed = {
        "rank": integers("rank", nullable=False),
        "team_id": integers("team_id", nullable=False),
        "submission_count": integers("submission_count", nullable=True),
    }
    if any(values is None for values in typed.values()):
        return None
    if (
        len(columns)
        and arrow_compute.max(arrow_compute.utf8_length(columns["team_name"])).as_py() > MAX_TEAM_NAME_CHARS
    ):
        return None
    typed["score"] = scores = _export_scores(columns["score"])
    typed["submission_date"] = dates = _export_dates(columns["submission_date"])
    if scores.isna().any() or dates.isna().any():
        return None
    typed["team_name"] = columns["team_name"].to_pandas()
    members = columns["member_usernames"].to_numpy(zero_copy_only=False).tolist()
    typed["member_usernames"] = pd.Series([value.strip() for value in members], dtype=object)
    # In canonical order and without copying: the columns are new arrays no one else holds.
    return pd.DataFrame({name: typed[name] for name in CANONICAL_COLUMNS}, copy=False)


def _export_scores(scores: pa.ChunkedArray) -> pd.Series:
    """_scores of an Arrow column, converted by Arrow where that gives the same doubles: Arrow's
    conversion is correctly rounded, pandas' up to 15 digits, so plain decimals of at most 15
    characters become the same double either way."""
    plain = arrow_compute.and_(
        arrow_compute.match_substring_regex(scores, _PLAIN_DECIMAL),
        arrow_compute.less_equal(arrow_compute.utf8_length(scores), 15),
    )
    if arrow_compute.all(plain).as_py():
        return arrow_compute.cast(scores, pa.float64()).to_pandas()
    return _scores(scores.to_pandas())


def _export_dates(dates: pa.ChunkedArray) -> pd.Series:
    """_dates of an Arrow column, converted by Arrow's ISO 8601 cast where every cell has exactly
    DATE_FORMAT's layout: it rejects every date pandas does (and a leap second, which then takes
    pandas' way)."""
    if arrow_compute.all(arrow_compute.match_substring_regex(dates, _DATE_LAYOUT)).as_py():
        try:
            return arrow_compute.cast(dates, pa.timestamp("ns")).to_pandas().dt.tz_localize("UTC")
        except pa.ArrowInvalid:
            pass
    return _dates(dates.to_pandas())


def _scores(text: pd.Series) -> pd.Series:
    return pd.to_numeric(text, errors="coerce").astype(np.float64)


def _dates(text: pd.Series) -> pd.Series:
    dates = pd.to_datetime(text, format=DATE_FORMAT, errors="coerce", utc=True).astype("datetime64[ns, UTC]")
    other = dates.isna()
    if other.any():
        dates[other] = pd.to_datetime(text[other], format=US_DATE_FORMAT, errors="coerce", utc=True)
    return dates


def _read_csv(text: str, competition: str) -> pd.DataFrame:
    try:
        with warnings.catch_warnings():
            # index_col=False: a first data row longer than the header must not become an index
            # (shifting every value); pandas only warns that it drops the extra fields, so fail.
            warnings.simplefilter("error", pd.errors.ParserWarning)
            # All columns as text and no NA detection: team names such as "NA" or "null" are names.
            frame = pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False, na_filter=False, index_col=False)
    except pd.errors.EmptyDataError as exc:
        cause = "leaderboard CSV is empty (no header row)"
        raise LeaderboardFormatError(competition, cause) from exc
    except pd.errors.ParserWarning as exc:
        cause = "leaderboard CSV cannot be read: its first data row has more fields than the header"
        raise LeaderboardFormatError(competition, cause) from exc
    except (pd.errors.ParserError, csv.Error) as exc:
        raise LeaderboardFormatError(competition, f"leaderboard CSV cannot be read: {exc}") from exc
    frame.columns = [str(column).strip() for column in frame.columns]
    return frame


def detect_columns(header: list[str], competition: str) -> dict[str, str]:
    """Return the export -> canonical column mapping of the format the header belongs to."""
    missing = {
        name: [column for column in columns if column not in header]
        for name, columns in (("current", CURRENT_COLUMNS), ("legacy", LEGACY_COLUMNS))
    }
    if not missing["current"]:
        return CURRENT_COLUMNS
    if not missing["legacy"]:
        return LEGACY_COLUMNS
    # Name the columns missing from the closer format; a tie means a damaged current export.
    closest = min(missing, key=lambda name: (len(missing[name]), name != "current"))
    raise LeaderboardFormatError(
        competition,
        f"leaderboard CSV header lacks column(s) {', '.join(missing[closest])} of the {closest} "
        f"Kaggle export format (current: {','.join(CURRENT_COLUMNS)}; legacy: "
        f"{','.join(LEGACY_COLUMNS)}); header found: {_excerpt(','.join(header))}",
    )


def _excerpt(text: str, limit: int = 200) -> str:
    """A short quote of what a file holds: enough to recognise it, never a file's worth of text in
    a check's description, a log line or an alert."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _convert(board: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Convert the text columns to their dtypes, collecting every cell that does not convert.

    Conversion is done here rather than by pandera's coercion because a column that fails to
    coerce is left as text, and pandera's range and uniqueness checks then fail on it as a
    whole, hiding e.g. a negative rank behind a non-numeric one. Cells that fail become NA, so
    the checks still run on the rest of the column. A team name too long to store fails here too.
    """
    failures = []

    def integers(column: str, nullable: bool) -> pd.Series:
        try:
            # Fast path for the usual all-valid column; anything odd takes the exact check below.
            values = pd.Series(board[column].astype(np.int64), index=board.index)
            return values.astype("Int64") if nullable else values
        except (ValueError, OverflowError):
            pass
        text = board[column].str.strip()
        valid = text.str.fullmatch(_INTEGER_PATTERN)
        failed = ~valid & (text != "") if nullable else ~valid
        failures.append(_failures(board, column, failed, "not an integer"))
        return pd.Series(pd.array(text.where(valid, None), dtype="Int64"), index=board.index)

    rank = integers("rank", nullable=False)
    # "-0" or "00" is no rank Kaggle writes; read as 0 it would make the row a benchmark's and
    # silently take it from its team's members.
    disguised_zero = rank.eq(0).fillna(False) & (board["rank"].str.strip() != "0")
    failures.append(_failures(board, "rank", disguised_zero, "0 written other than as 0 (a benchmark's rank)"))
    score = _scores(board["score"].str.strip())
    failures.append(_failures(board, "score", score.isna(), "not a number"))
    date = _dates(board["submission_date"].str.strip())
    failures.append(_failures(board, "submission_date", date.isna(), f"not a date {DATE_FORMAT} (or {US_DATE_FORMAT})"))
    too_long = board["team_name"].str.len() > MAX_TEAM_NAME_CHARS
    failures.append(_failures(board, "team_name", too_long, f"longer than {MAX_TEAM_NAME_CHARS} characters"))
    typed = pd.DataFrame(
        {
            "rank": rank,
            "team_id": integers("team_id", nullable=False),
            "team_name": board["team_name"],
            "submission_date": date,
            "score": score,
            "submission_count": integers("submission_count", nullable=True),
            "member_usernames": board["member_usernames"].str.strip(),
        }
    )
    # Concatenating empty parts is deprecated in pandas; keep one so the columns exist.
    failed_parts = [part for part in failures if len(part)] or failures[:1]
    return typed, pd.concat(failed_parts, ignore_index=True)


def _failures(board: pd.DataFrame, column: str, failed: pd.Series, check: str) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "column": column,
            "check": check,
            "failure_case": board.loc[failed, column],
            "index": board.index[failed],
        }
    )


def _validate(
    typed: pd.DataFrame, conversion_failures: pd.DataFrame, board: pd.DataFrame, competition: str
) -> pd.DataFrame:
    try:
        validated = LeaderboardModel.validate(typed, lazy=True)
    except pandera.errors.SchemaErrors as exc:
        schema_failures = exc.failure_cases[["column", "check", "failure_case", "index"]]
        # A cell that failed conversion is NA now, so pandera reports it again as null, and its
        # column's dtype as nullable; the conversion failure already names its original value.
        converted_away = pd.MultiIndex.from_frame(conversion_failures[["column", "index"]])
        repeated = pd.MultiIndex.from_frame(schema_failures[["column", "index"]]).isin(converted_away) | (
            schema_failures["index"].isna() & schema_failures["column"].isin(conversion_failures["column"])
        )
        schema_failures = schema_failures[~repeated]
    else:
        if conversion_failures.empty:
            return validated
        schema_failures = conversion_failures.iloc[:0]
    failures = pd.concat([part for part in (conversion_failures, schema_failures) if len(part)], ignore_index=True)
    raise LeaderboardValidationError(competition, _describe_failures(failures, board))


def _describe_failures(failures: pd.DataFrame, board: pd.DataFrame) -> str:
    """Summarise failures as a count plus a bounded table of the first few, in row order."""
    failures = failures.assign(
        position=pd.to_numeric(failures["index"], errors="coerce"),
        column_order=failures["column"].map({c: i for i, c in enumerate(CANONICAL_COLUMNS)}),
    ).sort_values(["position", "column_order"], na_position="first", kind="stable")
    shown = failures.head(_MAX_REPORTED_FAILURES)
    lines = [
        f"leaderboard has {len(failures)} schema failure(s) in "
        f"{failures['position'].dropna().nunique()} row(s); first {len(shown)}:",
        "| row | column | check | value |",
        "|---|---|---|---|",
    ]
    for column, check, failure_case, position in zip(
        shown["column"], shown["check"], shown["failure_case"], shown["position"]
    ):
        if pd.isna(position):
            row, value = "-", failure_case
        else:
            # The CSV text is what an operator finds in the file; prefer it to the NA it became.
            row, value = str(int(position) + 1), board.at[int(position), column]
        lines.append(f"| {row} | {column} | {check} | {_truncate(repr(value))} |")
    return "\n".join(lines)


def _truncate(text: str) -> str:
    if len(text) > _MAX_VALUE_CHARS:
        text = text[: _MAX_VALUE_CHARS - 3] + "..."
    return text.replace("|", "\\|")
