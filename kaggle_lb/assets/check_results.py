"""The asset checks' specs and results, shared by the assets that evaluate them: every result
names its competition and carries the offending rows as escaped Markdown."""

import warnings
from collections.abc import Iterator

from dagster import AssetCheckResult, AssetCheckSeverity, AssetCheckSpec, AssetKey, MetadataValue, PreviewWarning

from kaggle_lb.partitions import competitions_partitions
from kaggle_lb.quality.board_checks import CheckOutcome

RAW = AssetKey("raw_leaderboard_csv")
VALIDATED = AssetKey("validated_leaderboard")
MATCHED = AssetKey("matched_entries")

RAW_CHECK_DESCRIPTIONS = {
    "required_columns_check": "The CSV has every column of the current or the legacy export format.",
}
VALIDATED_CHECK_DESCRIPTIONS = {
    "unique_team_ids_check": "No TeamId appears on two rows.",
    "not_empty_check": "The board is not empty while the competition already has entries.",
    "row_count_drop_check": "The row count did not drop by more than the allowed fraction since the last good board.",
    "scores_vary_check": "Not every ranked row has the same score (a broken scoring run reports all zeros).",
    "ranks_follow_scores_check": "In rank order, scores only get worse (direction from the registry, else inferred).",
}
MATCHED_CHECK_DESCRIPTIONS = {
    "match_rate_check": "The number of matched users did not fall sharply since the last sync.",
    "reconciliation_check": "The standings read back equal what the matcher gave the write, in its transaction.",
    "claims_check": "No name on the board is claimed by two or more site users (such a name credits none of them).",
}
FRESHNESS_DESCRIPTION = (
    "The competition's standings were checked against Kaggle (synced, or found unchanged by a poll) within the "
    "freshness window (KAGGLE_LB_FRESHNESS_MINUTES)."
)


def specs(asset: AssetKey, descriptions: dict[str, str], blocking: bool, reads=()) -> list[AssetCheckSpec]:
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


RAW_CHECK_SPECS = specs(RAW, RAW_CHECK_DESCRIPTIONS, blocking=True)
VALIDATED_CHECK_SPECS = specs(VALIDATED, VALIDATED_CHECK_DESCRIPTIONS, blocking=True)
MATCHED_CHECK_SPECS = specs(MATCHED, MATCHED_CHECK_DESCRIPTIONS, blocking=False)


def check_result(
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


def not_checked(check_specs: list[AssetCheckSpec], slug: str) -> Iterator[AssetCheckResult]:
    """A result for each check of an asset that has nothing to check, because its competition is
    gone (a queued run can outlive it); the partition goes with the competition."""
    for spec in check_specs:
        yield AssetCheckResult(
            asset_key=spec.asset_key,
            check_name=spec.name,
            passed=True,
            severity=AssetCheckSeverity.WARN,
            description=f"not checked: competition '{slug}' is no longer registered",
            metadata={"competition": slug},
        )
