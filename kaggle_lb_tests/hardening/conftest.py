"""Shared pieces of the hardening tests: a site with users, and syncs through the real assets."""

import pytest
from dagster import DagsterEventType, DagsterInstance, materialize

from kaggle_lb.assets import leaderboard_assets, user_match_keys
from kaggle_lb.partitions import competitions_partitions
from kaggle_lb.resources.csv_io_manager import CsvFileIOManager
from kaggle_lb.resources.database import DatabaseResource
from kaggle_lb.resources.leaderboard_source import LeaderboardSource
from kaggle_lb.resources.quality import QualitySettingsResource
from kaggle_lb.storage import registry
from kaggle_lb_tests.pipeline import HEADER, board  # noqa: F401  (re-exported to the hardening tests)

SLUG = "demo-comp"
GOOD_BOARD = board(
    '1,101,"Team Alpha","2026-11-01 10:00:00",0.95,4,"alice,BOB"',
    '2,102,carol,"2026-11-02 11:00:00",0.90,2,carol',
    '0,103,"Sample Benchmark","2026-10-01 00:00:00",0.50,1,',
)


@pytest.fixture
def site(database: DatabaseResource) -> DatabaseResource:
    """The competition SLUG and three users who are on GOOD_BOARD."""
    with database.begin() as conn:
        registry.add_competition(conn, database.tables, SLUG, "Demo")
        registry.import_users(conn, database.tables, [("alice", None), ("bob", None), ("carol", None)])
    return database


class AssetSync:
    """Materializes the three assets for one partition, with the checks they evaluate; no drop in
    rows counts as a truncation, so a board of a few odd rows reaches the write. The users' keys
    are refreshed first, as `kaggle-lb sync` does."""

    def __init__(self, database: DatabaseResource, source: LeaderboardSource, raw_dir):
        self.database, self.source = database, source
        self.io_manager = CsvFileIOManager(base_dir=str(raw_dir))

    def __call__(self, slug: str = SLUG, source: LeaderboardSource | None = None):
        with DagsterInstance.ephemeral() as instance:
            instance.add_dynamic_partitions(competitions_partitions.name, [slug])
            materialize([user_match_keys], instance=instance, resources={"database": self.database})
            return materialize(
                leaderboard_assets,
                partition_key=slug,
                instance=instance,
                resources={
                    "database": self.database,
                    "leaderboard_source": source or self.source,
                    "raw_csv_io_manager": self.io_manager,
                    "quality": QualitySettingsResource(max_row_drop_fraction=1.0),
                },
                raise_on_error=False,
            )


def step_failure(result) -> tuple[str, str]:
    """(step key, description) of the run's one step failure; an uncaught exception (a crash, no
    Failure raised by the asset) shows as "crash: " and its message."""
    [failure] = [e for e in result.all_events if e.event_type == DagsterEventType.STEP_FAILURE]
    data = failure.step_failure_data
    if data.user_failure_data is not None:
        return failure.step_key, data.user_failure_data.description
    return failure.step_key, f"crash: {data.error.message}"


def assert_clear_failure(result, step: str, expected: str) -> None:
    """The run failed in `step` with a Failure naming the competition and saying `expected`."""
    assert not result.success
    failed_step, description = step_failure(result)
    # A Failure with a description is the clear error; a crash would have no user failure data.
    assert failed_step == step
    assert description.startswith(f"competition '{SLUG}': ")
    assert expected in description
