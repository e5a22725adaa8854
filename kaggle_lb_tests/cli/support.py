"""What the CLI tests share beside their fixtures."""

import os
import subprocess
import sys
from pathlib import Path

BOARD = (
    "Rank,TeamId,TeamName,LastSubmissionDate,Score,SubmissionCount,TeamMemberUserNames\n"
    '1,101,"Team, Alpha","2026-11-01 10:00:00",0.95,4,"alice,bob"\n'
    '2,102,carol,"2026-11-02 11:00:00",0.90,2,carol\n'
)
HEADER = BOARD.splitlines(keepends=True)[0]


# The installed script, as a user starts it.
KAGGLE_LB = str(Path(sys.executable).with_name("kaggle-lb"))


def run_kaggle_lb(*args: str, env: dict | None = None, **kwargs) -> subprocess.CompletedProcess:
    """`kaggle-lb ARGS` in a fresh interpreter."""
    return subprocess.run(
        [KAGGLE_LB, *args], env={**os.environ, **(env or {})}, capture_output=True, text=True, timeout=300, **kwargs
    )
