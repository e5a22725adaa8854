"""Per-competition asset checks beside the assets: the blocking ERROR checks of the raw board, and
the freshness of the standings. (matched_entries evaluates its own checks, in its transaction.)

The rules live in `kaggle_lb.quality`; these definitions feed them and report. A failing
blocking check stops the run before `validated_leaderboard` and `matched_entries`, so a bad
board never reaches the site's entries table.
"""

import warnings
from collections.abc import Iterator
from datetime import datetime, timezone

from dagster import (
    AssetCheckExecutionContext,
    AssetCheckResult,
    AssetCheckSeverity,
    AssetIn,
    PreviewWarning,
    asset_check,
    multi_asset_check,
)

from kaggle_lb.assets.check_results import (
    FRESHNESS_DESCRIPTION,
    MATCHED,
    RAW,
    RAW_CHECK_DESCRIPTIONS,
    check_result,
    specs,
)
from kaggle_lb.partitions import competitions_partitions
from kaggle_lb.quality import board_checks
from kaggle_lb.quality.board_checks import CheckOutcome
from kaggle_lb.quality.freshness import judge_freshness
from kaggle_lb.resources.database import DatabaseResource
from kaggle_lb.resources.quality import QualitySettingsResource
from kaggle_lb.storage import registry, standings


@multi_asset_check(
    specs=specs(RAW, RAW_CHECK_DESCRIPTIONS, blocking=True),
    ins={"raw_leaderboard_csv": AssetIn(RAW)},
    can_subset=True,
)
def raw_leaderboard_checks(
    context: AssetCheckExecutionContext,
    raw_leaderboard_csv: bytes,
    database: DatabaseResource,
    quality: QualitySettingsResource,
) -> Iterator[AssetCheckResult]:
    slug = context.partition_key
    board = board_checks.read_raw_board(raw_leaderboard_csv, slug)

    def result(name: str, outcome: CheckOutcome) -> AssetCheckResult:
        return check_result(RAW, name, slug, outcome, AssetCheckSeverity.ERROR)

    yield result("required_columns_check", board_checks.required_columns(board))
    if board.columns is None:
        # The others are not run (their results optional, see can_subset), so the step ends with
        # one failure, the one that names the missing columns.
        context.log.warning(f"competition '{slug}': the other board checks need the required columns; not run")
        return
    with database.begin() as conn:
        competition = registry.get_competition(conn, database.tables, slug)
        existing = standings.count_entries(conn, database.tables, competition.id) if competition else 0
        last = standings.last_sync(conn, database.tables, competition.id) if competition else None
    yield result("unique_team_ids_check", board_checks.unique_team_ids(board))
    yield result("not_empty_check", board_checks.not_empty(board, existing))
    yield result(
        "row_count_drop_check",
        board_checks.row_count_drop(
            board, last.board_rows if last else None, quality.max_row_drop_fraction, existing
        ),
    )
    yield result("scores_vary_check", board_checks.scores_vary(board, quality.min_rows_for_score_check))
    yield result(
        "ranks_follow_scores_check",
        board_checks.ranks_follow_scores(board, competition.score_direction if competition else None),
    )


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
            last = standings.last_sync(conn, database.tables, competition.id) if competition else None
        if competition is None:
            outcome = CheckOutcome(True, "the competition is no longer registered")
        else:
            outcome = judge_freshness(last.synced_at if last else None, quality.freshness_minutes, datetime.now(timezone.utc))
        return check_result(MATCHED, "freshness_check", slug, outcome, AssetCheckSeverity.ERROR)
