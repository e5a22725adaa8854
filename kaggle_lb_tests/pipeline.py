"""Running the pipeline in tests: sample boards, a registered site, and materializing partitions
the way the job does (assets and checks together), with a chosen source."""

import io

import pandas as pd
import pytest
from dagster import DagsterInstance, RunConfig

from kaggle_lb.assets.leaderboard import MATCHED_ENTRIES
from kaggle_lb.definitions import definitions
from kaggle_lb.ops.batches import BatchConfig
from kaggle_lb.ops.leaderboard_batch import BATCH_JOB
from kaggle_lb.partitions import COMPETITIONS
from kaggle_lb.resources.alerts import AlertsResource, DigestResource
from kaggle_lb.resources.csv_io_manager import CsvFileIOManager
from kaggle_lb.resources.database import DatabaseResource
from kaggle_lb.resources.leaderboard_source import LeaderboardSource, LocalExportsResource
from kaggle_lb.resources.quality import QualitySettingsResource
from kaggle_lb.run_tags import SCHEDULED, TRIGGER_TAG
from kaggle_lb.storage import registry, standings
from kaggle_lb.sync import QUIET, refresh_user_keys, run_sync
from kaggle_lb_tests.fixtures import fixture_path

HEADER = "Rank,TeamId,TeamName,LastSubmissionDate,Score,SubmissionCount,TeamMemberUserNames\n"


def board(*rows: str) -> bytes:
    return (HEADER + "".join(row + "\n" for row in rows)).encode()


BOARD = board(
    '1,101,"Team Alpha","2026-11-01 10:00:00",0.95,4,"alice,BOB"',
    '2,102,carol,"2026-11-02 11:00:00",0.90,2,carol',
    '0,103,"Sample Benchmark","2026-10-01 00:00:00",0.50,1,',
    '3,104,"Dave Solo","2026-11-03 12:00:00",0.85,7,dave',
)


@pytest.fixture
def instance():
    with DagsterInstance.ephemeral() as instance:
        yield instance


@pytest.fixture
def site(database: DatabaseResource):
    """A registered competition and users: alice and bob share a team, Carol's names differ in case."""
    with database.begin() as conn:
        registry.add_competition(conn, database.tables, "demo-comp", "Demo")
        registry.import_users(
            conn,
            database.tables,
            [("alice", None), ("bob", "bob"), ("carol_site", "CAROL"), ("erin", None), ("dave", "someone-else")],
        )
    return database


class Sync:
    """Materializes partitions the way the job does, with a chosen source."""

    def __init__(
        self,
        instance: DagsterInstance,
        database: DatabaseResource,
        source: LeaderboardSource,
        tmp_path,
        quality: QualitySettingsResource | None = None,
        digest: DigestResource | None = None,
    ):
        self.instance, self.database, self.source = instance, database, source
        self.io_manager = CsvFileIOManager(base_dir=str(tmp_path / "raw"))
        self.quality = quality or QualitySettingsResource()
        self.defs = definitions(
            {
                "database": database,
                "leaderboard_source": source,
                "raw_csv_io_manager": self.io_manager,
                "quality": self.quality,
                "alerts": AlertsResource(),
                "digest": digest or DigestResource(),
            }
        )

    def __call__(self, slug="demo-comp", scheduled=False, raise_on_error=True):
        """A `leaderboard_sync_job` run, as the daemon runs it (scheduled) or as `kaggle-lb sync`
        does, the users' keys refreshed first."""
        if not scheduled:
            self.refresh_user_keys()
        return run_sync(self.defs, self.instance, slug, {TRIGGER_TAG: SCHEDULED} if scheduled else {}, raise_on_error)

    def batch(self, *slugs: str):
        """A leaderboard_batch_job run over `slugs`, as the schedule's requests start it (the
        partitions exist: the partitions sensor made them)."""
        self.instance.add_dynamic_partitions(
            COMPETITIONS, [s for s in slugs if not self.instance.has_dynamic_partition(COMPETITIONS, s)]
        )
        return self.defs.resolve_job_def(BATCH_JOB).execute_in_process(
            instance=self.instance,
            run_config=RunConfig(
                ops={"poll_leaderboards": BatchConfig(competitions=list(slugs))}, loggers=QUIET["loggers"]
            ),
            tags={TRIGGER_TAG: SCHEDULED},
        )

    def refresh_user_keys(self):
        """What user_match_keys_schedule runs every 5 minutes."""
        return refresh_user_keys(self.defs, self.instance, raise_on_error=True)

    def entries(self, slug: str = "demo-comp") -> dict[str, tuple]:
        with self.database.begin() as conn:
            competition = registry.get_competition(conn, self.database.tables, slug)
            rows = standings.read_standings(conn, self.database.tables, competition.id)
        return {row["username"]: (row["rank"], row["kaggle_team_name"]) for row in rows}


@pytest.fixture
def exports(tmp_path):
    directory = tmp_path / "exports"
    directory.mkdir()
    return directory


@pytest.fixture
def sync(instance, site, exports, tmp_path):
    return Sync(instance, site, LocalExportsResource(directory=str(exports)), tmp_path)


def counts(result) -> dict:
    (materialization,) = result.asset_materializations_for_node(MATCHED_ENTRIES.path[-1])
    return {k: materialization.metadata[k].value for k in ("created", "updated", "unchanged", "removed", "skipped")}


TITANIC = fixture_path("titanic-publicleaderboard-2025-06.csv").read_bytes()
HEADER_LINE, *ROWS = TITANIC.decode("utf-8-sig").splitlines(keepends=True)


def titanic_board(rows: list[str], header: str = HEADER_LINE) -> bytes:
    return ("\ufeff" + header + "".join(rows)).encode()


def reranked(rows: list[str]) -> list[str]:
    """The same rows shuffled, with ranks re-numbered in the new order: ranks no longer follow scores."""
    shuffled = pd.Series(rows).sample(frac=1, random_state=7).tolist()
    return [f"{i},{row.split(',', 1)[1]}" for i, row in enumerate(shuffled, start=1)]


def all_zero(rows: list[str]) -> list[str]:
    frame = pd.read_csv(io.StringIO(HEADER_LINE + "".join(rows)), dtype=str, keep_default_na=False)
    frame["Score"] = "0.00000"
    return frame.to_csv(index=False).splitlines(keepends=True)[1:]


BAD_BOARDS = {
    "row_count_drop_check": lambda: titanic_board(ROWS[:3000]),
    "scores_vary_check": lambda: titanic_board(all_zero(ROWS)),
    "ranks_follow_scores_check": lambda: titanic_board(reranked(ROWS)),
    "required_columns_check": lambda: titanic_board(ROWS, HEADER_LINE.replace("Score", "PublicScore")),
    "unique_team_ids_check": lambda: titanic_board(ROWS + ROWS[5:7]),
    "not_empty_check": lambda: titanic_board([]),
}


@pytest.fixture
def titanic_site(sync, site, exports):
    """The real Titanic board synced once, with a few of its members registered as users."""
    members = [row.rsplit(",", 1)[1].strip().strip('"') for row in ROWS[:40:4]]
    with site.begin() as conn:
        registry.import_users(conn, site.tables, [(name, None) for name in members])
    (exports / "demo-comp.csv").write_bytes(TITANIC)
    assert sync().success
    return sync
