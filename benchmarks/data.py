"""Benchmark inputs: boards (a real Kaggle export, a slice of it, or a generated one) and users."""

import csv
import io
import random
from datetime import datetime, timedelta
from pathlib import Path

from kaggle_lb.leaderboard.parsing import CURRENT_COLUMNS, split_members

FIXTURES = Path(__file__).resolve().parents[1] / "kaggle_lb_tests" / "data" / "kaggle-leaderboards"
TITANIC = FIXTURES / "titanic-publicleaderboard-2025-06.csv"
TITANIC_ROWS = 15_739
# About one board row in ten belongs to a platform user.
ON_BOARD_SHARE = 10

_FIRST = ["Ana", "Björn", "Chloé", "Dmitri", "Eun-ji", "Farah", "Giulia", "Hiro", "Ines", "José", "Kwame"]
_EXOTIC = [
    "🚀 Rocket Team",
    "فريق النجوم",
    "צוות הנתונים",
    "Data, Science & Co",
    'The "Best" Team',
    "데이터팀",
    "Ολυμπος",
    "NA",
    "null",
    "  spaced  ",
    "😀😀😀",
    "Straße",
]


def board_bytes(rows: int, seed: int = 7) -> bytes:
    """A leaderboard CSV of `rows` rows: the first rows of the real Titanic export when it has
    that many, else a generated board in the current export format."""
    if rows <= TITANIC_ROWS:
        lines = TITANIC.read_bytes().splitlines(keepends=True)  # no quoted field spans lines
        return b"".join(lines[: rows + 1])
    return generated_board(rows, seed)


def generated_board(rows: int, seed: int = 7) -> bytes:
    """Realistic shape: a Rank 0 host benchmark, ties in score, one team in five with 2-4
    members, Unicode team names (emoji, Arabic and Hebrew), quotes and commas in names."""
    rng = random.Random(seed)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CURRENT_COLUMNS)
    start = datetime(2025, 1, 1)
    writer.writerow([0, 1, "Sample Submission Benchmark", "2025-01-01 00:00:00", "0.50000", 1, "kagglehost"])
    for rank in range(1, rows):
        team_id = 1_000_000 + rank
        size = rng.choice([2, 3, 4]) if rng.random() < 0.2 else 1
        members = [f"{rng.choice(_FIRST).lower()}{rank}x{m}" for m in range(size)]
        if rng.random() < 0.05:
            members[0] = members[0].upper()  # Kaggle keeps the case users typed
        name = rng.choice(_EXOTIC) + f" {rank}" if rng.random() < 0.1 else f"{rng.choice(_FIRST)} {rank}"
        # Scores fall in steps of 0.0001, so neighbouring ranks often tie.
        score = f"{1 - rank * 0.9 / rows:.4f}"
        date = (start + timedelta(seconds=rng.randrange(180 * 86400))).strftime("%Y-%m-%d %H:%M:%S")
        writer.writerow([rank, team_id, name, date, score, rng.randint(1, 300), ",".join(members)])
    return out.getvalue().encode()


def users_for(board: bytes, count: int, seed: int = 11) -> list[tuple[str, str | None]]:
    """`count` (username, kaggle_username) pairs; about one board row in ten is one of them.

    Those users' Kaggle names are written as users type them (other case, stray spaces); half
    of them only set their username. The others are not on the board, 3% with non-ASCII names.
    """
    rng = random.Random(seed)
    records = list(csv.DictReader(io.StringIO(board.decode("utf-8-sig"))))
    on_board = []
    for record in records[1::ON_BOARD_SHARE][:count]:
        members = split_members(record["TeamMemberUserNames"])
        name = rng.choice(members) if members else record["TeamName"].strip()
        typed = rng.choice([name, name.upper(), f" {name.title()} "])
        on_board.append((f"site_{len(on_board)}", typed) if rng.random() < 0.5 else (typed.strip(), None))
    taken = {username for username, _ in on_board}
    others = []
    for i in range(count - len(on_board)):
        username = f"ünïcode_{i}" if rng.random() < 0.03 else f"member_{i}"
        if username in taken:
            username = f"{username}_{i}"
        others.append((username, f"kgl_{i}_{rng.randrange(10**6)}" if rng.random() < 0.5 else None))
    return on_board + others
