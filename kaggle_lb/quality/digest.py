"""The community digest: one competition's news for a period, as Markdown, from its history.

The top N now, the biggest movers, who entered and who dropped out since the last digest, and
the switch to Kaggle's private board when it happened in the period. Every name and title is
board or site text, so every one of them is escaped. No news, no digest.
"""

from dataclasses import dataclass

from kaggle_lb.quality.markdown import escape
from kaggle_lb.storage.history_read import ENTERED, LEFT
from kaggle_lb.storage.schema import PRIVATE

MOVERS = 5


@dataclass(frozen=True)
class Digest:
    title: str
    body: str  # Markdown


def _score(score) -> str:
    return "" if score is None else f" — {escape(repr(float(score)))}"


def net_changes(changes: list[dict]) -> dict[str, tuple[int | None, int | None]]:
    """username -> (rank before the period, rank after it), from the period's history rows in
    time order: None before for a new entrant, None after for one who left."""
    net: dict[str, tuple[int | None, int | None]] = {}
    for row in changes:
        before = (
            net[row["username"]][0]
            if row["username"] in net
            else (None if row["change"] == ENTERED else row["old_rank"])
        )
        net[row["username"]] = (before, None if row["change"] == LEFT else row["new_rank"])
    return net


def build_digest(
    name: str, period: str, standings: list[dict], changes: list[dict], top: int, previous_board: str | None
) -> Digest | None:
    """The digest of `changes` (kaggle_lb_history rows since the last digest, in time order, with
    usernames) given the competition's `standings` now (standings_read.read_standings) and the
    board of the last change the previous digest covered; None when the period changed nothing."""
    if not changes:
        return None
    net = net_changes(changes)
    moves = sorted(
        (
            (before - after, user, before, after)
            for user, (before, after) in net.items()
            if before is not None and after is not None and before != after
        ),
        key=lambda move: (-abs(move[0]), move[1]),
    )
    entered = sorted((after, user) for user, (before, after) in net.items() if before is None and after is not None)
    left = sorted((before, user) for user, (before, after) in net.items() if before is not None and after is None)
    switched = previous_board != PRIVATE and any(row["board"] == PRIVATE for row in changes)
    lines = [f"# {escape(name)}: standings, {escape(period)}", ""]
    if switched:
        lines += ["**Final standings: Kaggle's private board is out, and these ranks follow it.**", ""]
    lines += [f"## Top {top}", ""]
    lines += [f"{row['rank']}\\. {escape(row['username'])}{_score(row['score'])}" for row in standings[:top]] or [
        "_nobody yet_"
    ]
    if moves:
        lines += ["", "## Biggest movers", ""]
        lines += [
            f"- {escape(user)} {'▲' if delta > 0 else '▼'}{abs(delta)} ({before} → {after})"
            for delta, user, before, after in moves[:MOVERS]
        ]
    if entered:
        lines += ["", "## New on the board", ""] + [f"- {escape(user)} at {after}" for after, user in entered]
    if left:
        lines += ["", "## Dropped out", ""] + [f"- {escape(user)} (was {before})" for before, user in left]
    return Digest(title=f"{name}: standings, {period}", body="\n".join(lines) + "\n")
