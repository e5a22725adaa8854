"""The real Kaggle exports in ../shared/fixtures (beside the repository, in CI as here)."""

from pathlib import Path

FIXTURES_DIR = Path(__file__).resolve().parents[1].parent / "shared" / "fixtures" / "kaggle-leaderboards"


def fixture_path(name: str) -> Path:
    return FIXTURES_DIR / name
