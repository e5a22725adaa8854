"""Sync competitions on demand through the same Dagster assets the schedule runs.

The runs are recorded in the instance at DAGSTER_HOME when it is set, so they show in the UI.
"""

import os
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import asdict, dataclass

from dagster import AssetCheckSeverity, DagsterEventType, DagsterInstance, Definitions, ExecuteInProcessResult

from kaggle_lb.assets.leaderboard import MATCHED_ENTRIES, TRIGGER_TAG
from kaggle_lb.definitions import definitions
from kaggle_lb.jobs import leaderboard_sync_job, user_match_keys_job
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
    materializations = result.asset_materializations_for_node(MATCHED_ENTRIES.path[-1])
    if not materializations:
        return SyncOutcome(slug, "not registered", detail="the competition was removed; nothing written")
    metadata = materializations[-1].metadata
    return SyncOutcome(slug, "synced", **{key: int(metadata[key].value) for key in COUNT_KEYS})


# The cause goes into the outcome; the run's full log stays in the instance (and the UI).
_QUIET = {"loggers": {"console": {"config": {"log_level": "CRITICAL"}}}}


def run_sync(
    defs: Definitions, instance: DagsterInstance, slug: str, tags: dict | None = None, raise_on_error: bool = False
) -> ExecuteInProcessResult:
    """One competition's `leaderboard_sync_job` run, in this process: what the CLI, the tests and
    the benchmarks run, and what the daemon launches."""
    if not instance.has_dynamic_partition(competitions_partitions.name, slug):
        instance.add_dynamic_partitions(competitions_partitions.name, [slug])
    return defs.resolve_job_def(leaderboard_sync_job.name).execute_in_process(
        partition_key=slug, instance=instance, tags=tags, raise_on_error=raise_on_error, run_config=_QUIET
    )


def refresh_user_keys(defs: Definitions, instance: DagsterInstance, raise_on_error: bool = False):
    """A `user_match_keys_job` run: what the schedule does every 5 minutes, and a sync by hand first."""
    return defs.resolve_job_def(user_match_keys_job.name).execute_in_process(
        instance=instance, raise_on_error=raise_on_error, run_config=_QUIET
    )


def sync_competitions(
    slugs: list[str], database_url: str | None = None, source: str | None = None
) -> Iterator[SyncOutcome]:
    """Each competition in its own run, after a refresh of the users' keys (a sync by hand sees
    every user change at once); one failure never stops the rest."""
    resources = resources_from_env(database_url=database_url, source=source)
    defs = definitions(resources)
    with ExitStack() as stack:
        instance = (
            DagsterInstance.get()
            if os.environ.get("DAGSTER_HOME")
            else stack.enter_context(DagsterInstance.ephemeral())
        )
        refreshed = refresh_user_keys(defs, instance)
        if not refreshed.success:
            for slug in slugs:
                yield SyncOutcome(slug, "failed", detail=f"user_match_keys: {_failure_message(refreshed)}")
            return
        for slug in slugs:
            yield _outcome(slug, run_sync(defs, instance, slug, tags={TRIGGER_TAG: "cli"}))
        resources["database"].dispose()
