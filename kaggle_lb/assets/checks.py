"""The freshness of each competition's standings: a check of its own, beside the assets, so the
alert sensor can record it for a competition whose syncs stopped. (The board's checks are
evaluated by the assets themselves, on what each has in hand: see assets/leaderboard.py.)"""

import warnings
from datetime import UTC, datetime

from dagster import (
    AssetCheckExecutionContext,
    AssetCheckResult,
    AssetCheckSeverity,
    PreviewWarning,
    asset_check,
)

from kaggle_lb.assets.check_results import FRESHNESS_DESCRIPTION, MATCHED, check_result
from kaggle_lb.partitions import competitions_partitions
from kaggle_lb.quality.board_checks import CheckOutcome
from kaggle_lb.quality.freshness import judge_freshness
from kaggle_lb.resources.database import DatabaseResource
from kaggle_lb.resources.quality import QualitySettingsResource
from kaggle_lb.storage import polls, registry

with warnings.catch_warnings():
    warnings.simplefilter("ignore", PreviewWarning)  # partitioned checks, see check_results.specs

    @asset_check(
        asset=MATCHED,
        name="freshness_check",
        description=FRESHNESS_DESCRIPTION,
        partitions_def=competitions_partitions,
    )
    def freshness_check(
        context: AssetCheckExecutionContext, database: DatabaseResource, quality: QualitySettingsResource
    ) -> AssetCheckResult:
        """Run after every sync (it passes), and by the alert sensor for a competition gone stale, so
        the failing result is on the competition's partition where the alert links to."""
        slug = context.partition_key
        with database.begin() as conn:
            competition = registry.get_competition(conn, database.tables, slug)
            checked = polls.last_checked(conn, database.tables, [competition.id]) if competition else {}
        if competition is None:
            outcome = CheckOutcome(True, "the competition is no longer registered")
        else:
            outcome = judge_freshness(checked.get(competition.id), quality.freshness_minutes, datetime.now(UTC))
        return check_result(MATCHED, "freshness_check", slug, outcome, AssetCheckSeverity.ERROR)
