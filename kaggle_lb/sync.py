"""Sync competitions on demand through the same Dagster assets the schedule runs.

The runs are recorded in the instance at DAGSTER_HOME when it is set, so they show in the UI.
"""

import os
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import asdict, dataclass

from dagster import AssetCheckSeverity, DagsterEventType, DagsterInstance, materialize

from kaggle_lb.assets import leaderboard_assets, leaderboard_checks
from kaggle_lb.assets.leaderboard import MATCHED_ENTRIES, TRIGGER_TAG
from kaggle_lb.partitions import competitions_partitions
from kaggle_lb.resources.from_env import resources_from_env

COUNT_KEYS = ("created", "updated", "unchanged", "removed", "skipped")


@dataclass(frozen=True)
class SyncOutcome:
    competition: str
    status: str  # synced | failed | not registered
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    removed: int = 0
    skipped: int = 0
    detail: str | None = None

    def as_dict(self) -> dict:
        return {**{key: value for key, value in asdict(self).items() if key != "detail"}, "cause": self.detail}


def _root_cause(error) -> str:
    """The innermost error's last line: what failed, not the framework's wrapper around it."""
    while error.cause is not None:
        error = error.cause
    lines = [line for line in error.message.strip().splitlines() if line.strip()]
    return lines[-1] if lines else error.cls_name


def _failure_message(result) -> str:
    for event in result.all_events:
        if event.event_type == DagsterEventType.STEP_FAILURE:
            failure = event.step_failure_data
            error = failure.user_failure_data
            if error is not None and error.description:
                return error.description
            return f"{event.step_key}: {_root_cause(failure.error)}"
    return "the run failed"


def _outcome(slug: str, result) -> SyncOutcome:
    if not result.success:
        # A blocking check that failed is the cause, in its own words.
        failed = [
            f"{evaluation.check_name}: {evaluation.description}"
            for evaluation in result.get_asset_check_evaluations()
            if not evaluation.passed and evaluation.severity == AssetCheckSeverity.ERROR
        ]
        return SyncOutcome(slug, "failed", detail="; ".join(failed) or _failure_message(result))
    # The node may also report a refresh of user_match_keys.
    materializations = [
        m for m in result.asset_materializations_for_node("matched_entries") if m.asset_key == MATCHED_ENTRIES
    ]
    if not materializations:
        return SyncOutcome(slug, "not registered", detail="the competition was removed; nothing written")
    metadata = materializations[-1].metadata
    return SyncOutcome(slug, "synced", **{key: int(metadata[key].value) for key in COUNT_KEYS})


def sync_competitions(
    slugs: list[str], database_url: str | None = None, source: str | None = None
) -> Iterator[SyncOutcome]:
    """Materialize each competition's partition in its own run; one failure never stops the rest."""
    resources = resources_from_env(database_url=database_url, source=source)
    with ExitStack() as stack:
        instance = (
            DagsterInstance.get()
            if os.environ.get("DAGSTER_HOME")
            else stack.enter_context(DagsterInstance.ephemeral())
        )
        existing = set(instance.get_dynamic_partitions(competitions_partitions.name))
        missing = [slug for slug in slugs if slug not in existing]
        if missing:
            instance.add_dynamic_partitions(competitions_partitions.name, missing)
        for slug in slugs:
            result = materialize(
                [*leaderboard_assets, *leaderboard_checks],
                partition_key=slug,
                instance=instance,
                resources=resources,
                tags={TRIGGER_TAG: "cli"},
                raise_on_error=False,
                # The outcome carries the cause; the run's full log stays in the instance (and the UI).
                run_config={"loggers": {"console": {"config": {"log_level": "CRITICAL"}}}},
            )
            yield _outcome(slug, result)
        resources["database"].dispose()
