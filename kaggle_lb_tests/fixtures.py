"""Where the real Kaggle exports live: `shared/` beside the repository, locally and in CI."""

from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
FIXTURES_DIR = (REPO_ROOT / ".." / "shared" / "fixtures" / "kaggle-leaderboards").resolve()


def fixture_path(name: str) -> Path:
    """Path of one fixture file, failing loudly when the shared checkout is missing."""
    path = FIXTURES_DIR / name
    if not path.is_file():
        raise FileNotFoundError(f"fixture {name!r} not found in {FIXTURES_DIR}")
    return path
