"""Data-quality rules for a downloaded board, as plain functions over plain data.

Each returns a `CheckOutcome` whose description says what failed and whose sample holds the
offending rows, so the check's metadata alone is enough to diagnose a failure in the UI.
"""

import csv
import re
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from kaggle_lb.errors import LeaderboardFormatError
from kaggle_lb.leaderboard.parsing import HIGHER, LOWER, detect_columns
from kaggle_lb.quality.markdown import markdown_table

SAMPLE_ROWS = 10


@dataclass(frozen=True)
class CheckOutcome:
    passed: bool
    description: str
    metadata: dict = field(default_factory=dict)
    sample: pd.DataFrame | None = None

    def sample_markdown(self) -> str | None:
        if self.sample is None or self.sample.empty:
            return None
        return markdown_table(self.sample.head(SAMPLE_ROWS))


def header_of(content: bytes) -> list[str]:
    """The CSV's header row alone, read leniently: all the required-columns check needs. (Kaggle's
    header has no quoted line break, so its first line, ended by LF, CR or CRLF, is all of it.)"""
    first_line = re.split(rb"[\r\n]", content, maxsplit=1)[0].decode("utf-8-sig", errors="replace")
    try:
        return [column.strip() for column in next(csv.reader([first_line]), [])]
    except csv.Error:
        return [first_line.strip()]


def _with_rows(board: pd.DataFrame) -> pd.DataFrame:
    """rank, team_id, team_name and score of the typed board, with each row's line in the CSV
    (the header being line 1) for the samples an operator reads."""
    return board[["rank", "team_id", "team_name", "score"]].assign(row=board.index + 2)[
        ["row", "rank", "team_id", "team_name", "score"]
    ]


def required_columns(header: list[str], competition: str) -> CheckOutcome:
    metadata = {"header": ",".join(header)[:500]}
    try:
        columns = detect_columns(header, competition)
    except LeaderboardFormatError as failure:
        return CheckOutcome(False, failure.cause, metadata)
    return CheckOutcome(True, f"{len(columns)} required columns present", metadata)


def unique_team_ids(board: pd.DataFrame) -> CheckOutcome:
    frame = _with_rows(board)
    duplicated = frame[frame["team_id"].duplicated(keep=False)].sort_values(["team_id", "row"])
    if len(duplicated):
        count = duplicated["team_id"].nunique()
        return CheckOutcome(
            False, f"{count} TeamId value(s) appear on more than one row", {"duplicated_ids": count}, duplicated
        )
    return CheckOutcome(True, f"{len(frame)} distinct TeamIds", {"duplicated_ids": 0})


def not_empty(board: pd.DataFrame, existing_entries: int) -> CheckOutcome:
    rows = len(board)
    metadata = {"rows": rows, "existing_entries": existing_entries}
    if rows == 0 and existing_entries > 0:
        return CheckOutcome(False, f"the board is empty but the competition has {existing_entries} entries", metadata)
    return CheckOutcome(True, f"{rows} rows", metadata)


def row_count_drop(
    board: pd.DataFrame, last_good_rows: int | None, max_drop_fraction: float, existing_entries: int
) -> CheckOutcome:
    rows = len(board)
    metadata = {"rows": rows, "last_good_rows": last_good_rows, "max_drop_fraction": max_drop_fraction}
    if rows == 0 and existing_entries > 0:
        # One problem, one failing check: `not_empty` already reports this board.
        return CheckOutcome(True, "an empty board is judged by not_empty_check", metadata)
    if not last_good_rows:
        return CheckOutcome(True, f"{rows} rows; no earlier good board to compare with", metadata)
    drop = 1 - rows / last_good_rows
    metadata["drop_fraction"] = round(drop, 4)
    if drop > max_drop_fraction:
        return CheckOutcome(
            False,
            f"the board has {rows} rows, {drop:.0%} fewer than the {last_good_rows} of the last good board "
            f"(more than the {max_drop_fraction:.0%} allowed): a truncated download?",
            metadata,
        )
    return CheckOutcome(True, f"{rows} rows against {last_good_rows} last time", metadata)


def scores_vary(board: pd.DataFrame, min_rows: int) -> CheckOutcome:
    scores = _with_rows(board)
    ranked = scores[scores["rank"] != 0]
    distinct = ranked["score"].nunique(dropna=False)
    metadata = {"rows": len(ranked), "distinct_scores": int(distinct)}
    if len(ranked) > min_rows and distinct == 1:
        value = ranked["score"].iloc[0]
        return CheckOutcome(
            False,
            f"all {len(ranked)} ranked rows have the same score ({value}): a broken scoring run?",
            metadata,
            ranked,
        )
    return CheckOutcome(True, f"{distinct} distinct scores", metadata)


def infer_direction(scores: pd.Series) -> str | None:
    """Which way the board sorts: the majority of the non-zero steps between neighbours."""
    steps = np.sign(scores.diff().dropna())
    down, up = int((steps < 0).sum()), int((steps > 0).sum())
    if down == up:
        return None
    return HIGHER if down > up else LOWER


def ranks_follow_scores(board: pd.DataFrame, direction: str | None) -> CheckOutcome:
    frame = _with_rows(board)
    ranked = frame[(frame["rank"] != 0) & frame["score"].notna()].sort_values(["rank", "row"], kind="stable")
    chosen = direction or infer_direction(ranked["score"])
    metadata: dict[str, str | int] = {
        "direction": chosen or "unknown",
        "direction_source": "registry" if direction else "inferred",
    }
    if chosen is None:
        return CheckOutcome(True, "no order to check: every score is equal", metadata)
    steps = ranked["score"].diff()
    wrong = steps > 0 if chosen == HIGHER else steps < 0
    metadata["out_of_order_rows"] = int(wrong.sum())
    if wrong.any():
        # Show each offending row with the row ranked just before it.
        positions = np.flatnonzero(wrong.to_numpy())
        pairs = sorted(set(positions) | set(positions - 1))
        return CheckOutcome(
            False,
            f"{int(wrong.sum())} row(s) break the rank order ({chosen} score is better): ranks do not follow scores",
            metadata,
            ranked.iloc[pairs],
        )
    return CheckOutcome(True, f"ranks follow scores ({chosen} is better)", metadata)


def match_rate(matched: int, previous_matched: int | None, max_drop_fraction: float) -> CheckOutcome:
    metadata = {"matched": matched, "previous_matched": previous_matched}
    if not previous_matched:
        return CheckOutcome(True, f"{matched} users matched", metadata)
    if matched < previous_matched * (1 - max_drop_fraction):
        return CheckOutcome(
            False,
            f"only {matched} users matched, down from {previous_matched} at the last sync: "
            "renamed Kaggle usernames or a changed users table?",
            metadata,
        )
    return CheckOutcome(True, f"{matched} users matched (last sync: {previous_matched})", metadata)


def reconciliation(stored: pd.DataFrame, expected: pd.DataFrame) -> CheckOutcome:
    """Compare the table read back with what the board gives, on user, rank, score and team."""
    key = ["user_id", "rank", "score", "kaggle_team_id"]
    merged = stored[key].merge(expected[key], how="outer", indicator=True)
    differing = (
        merged[merged["_merge"] != "both"]
        .replace({"_merge": {"left_only": "in table only", "right_only": "on board only"}})
        .rename(columns={"_merge": "where"})
    )
    metadata = {"stored": len(stored), "expected": len(expected), "differences": len(differing)}
    if len(differing):
        return CheckOutcome(
            False,
            f"{len(differing)} entries in the table disagree with the board they were written from",
            metadata,
            differing,
        )
    return CheckOutcome(True, f"{len(stored)} entries agree with the board", metadata)


def _listing(items: list[str]) -> str:
    """The first SAMPLE_ROWS items quoted (so a name's stray spaces show), then how many more."""
    shown = ", ".join(repr(item) for item in items[:SAMPLE_ROWS])
    return shown + (f" and {len(items) - SAMPLE_ROWS} more" if len(items) > SAMPLE_ROWS else "")


def contested_names(contested: dict[str, list[str]]) -> CheckOutcome:
    """The board's names two or more site users claim (matching.MatchResult.contested), which
    credit none of them until the site leaves each name to one user."""
    metadata = {"contested_names": len(contested)}
    if not contested:
        return CheckOutcome(True, "no name on the board is claimed by more than one site user", metadata)
    claims = list(contested.items())
    listed = "; ".join(f"{name!r} by {_listing(users)}" for name, users in claims[:SAMPLE_ROWS])
    if len(claims) > SAMPLE_ROWS:
        listed += f"; and {len(claims) - SAMPLE_ROWS} more names"
    sample = pd.DataFrame(
        [{"name": name, "users": len(users), "claimed_by": _listing(users)} for name, users in claims]
    )
    return CheckOutcome(
        False,
        f"{len(claims)} name(s) on the board are claimed by more than one site user, so none of them is "
        f"credited until the site leaves each name to one user: {listed}",
        {**metadata, "claims": contested},
        sample,
    )
