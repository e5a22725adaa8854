"""The test data the repository ships: real Kaggle exports and ML-Battle's schema, each folder
with the SOURCES.md that says where its files come from."""

from pathlib import Path

DATA_DIR = Path(__file__).resolve().parent / "data"
FIXTURES_DIR = DATA_DIR / "kaggle-leaderboards"
ML_BATTLE_DIR = DATA_DIR / "sites" / "ml-battle"


def fixture_path(name: str) -> Path:
    """Path of one export, failing loudly when it is not shipped."""
    path = FIXTURES_DIR / name
    if not path.is_file():
        raise FileNotFoundError(f"fixture {name!r} not found in {FIXTURES_DIR}")
    return path
