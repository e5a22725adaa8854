"""Credit leaderboard rows to the site's users by Kaggle username (or, failing that, team name)."""

from collections.abc import Collection
from dataclasses import dataclass

import numpy as np
import pandas as pd

ENTRY_DTYPES = {
    "user_id": "int64",
    "rank": "int64",
    "score": "float64",
    "kaggle_team_id": "int64",
    "kaggle_team_name": "object",
    "submission_count": "Int64",
    "submission_date": "datetime64[ns, UTC]",
}


@dataclass(frozen=True)
class MatchResult:
    """One entry per credited user, plus how many board rows credited nobody."""

    entries: pd.DataFrame
    skipped: int


def normalise_key(series: pd.Series) -> pd.Series:
    """Comparable form of a username or team name: trimmed, case-folded; missing stays missing."""
    # Object rather than "string" dtype: half the cost on a million names, and a column of
    # nothing but NaN (no user has a Kaggle username yet) still works.
    return series.astype(object).str.strip().str.casefold()


def row_keys(board: pd.DataFrame) -> pd.DataFrame:
    """The keys each ranked row credits, as (row, key) pairs: its member usernames, or its team
    name when it has none. `board` has a default index (row positions). The distinct keys are
    the only users matching needs (see user_keys.load_board_users)."""
    ranked = board[board["rank"] > 0]
    # Plain Python over the cells, half the time of pandas' split, explode and string methods,
    # with one casefold for all member cells (joined by NUL, which no parsed board holds; no
    # character folds into a space, a comma or a NUL, so folding before splitting changes nothing).
    members_casefolded = "\x00".join(ranked["member_usernames"].tolist()).casefold().split("\x00")
    rows, keys = [], []
    for row, members, team_name in zip(ranked.index.tolist(), members_casefolded, ranked["team_name"].tolist()):
        credited = False
        for name in members.split(","):
            name = name.strip()
            if name:
                rows.append(row)
                keys.append(name)
                credited = True
        if not credited:
            # Only rows without any member username fall back to their team name.
            key = team_name.strip().casefold()
            if key:
                rows.append(row)
                keys.append(key)
    return pd.DataFrame({"row": pd.Series(rows, dtype="int64"), "key": pd.Series(keys, dtype=object)})


def board_mentions(content: bytes, keys: Collection[str]) -> bool:
    """Whether any of `keys` may be on the board in `content`, without parsing it: a key the board
    credits is a member username or a team name, so it appears in the case-folded text, quoted
    the CSV way when it holds a double quote. False positives only cost a needless re-match."""
    if not keys:
        return False
    text = content.decode("utf-8-sig", errors="replace").casefold()
    return any(key in text or key.replace('"', '""') in text for key in keys)


def user_keys(users: pd.DataFrame) -> np.ndarray:
    """Each user's key: their Kaggle username when set, else their username (NaN when neither)."""
    keys = normalise_key(users["kaggle_username"]).to_numpy(copy=True)
    unset = pd.isna(keys) | (keys == "")
    keys[unset] = normalise_key(users.loc[unset, "username"]).to_numpy()
    return keys


def match_entries(board: pd.DataFrame, users: pd.DataFrame, pairs: pd.DataFrame | None = None) -> MatchResult:
    """Match a parsed leaderboard (see parse_leaderboard) against users.

    `users` has user_id, username and kaggle_username (None/NaN/blank when unset). A user's key
    is their kaggle_username when set, else their username. Every member username of a row
    credits the user with that key; a row without members (legacy exports) falls back to its
    team name. Rank 0 rows are host benchmarks and credit nobody. A user credited by several
    rows keeps the best rank (lowest team_id on a tie). `skipped` counts the board rows that
    end up crediting no user, benchmarks included; board team ids are assumed unique.
    `pairs` is row_keys(board), for a caller that already computed it to find the users.
    """
    board = board.reset_index(drop=True)
    pairs_by_key = row_keys(board) if pairs is None else pairs
    keys = user_keys(users)
    # A set lookup per user is the cheapest way to drop the users no row can match (pandas'
    # isin and merge hash a million strings several times slower); missing keys match no row.
    wanted = set(pairs_by_key["key"])
    matchable = np.fromiter(map(wanted.__contains__, keys), dtype=bool, count=len(keys))
    matchable_users = pd.DataFrame(
        {"user_id": users["user_id"].to_numpy()[matchable], "key": keys[matchable]}
    )

    # The same set lookups drop the pairs no user has, before the merge hashes what is left.
    matchable_keys = set(matchable_users["key"])
    candidates = pairs_by_key.loc[[key in matchable_keys for key in pairs_by_key["key"].tolist()]]
    pairs = candidates.merge(matchable_users, on="key")[["row", "user_id"]]
    credited = (
        board.loc[pairs["row"]]
        .assign(user_id=pairs["user_id"].to_numpy())
        .sort_values(["rank", "team_id"], kind="stable")
        .drop_duplicates("user_id")
        .sort_values(["rank", "user_id"], kind="stable")
    )
    entries = (
        credited.rename(columns={"team_id": "kaggle_team_id", "team_name": "kaggle_team_name"})[
            list(ENTRY_DTYPES)
        ]
        .astype(ENTRY_DTYPES)
        .reset_index(drop=True)
    )
    skipped = len(board) - entries["kaggle_team_id"].nunique()
    return MatchResult(entries=entries, skipped=skipped)
