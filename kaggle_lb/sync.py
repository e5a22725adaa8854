"""Sync competitions on demand through the same Dagster assets the schedule runs.

The runs are recorded in the instance at DAGSTER_HOME when it is set, so they show in the UI.
"""

import fcntl
import logging
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path

from dagster import AssetCheckSeverity, DagsterEventType, DagsterInstance, Definitions, ExecuteInProcessResult

from kaggle_lb.assets.leaderboard import MATCHED_ENTRIES
from kaggle_lb.errors import ConfigurationError
from kaggle_lb.jobs import leaderboard_sync_job, user_match_keys_job
from kaggle_lb.partitions import COMPETITIONS
from kaggle_lb.resources.from_env import resources_from_env
from kaggle_lb.run_tags import CLI, TRIGGER_TAG

COUNT_KEYS = ("created", "updated", "unchanged", "removed", "skipped")
USER_KEYS_PHASE = "user_match_keys"


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


def failure_message(result) -> str:
    """Why a run failed: its first failed step's own description, else its root cause."""
    for event in result.all_events:
        if event.event_type == DagsterEventType.STEP_FAILURE:
            failure = event.step_failure_data
            error = failure.user_failure_data
            if error is not None and error.description:
                return error.description
            return f"{event.step_key}: {_root_cause(failure.error)}"
    return "the run failed"


def outcome(slug: str, result) -> SyncOutcome:
    """What one competition's sync run did: its counts, or why it failed."""
    if not result.success:
        # A blocking check that failed is the cause, in its own words.
        failed = [
            f"{evaluation.check_name}: {evaluation.description}"
            for evaluation in result.get_asset_check_evaluations()
            if not evaluation.passed and evaluation.severity == AssetCheckSeverity.ERROR
        ]
        return SyncOutcome(slug, "failed", detail="; ".join(failed) or failure_message(result))
    materializations = result.asset_materializations_for_node(MATCHED_ENTRIES.path[-1])
    if not materializations:
        return SyncOutcome(slug, "not registered", detail="the competition was removed; nothing written")
    metadata = materializations[-1].metadata
    counts = {key: int(metadata[key].value) for key in COUNT_KEYS}  # type: ignore[arg-type]
    return SyncOutcome(slug, "synced", **counts)  # type: ignore[arg-type]


# The cause goes into the outcome; the run's full log stays in the instance (and the UI).
QUIET = {"loggers": {"console": {"config": {"log_level": "CRITICAL"}}}}


def run_sync(
    defs: Definitions, instance: DagsterInstance, slug: str, tags: dict | None = None, raise_on_error: bool = False
) -> ExecuteInProcessResult:
    """One competition's `leaderboard_sync_job` run, in this process: what the CLI, the tests and
    the benchmarks run, and what the daemon launches."""
    if not instance.has_dynamic_partition(COMPETITIONS, slug):
        instance.add_dynamic_partitions(COMPETITIONS, [slug])
    return defs.resolve_job_def(leaderboard_sync_job.name).execute_in_process(
        partition_key=slug, instance=instance, tags=tags, raise_on_error=raise_on_error, run_config=QUIET
    )


def refresh_user_keys(defs: Definitions, instance: DagsterInstance, raise_on_error: bool = False):
    """A `user_match_keys_job` run: what the schedule does every 5 minutes, and a sync by hand first."""
    return defs.resolve_job_def(user_match_keys_job.name).execute_in_process(
        instance=instance, raise_on_error=raise_on_error, run_config=QUIET
    )


# Runs started here send no usage statistics, so Dagster never prints its telemetry banner.
_INSTANCE_OVERRIDES = {"telemetry": {"enabled": False}}
# Beside Dagster's own files; the name says whose it is.
_INSTANCE_LOCK = ".kaggle_lb_instance.lock"


class _NoMissingConfigWarning(logging.Filter):
    """Dagster warns when DAGSTER_HOME has no dagster.yaml; its defaults are what kaggle-lb wants,
    so the warning would only clutter the command's output."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not record.getMessage().startswith("No dagster instance configuration file")


@contextmanager
def open_instance() -> Iterator[DagsterInstance]:
    """The instance at DAGSTER_HOME (the UI's), else an ephemeral one.

    Opening an instance creates its SQLite storage on first use, and two processes doing that at
    once can stamp one database's schema version twice, which breaks it for good; so the instance
    is opened under an exclusive lock on a file in DAGSTER_HOME (the lock is held only while it
    opens: once created, the storage is safe to share)."""
    home = os.environ.get("DAGSTER_HOME")
    if not home:
        with DagsterInstance.ephemeral() as instance:
            yield instance
        return
    path = Path(home).expanduser()
    if not path.is_absolute() or not path.is_dir():
        raise ConfigurationError(f"DAGSTER_HOME={home}: not an absolute path to an existing directory")
    dagster_logger = logging.getLogger("dagster")
    quiet = _NoMissingConfigWarning()
    dagster_logger.addFilter(quiet)
    try:
        with open(path / _INSTANCE_LOCK, "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            # local_temp with a directory is a persistent instance there, like DagsterInstance.get(),
            # and the public way to open one with overrides.
            instance = DagsterInstance.local_temp(str(path), overrides=_INSTANCE_OVERRIDES)
    finally:
        dagster_logger.removeFilter(quiet)
    with instance:
        yield instance


def sync_competitions(
    slugs: list[str],
    database_url: str | None = None,
    source: str | None = None,
    starting: Callable[[str], None] = lambda phase: None,
) -> Iterator[SyncOutcome]:
    """Each competition in its own run, after a refresh of the users' keys (a sync by hand sees
    every user change at once); one failure never stops the rest. `starting` is told of each
    phase (`user_match_keys`, then each slug) as it starts, for a progress bar."""
    # Here, not at the top: the definitions import the batch job, which runs syncs with run_sync.
    from kaggle_lb.definitions import definitions

    resources = resources_from_env(database_url=database_url, source=source)
    defs = definitions(resources)
    with open_instance() as instance:
        starting(USER_KEYS_PHASE)
        refreshed = refresh_user_keys(defs, instance)
        if not refreshed.success:
            for slug in slugs:
                yield SyncOutcome(slug, "failed", detail=f"user_match_keys: {failure_message(refreshed)}")
            return
        for slug in slugs:
            starting(slug)
            yield outcome(slug, run_sync(defs, instance, slug, tags={TRIGGER_TAG: CLI}))
        resources["database"].dispose()
