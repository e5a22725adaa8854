"""kaggle_lb_history: every change of a site user's standing, as a person would write it down.

A user *entered* the board (new rank and score), *moved* on it (old and new rank and score; a
change of score alone, or of board when Kaggle's private board replaces the public one, is a
move too) or *left* it (old rank and score). A sync that changes nothing for a user writes
nothing for them, so the table grows with the changes, not with the polls. Written by
`standings.write_standings` in its transaction; the readers are in history_read.
"""

from datetime import datetime

import pandas as pd
from sqlalchemy import Connection

from kaggle_lb.storage.bulk import insert_rows
from kaggle_lb.storage.history_read import ENTERED, LEFT, MOVED
from kaggle_lb.storage.schema import Tables

_MOVES = ("rank", "score", "board")


def _users(frame: pd.DataFrame) -> pd.DataFrame:
    # Teams no site user was credited for (entries.unmatched_teams) are nobody's history.
    return frame[frame["user_id"].notna()]


def _moved(updated: pd.DataFrame) -> pd.Series:
    """Updated standings whose rank, score or board changed (a new team name or submission
    count alone is no move); two missing scores are the same score."""
    differs = pd.Series(False, index=updated.index)
    for column in _MOVES:
        new, old = updated[column], updated[f"{column}_old"]
        differs |= ~(new.eq(old).fillna(False) | (new.isna() & old.isna()))
    return differs


def record(
    conn: Connection,
    tables: Tables,
    competition_id: int,
    inserted: pd.DataFrame,
    updated: pd.DataFrame,
    deleted: pd.DataFrame,
    board: str,
    at: datetime,
) -> None:
    """The history rows of one write: `inserted` and `deleted` are standings (matcher columns),
    `updated` pairs each new standing with its old values (columns suffixed `_old`)."""
    entered, left = _users(inserted), _users(deleted)
    moved = _users(updated)
    moved = moved[_moved(moved)] if len(moved) else moved
    parts = [
        _rows(entered, ENTERED, None, entered["rank"], None, entered["score"]),
        _rows(moved, MOVED, moved["rank_old"], moved["rank"], moved["score_old"], moved["score"]),
        _rows(left, LEFT, left["rank"], None, left["score"], None),
    ]
    rows = pd.concat([part for part in parts if len(part)], ignore_index=True) if any(map(len, parts)) else None
    if rows is not None:
        insert_rows(conn, tables.history, rows.assign(competition_id=competition_id, board=board, changed_at=at))


def _rows(standings: pd.DataFrame, change: str, old_rank, new_rank, old_score, new_score) -> pd.DataFrame:
    """History rows of one kind, in the table's types (a None is a missing value throughout)."""
    frame = pd.DataFrame(
        {
            "user_id": standings["user_id"],
            "change": change,
            "old_rank": old_rank,
            "new_rank": new_rank,
            "old_score": old_score,
            "new_score": new_score,
        },
        index=standings.index,
    )
    return frame.astype(
        {"user_id": "int64", "old_rank": "Int64", "new_rank": "Int64", "old_score": "float64", "new_score": "float64"}
    )
