"""leaderboard_batch_job: the 5-minute poll of many competitions, one run per batch of them.

A run launched by the daemon costs a new Python process that imports Dagster and the code before
it does any work, far more than a sync of an unchanged board (benchmarks/README.md). So one run
polls a batch of competitions:

- poll_leaderboards downloads each board once (in the kaggle_api pool, at the shared pace) and
  compares it with what its standings were computed from (polling.decide). An unchanged board is
  confirmed (kaggle_lb_polls: it counts as fresh) and observed on its raw_leaderboard_csv
  partition; nothing else happens for it, and its checks keep their results, which are still
  about the data on the site.
- sync_changed_leaderboards runs each other competition's own leaderboard_sync_job run, in this
  process, on the polled board: a run, materializations and check results per competition as
  ever, isolated from the others (one failing never stops the batch), without a launch each.

A competition with a sync run in flight (say one started from the UI) is left to that run: one
run at a time per competition, as the run queue's `dagster/partition` limit keeps for launched runs.
"""

import os
from datetime import UTC, datetime

import pandas as pd
from dagster import (
    AssetObservation,
    Config,
    DagsterInstance,
    DagsterRunStatus,
    Definitions,
    In,
    MetadataValue,
    OpExecutionContext,
    Out,
    Output,
    ResourceDefinition,
    ResourceParam,
    RunConfig,
    RunRequest,
    RunsFilter,
    job,
    op,
)
from pydantic import Field

from kaggle_lb.assets import leaderboard_assets, leaderboard_checks, user_match_keys
from kaggle_lb.assets.leaderboard import KAGGLE_API_POOL, RAW_LEADERBOARD
from kaggle_lb.errors import ConfigurationError
from kaggle_lb.jobs import leaderboard_sync_job
from kaggle_lb.partitions import COMPETITIONS
from kaggle_lb.polling.decide import BatchState
from kaggle_lb.polling.poll import Poll, poll_board
from kaggle_lb.quality.markdown import markdown_table
from kaggle_lb.resources.csv_io_manager import CsvFileIOManager
from kaggle_lb.resources.database import DatabaseResource
from kaggle_lb.resources.leaderboard_source import LeaderboardSource
from kaggle_lb.resources.polled_source import PolledSource
from kaggle_lb.resources.quality import QualitySettingsResource
from kaggle_lb.run_tags import BATCH_TAG, SCHEDULED, TRIGGER_TAG
from kaggle_lb.storage import polls, registry
from kaggle_lb.sync import QUIET, outcome

BATCH_JOB = "leaderboard_batch_job"
BATCH_SIZE_VAR = "KAGGLE_LB_BATCH_SIZE"
DEFAULT_BATCH_SIZE = 50
MAX_BATCH_SIZE = 1000
# Dagster's run monitoring fails a run still going after this long: a batch whose process died,
# or a sync run it left behind, which would otherwise hold its competition's place for good.
MAX_RUNTIME_SECONDS = 3600
_MAX_RUNTIME_TAG = "dagster/max_runtime"
_PARTITION_TAG = "dagster/partition"
_IN_FLIGHT = [
    DagsterRunStatus.QUEUED,
    DagsterRunStatus.NOT_STARTED,
    DagsterRunStatus.STARTING,
    DagsterRunStatus.STARTED,
]
_FAILED = [DagsterRunStatus.FAILURE, DagsterRunStatus.CANCELED]
# How many of a batch's competitions the metadata tables list by name.
_LISTED = 50


class BatchConfig(Config):
    competitions: list[str] = Field(description="The competitions (Kaggle slugs) this batch polls, in order.")


def batch_size() -> int:
    """KAGGLE_LB_BATCH_SIZE: competitions per batch run."""
    value = os.environ.get(BATCH_SIZE_VAR) or str(DEFAULT_BATCH_SIZE)
    try:
        size = int(value)
    except ValueError:
        size = 0
    if not 1 <= size <= MAX_BATCH_SIZE:
        raise ConfigurationError(f"{BATCH_SIZE_VAR}={value}: give a whole number from 1 to {MAX_BATCH_SIZE}")
    return size


def batch_run_requests(slugs: list[str], run_key: str, tags: dict[str, str]) -> list[RunRequest]:
    """A leaderboard_batch_job run per batch of `slugs`, keyed `run_key` and the batch's number."""
    size = batch_size()
    return [
        RunRequest(
            job_name=BATCH_JOB,
            run_key=f"{run_key}:batch-{start // size}",
            run_config=RunConfig(ops={"poll_leaderboards": BatchConfig(competitions=slugs[start : start + size])}),
            tags={**tags, _MAX_RUNTIME_TAG: str(MAX_RUNTIME_SECONDS)},
        )
        for start in range(0, len(slugs), size)
    ]


def _in_flight(instance: DagsterInstance, slugs: list[str]) -> set[str]:
    """Those of `slugs` with a leaderboard_sync_job run queued or going."""
    records = instance.get_run_records(
        RunsFilter(job_name=leaderboard_sync_job.name, statuses=_IN_FLIGHT, tags={_PARTITION_TAG: slugs})
    )
    return {record.dagster_run.tags.get(_PARTITION_TAG, "") for record in records}


def _failed_runs(instance: DagsterInstance, slugs: list[str], since: datetime) -> dict[str, float]:
    """For each of `slugs`, the creation time of its newest sync run that failed after `since`."""
    records = instance.get_run_records(
        RunsFilter(
            job_name=leaderboard_sync_job.name, statuses=_FAILED, tags={_PARTITION_TAG: slugs}, created_after=since
        )
    )
    failed: dict[str, float] = {}
    for record in records:
        slug = record.dagster_run.tags.get(_PARTITION_TAG, "")
        failed[slug] = max(failed.get(slug, 0.0), record.create_timestamp.timestamp())
    return failed


def _hold_connections(instance: DagsterInstance) -> None:
    """This process writes an event per unchanged board and every event of every sync run it
    starts: PostgreSQL instance storage would otherwise open a connection for each one
    (benchmarks/README.md, "The 5-minute poll"). Dagster's own pooling for a long-lived process;
    no statement timeout (0), a run's own limits apply; nothing for SQLite storage."""
    instance.optimize_for_webserver(statement_timeout=0, pool_recycle=3600, max_overflow=4)


def _listed(rows: list[tuple], columns: list[str]) -> MetadataValue:
    shown = pd.DataFrame(rows[:_LISTED], columns=columns)
    more = f"\n\n… and {len(rows) - _LISTED} more" if len(rows) > _LISTED else ""
    return MetadataValue.md(markdown_table(shown) + more if rows else "_none_")


@op(
    pool=KAGGLE_API_POOL,
    out=Out(list, description="The polls of the boards that need a sync run: changed, new or failed."),
)
def poll_leaderboards(
    context: OpExecutionContext,
    config: BatchConfig,
    database: DatabaseResource,
    leaderboard_source: LeaderboardSource,
) -> Output[list[Poll]]:
    """Download each competition's board once; confirm and observe the unchanged ones; hand the
    others on to sync_changed_leaderboards."""
    _hold_connections(context.instance)
    tables = database.tables
    with database.begin() as conn:
        registered = {c.slug: c for c in registry.read_competitions(conn, tables).competitions}
    partitions = set(context.instance.get_dynamic_partitions(COMPETITIONS))
    in_flight = _in_flight(context.instance, config.competitions)
    skipped, competitions = [], []
    for slug in config.competitions:
        competition = registered.get(slug)
        reason = (
            "no longer registered"
            if competition is None
            else "not active"
            if not competition.is_active
            else "has no partition"
            if slug not in partitions
            else "a sync run of it is in flight"
            if slug in in_flight
            else None
        )
        if competition is not None and reason is None:
            competitions.append(competition)
        else:
            skipped.append((slug, reason))

    with database.begin() as conn:
        state = BatchState(conn, tables, competitions)
    synced = [moment for moment in map(state.synced_at, competitions) if moment is not None]
    failed = _failed_runs(context.instance, [c.slug for c in competitions], min(synced)) if synced else {}

    changed: list[Poll] = []
    reasons: list[tuple[str, str, str]] = []
    unchanged = 0
    for competition in competitions:
        poll = poll_board(leaderboard_source, competition, tables.schema)
        with database.begin() as conn:
            verdict = state.verdict(conn, competition, poll, failed.get(competition.slug))
            if verdict.unchanged:
                assert poll.fingerprint is not None  # an unchanged poll did not fail
                polls.confirm(conn, tables, competition.id, poll.fingerprint, state.key_version, datetime.now(UTC))
        if verdict.unchanged:
            unchanged += 1
            assert poll.download is not None
            context.log_event(
                AssetObservation(
                    asset_key=RAW_LEADERBOARD,
                    partition=competition.slug,
                    description="Kaggle serves the board the standings were computed from: nothing to sync.",
                    metadata={
                        "competition": competition.slug,
                        "unchanged": True,
                        "bytes": len(poll.download.content),
                        "fingerprint": poll.fingerprint,
                        "downloaded_at": MetadataValue.timestamp(poll.download.downloaded_at),
                    },
                )
            )
        else:
            changed.append(poll)
            reasons.append((competition.slug, verdict.reason, poll.download_error or poll.view_error or ""))
    context.log.info(
        f"{len(competitions)} polled: {unchanged} unchanged, {len(changed)} to sync"
        + (f"; {len(skipped)} skipped: " + ", ".join(f"{slug} ({why})" for slug, why in skipped) if skipped else "")
    )
    return Output(
        changed,
        metadata={
            "polled": len(competitions),
            "unchanged": unchanged,
            "to_sync": len(changed),
            "skipped": len(skipped),
            "to_sync_by_reason": _listed(reasons, ["competition", "reason", "cause"]),
            "skipped_by_reason": _listed(skipped, ["competition", "reason"]),
        },
    )


@op(ins={"polls": In(list)})
def sync_changed_leaderboards(
    context: OpExecutionContext,
    polls: list[Poll],
    database: DatabaseResource,
    quality: QualitySettingsResource,
    raw_csv_io_manager: ResourceParam[CsvFileIOManager],
    leaderboard_source: LeaderboardSource,
) -> Output[None]:
    """Each polled competition's leaderboard_sync_job run, one after the other in this process, on
    the board its poll holds; a run that fails is reported by name and the next one goes on."""
    _hold_connections(context.instance)
    polled = PolledSource(leaderboard_source)
    # The batch's own resources, as they are: every sync run shares the site database's engine and
    # bound tables instead of connecting and reading the site's schema anew.
    shared = {"database": database, "quality": quality, "leaderboard_source": polled}
    sync_job = Definitions(
        assets=[*leaderboard_assets, user_match_keys],
        asset_checks=leaderboard_checks,
        jobs=[leaderboard_sync_job],
        resources={
            **{key: ResourceDefinition.hardcoded_resource(value) for key, value in shared.items()},
            "raw_csv_io_manager": raw_csv_io_manager,
        },
    ).resolve_job_def(leaderboard_sync_job.name)
    tags = {
        TRIGGER_TAG: context.run.tags.get(TRIGGER_TAG, SCHEDULED),
        BATCH_TAG: context.run_id,
        _MAX_RUNTIME_TAG: str(MAX_RUNTIME_SECONDS),
    }
    synced, failed, skipped = [], [], []
    for poll in polls:
        slug = poll.competition
        if _in_flight(context.instance, [slug]):
            skipped.append((slug, "a sync run of it is in flight"))
            continue
        polled.current = poll
        result = sync_job.execute_in_process(
            partition_key=slug, instance=context.instance, tags=tags, raise_on_error=False, run_config=QUIET
        )
        done = outcome(slug, result)
        if done.status == "failed":
            failed.append((slug, done.detail or "", result.run_id))
            context.log.warning(f"competition '{slug}': its sync run {result.run_id} failed: {done.detail}")
        else:
            synced.append((slug, done.status, result.run_id))
    polled.current = None
    context.log.info(f"{len(synced)} synced, {len(failed)} failed, {len(skipped)} skipped")
    return Output(
        None,
        metadata={
            "synced": len(synced),
            "failed": len(failed),
            "skipped": len(skipped),
            "failed_runs": _listed(failed, ["competition", "cause", "run"]),
            "synced_runs": _listed(synced, ["competition", "status", "run"]),
        },
    )


@job(
    name=BATCH_JOB,
    description="Poll a batch of competitions' boards; sync, each in its own run, those that changed.",
)
def leaderboard_batch_job():
    sync_changed_leaderboards(poll_leaderboards())
