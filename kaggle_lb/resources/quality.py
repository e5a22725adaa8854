"""Thresholds of the data-quality checks, configurable per deployment."""

from dagster import ConfigurableResource
from pydantic import Field


class QualitySettingsResource(ConfigurableResource):
    """How strict the checks are, and when a competition counts as stale."""

    max_row_drop_fraction: float = Field(
        default=0.5,
        ge=0,
        le=1,
        description="Largest allowed drop in rows since the last good board (KAGGLE_LB_MAX_ROW_DROP).",
    )
    min_rows_for_score_check: int = Field(
        default=5, ge=1, description="Boards with more ranked rows than this may not have one score for all."
    )
    max_match_drop_fraction: float = Field(
        default=0.5,
        ge=0,
        le=1,
        description="Largest drop in matched users since the last sync before a warning (KAGGLE_LB_MAX_MATCH_DROP).",
    )
    freshness_minutes: float = Field(
        default=15,
        gt=0,
        description="A competition not checked against Kaggle (synced, or found unchanged by a poll) for this long "
        "is stale (KAGGLE_LB_FRESHNESS_MINUTES).",
    )
