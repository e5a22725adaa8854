"""The board that counts: the public board until Kaggle has a private one, then the private one.

The download (`DownloadLeaderboard`) is always the public board; the leaderboard view
(`GetLeaderboard`) is the private board once one exists, else the public board again, and its
answer does not say which. So the view's first page is compared with the download: on a private
board nearly every team's score differs from its public one, while on the public board only a
team that submitted between the two requests can differ.

The private board's ranks and scores come from the view, in the view's order; everything else
(the members, the submission count, the last submission) from the download, joined by TeamId.
A team on the view but not in the download is reported, never guessed at.
"""

from dataclasses import dataclass

import pandas as pd

from kaggle_lb.errors import KaggleLbError
from kaggle_lb.leaderboard.schema import LeaderboardModel


@dataclass(frozen=True)
class ViewRow:
    """One row of Kaggle's leaderboard view, in its order."""

    team_id: int
    team_name: str
    score: str | None  # as Kaggle sends it, text


@dataclass(frozen=True)
class ViewPage:
    """The leaderboard view's first page: its rows, and the token of the next page ("" when none)."""

    rows: list[ViewRow]
    next_token: str


def _score(text: str | None) -> float | None:
    try:
        return float(text) if text not in (None, "") else None
    except ValueError:
        return None


def is_private(page: list[ViewRow], public: pd.DataFrame) -> bool:
    """Whether the view's `page` is a board other than the download `public`: more than half of
    the teams on both have another score on the view."""
    public_scores = dict(zip(public["team_id"].tolist(), public["score"].tolist()))
    shared = [row for row in page if row.team_id in public_scores]
    differing = sum(_score(row.score) != public_scores[row.team_id] for row in shared)
    return bool(shared) and differing * 2 > len(shared)


@dataclass(frozen=True)
class PrivateBoard:
    board: pd.DataFrame  # in LeaderboardModel's columns, ranked as the view ranks
    missing: list[ViewRow]  # teams on the view that the download does not have


def private_standings(public: pd.DataFrame, view: list[ViewRow], competition: str) -> PrivateBoard:
    """The private board `view` with the download's members: rank = place on the view."""
    bad = [row for row in view if _score(row.score) is None]
    if bad:
        raise KaggleLbError(
            competition,
            f"the private leaderboard view has {len(bad)} row(s) without a numeric score, e.g. team "
            f"{bad[0].team_id} with {bad[0].score!r}",
        )
    ranked = pd.DataFrame(
        {
            "team_id": pd.Series([row.team_id for row in view], dtype="int64"),
            "view_rank": pd.Series(range(1, len(view) + 1), dtype="int64"),
            "view_score": pd.Series([_score(row.score) for row in view], dtype="float64"),
        }
    )
    # Rank 0 marks a benchmark row, which no view ranks among the teams.
    teams = public[public["rank"] != 0]
    joined = ranked.merge(teams, on="team_id", how="left", indicator=True)
    known = joined["_merge"] == "both"
    missing = [row for row, found in zip(view, known) if not found]
    board = (
        joined[known]
        .assign(rank=lambda frame: frame["view_rank"], score=lambda frame: frame["view_score"])[
            list(LeaderboardModel.to_schema().columns)
        ]
        .reset_index(drop=True)
    )
    return PrivateBoard(LeaderboardModel.validate(board), missing)
