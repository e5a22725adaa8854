"""Per-competition asset checks: blocking ERROR checks on the raw board, WARN checks on the write.

The rules live in `kaggle_lb.quality.board_checks`; these definitions feed them and report.
A failing blocking check stops the run before `validated_leaderboard` and `matched_entries`, so
a bad board never reaches `leaderboard_entries`.
"""

import warnings
from collections.abc import Iterator

from dagster import (
    AssetCheckExecutionContext,
    AssetCheckResult,
    AssetCheckSeverity,
    AssetCheckSpec,
    AssetIn,
    AssetKey,
    AssetRecordsFilter,
    MetadataValue,
    PreviewWarning,
    multi_asset_check,
)

from kaggle_lb.partitions import competitions_partitions
from kaggle_lb.quality import board_checks
from kaggle_lb.quality.board_checks import CheckOutcome
from kaggle_lb.resources.database import DatabaseResource
from kaggle_lb.resources.quality import QualitySettingsResource
from kaggle_lb.storage import registry, standings, user_keys

RAW = AssetKey("raw_leaderboard_csv")
MATCHED = AssetKey("matched_entries")

RAW_CHECK_DESCRIPTIONS = {
    "required_columns_check": "The CSV has every column of the current or the legacy export format.",
    "unique_team_ids_check": "No TeamId appears on two rows.",
    "not_empty_check": "The board is not empty while the competition already has entries.",
    "row_count_drop_check": "The row count did not drop by more than the allowed fraction since the last good board.",
    "scores_vary_check": "Not every ranked row has the same score (a broken scoring run reports all zeros).",
    "ranks_follow_scores_check": "In rank order, scores only get worse (direction from the registry, else inferred).",
}
MATCHED_CHECK_DESCRIPTIONS = {
    "match_rate_check": "The number of matched users did not fall sharply since the last sync.",
    "reconciliation_check": "The entries in the table equal what the board they were written from gives.",
    "freshness_check": "The competition was synced, or confirmed unchanged, within the freshness window.",
}


def _specs(asset: AssetKey, descriptions: dict[str, str], blocking: bool, reads=()) -> list[AssetCheckSpec]:
    # Partitioned checks are a preview in Dagster 1.13, and the only way to check one competition
    # without loading every partition.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PreviewWarning)
        return [
            AssetCheckSpec(
                name,
                asset=asset,
                description=text,
                blocking=blocking,
                partitions_def=competitions_partitions,
                additional_deps=list(reads),
            )
            for name, text in descriptions.items()
        ]


def _result(
    asset: AssetKey, name: str, slug: str, outcome: CheckOutcome, severity: AssetCheckSeverity
) -> AssetCheckResult:
    metadata = {"competition": slug, **outcome.metadata}
    sample = outcome.sample_markdown()
    if sample:
        metadata["offending_rows"] = MetadataValue.md(sample)
    return AssetCheckResult(
        asset_key=asset,
        check_name=name,
        passed=outcome.passed,
        severity=severity,
        description=outcome.description,
        metadata={key: value for key, value in metadata.items() if value is not None},
    )


def _latest_matched_metadata(context: AssetCheckExecutionContext, limit: int = 1) -> list[dict]:
    records = context.instance.fetch_materializations(
        AssetRecordsFilter(asset_key=MATCHED, asset_partitions=[context.partition_key]), limit=limit
    ).records
    return [{k: v.value for k, v in r.asset_materialization.metadata.items()} for r in records]


@multi_asset_check(
    specs=_specs(RAW, RAW_CHECK_DESCRIPTIONS, blocking=True),
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
        return _result(RAW, name, slug, outcome, AssetCheckSeverity.ERROR)

    yield result("required_columns_check", board_checks.required_columns(board))
    if board.columns is None:
        # The others are not run (their results optional, see can_subset), so the step ends with
        # one failure, the one that names the missing columns.
        context.log.warning(f"competition '{slug}': the other board checks need the required columns; not run")
        return
    with database.begin() as conn:
        competition = registry.get_competition(conn, database.tables, slug)
        existing = standings.count_entries(conn, database.tables, competition.id) if competition else 0
    last_good = _latest_matched_metadata(context)
    yield result("unique_team_ids_check", board_checks.unique_team_ids(board))
    yield result("not_empty_check", board_checks.not_empty(board, existing))
    yield result(
        "row_count_drop_check",
        board_checks.row_count_drop(
            board, last_good[0].get("board_rows") if last_good else None, quality.max_row_drop_fraction, existing
        ),
    )
    yield result("scores_vary_check", board_checks.scores_vary(board, quality.min_rows_for_score_check))
    yield result(
        "ranks_follow_scores_check",
        board_checks.ranks_follow_scores(board, competition.score_direction if competition else None),
    )


@multi_asset_check(
    specs=_specs(MATCHED, MATCHED_CHECK_DESCRIPTIONS, blocking=False, reads=["validated_leaderboard"]),
    ins={"validated_leaderboard": AssetIn("validated_leaderboard")},
)
def matched_entries_checks(
    context: AssetCheckExecutionContext,
    validated_leaderboard,
    database: DatabaseResource,
    quality: QualitySettingsResource,
) -> Iterator[AssetCheckResult]:
    slug = context.partition_key
    tables = database.tables
    with database.begin() as conn:
        competition = registry.get_competition(conn, tables, slug)
        if competition is None:
            context.log.warning(f"competition '{slug}' is no longer registered: nothing to check")
            return
        stored = standings.load_entries(conn, tables, competition.id)
        expected = user_keys.match_board(conn, tables, validated_leaderboard)[0].entries

    def result(name: str, outcome: CheckOutcome) -> AssetCheckResult:
        return _result(MATCHED, name, slug, outcome, AssetCheckSeverity.WARN)

    latest = _latest_matched_metadata(context, limit=2)
    previous = latest[1].get("dagster/row_count") if len(latest) > 1 else None
    yield result("match_rate_check", board_checks.match_rate(len(stored), previous, quality.max_match_drop_fraction))
    yield result("reconciliation_check", board_checks.reconciliation(stored, expected))
    yield result("freshness_check", CheckOutcome(True, "synced in this run"))
