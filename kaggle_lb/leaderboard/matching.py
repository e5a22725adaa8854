"""Credit leaderboard rows to the site's users by Kaggle username (or, failing that, team name)."""

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


# The rule by which names become keys, stored with the keys (storage.user_keys.refresh): bump it
# whenever `fold` changes, so that every stored key is computed again. 1 was strip().casefold().
KEY_RULE = 2


@dataclass(frozen=True)
class MatchResult:
    """One entry per credited user, how many board rows credited nobody, and the board's names
    claimed by more than one site user (name -> their usernames, in the users' order), which
    credit none of them."""

    entries: pd.DataFrame
    skipped: int
    contested: dict[str, list[str]]


def fold(name: str) -> str:
    """A name as a match key: trimmed, ASCII letters lower-cased. Kaggle usernames are ASCII and
    compared regardless of case, so nothing else folds: Unicode case folding would let `straße`
    claim `strasse`, or the ligature `ﬁona` claim `fiona`."""
    # bytes.lower() changes A-Z only, and no byte of a non-ASCII character's UTF-8 is ASCII.
    return name.strip().encode("utf-8", "surrogatepass").lower().decode("utf-8", "surrogatepass")


def row_keys(board: pd.DataFrame) -> tuple[list[int], list[str]]:
    """The keys each ranked row credits, as (row, key) pairs in two parallel lists: its member
    usernames, or its team name when it has none. `board` has a default index (row positions).
    The distinct keys are the only users matching needs (see user_keys.load_board_users)."""
    ranked = board[board["rank"] > 0]
    # Plain Python over the cells, half the time of pandas' split, explode and string methods,
    # with one fold for all member cells (joined by NUL, which no parsed board holds; folding
    # touches no space, comma or NUL, so folding before splitting and trimming changes nothing).
    # Two lists of ints and strs rather than a tuple per pair: the garbage collector tracks no int
    # or str, and thousands of live tuples cost it more than building them.
    members_folded = fold("\x00".join(ranked["member_usernames"].tolist())).split("\x00")
    rows, keys = [], []
    for row, members, team_name in zip(ranked.index.tolist(), members_folded, ranked["team_name"].tolist()):
        if "," in members:
            names = [name for name in map(str.strip, members.split(",")) if name]
            if names:
                rows += [row] * len(names)
                keys += names
                continue
        elif name := members.strip():  # most cells: one name, no list needed
            rows.append(row)
            keys.append(name)
            continue
        # Only rows without any member username fall back to their team name, folded alike.
        key = fold(team_name)
        if key:
            rows.append(row)
            keys.append(key)
    return rows, keys


def user_keys(users: pd.DataFrame) -> np.ndarray:
    """Each user's key: their Kaggle username when set, else their username; folded (None when
    neither is set)."""
    # Plain Python: pandas' string methods cost more than the work on a board's few thousand users.
    return np.array(
        [
            (fold(kaggle) if isinstance(kaggle, str) else "") or (fold(username) if isinstance(username, str) else None)
            for username, kaggle in zip(users["username"].tolist(), users["kaggle_username"].tolist())
        ],
        dtype=object,
    )


def match_entries(
    board: pd.DataFrame, users: pd.DataFrame, pairs: tuple[list[int], list[str]] | None = None
) -> MatchResult:
    """Match a parsed leaderboard (see parse_leaderboard) against users.

    `users` has user_id, username and kaggle_username (None/NaN/blank when unset). A user's key
    is their kaggle_username when set, else their username (see user_keys). Every member
    username of a row credits the user with that key; a row without members (legacy exports)
    falls back to its team name. A key two or more users share credits none of them: any user
    can type any name, so a name is only theirs while nobody else claims it. Rank 0 rows are
    host benchmarks and credit nobody. A user credited by several rows keeps the best rank
    (lowest team_id on a tie). `skipped` counts the board rows that end up crediting no user,
    benchmarks included; board team ids are assumed unique. `pairs` is row_keys(board), for a
    caller that already computed it to find the users.
    """
    board = board.reset_index(drop=True)
    pairs = row_keys(board) if pairs is None else pairs
    users_by_key: dict[str, list[tuple[int, str]]] = {}
    for user_id, username, key in zip(users["user_id"].tolist(), users["username"].tolist(), user_keys(users).tolist()):
        if key:
            users_by_key.setdefault(key, []).append((user_id, username))
    user_id_by_key = {key: claimants[0][0] for key, claimants in users_by_key.items() if len(claimants) == 1}
    credited_rows, credited_users = [], []
    for row, key in zip(*pairs):
        user_id = user_id_by_key.get(key)
        if user_id is not None:
            credited_rows.append(row)
            credited_users.append(user_id)
    board_keys = set(pairs[1])
    contested = {
        key: [username for _, username in claimants]
        for key, claimants in sorted(users_by_key.items())
        if len(claimants) > 1 and key in board_keys
    }
    rows, user_ids = np.array(credited_rows, dtype=np.int64), np.array(credited_users, dtype=np.int64)
    rank, team_id = board["rank"].to_numpy()[rows], board["team_id"].to_numpy()[rows]
    # Each user's best credit: first in (rank, team id) order; np.lexsort sorts by its last key first.
    best_first = np.lexsort((team_id, rank))
    _, first = np.unique(user_ids[best_first], return_index=True)
    chosen = best_first[first]
    chosen = chosen[np.lexsort((user_ids[chosen], rank[chosen]))]
    entries = (
        board.take(rows[chosen])
        .rename(columns={"team_id": "kaggle_team_id", "team_name": "kaggle_team_name"})
        .assign(user_id=user_ids[chosen])[list(ENTRY_DTYPES)]
        .astype(ENTRY_DTYPES)
        .reset_index(drop=True)
    )
    skipped = len(board) - entries["kaggle_team_id"].nunique()
    return MatchResult(entries=entries, skipped=skipped, contested=contested)


def with_unmatched_teams(board: pd.DataFrame, entries: pd.DataFrame) -> pd.DataFrame:
    """`entries` and, as rows without a user, every ranked team of `board` that credited nobody."""
    teams = board[(board["rank"] > 0) & ~board["team_id"].isin(entries["kaggle_team_id"])]
    teams = teams.rename(columns={"team_id": "kaggle_team_id", "team_name": "kaggle_team_name"}).assign(user_id=pd.NA)
    dtypes = {**ENTRY_DTYPES, "user_id": "Int64"}
    return pd.concat([entries.astype(dtypes), teams[list(ENTRY_DTYPES)].astype(dtypes)], ignore_index=True)
