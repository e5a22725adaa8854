"""leaderboard_batch_job: the 5-minute poll of many competitions, one run per batch of them
(see ops.batches for why batches):

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

from datetime import UTC, datetime

from dagster import (
    AssetObservation,
    DagsterInstance,
    DagsterRunStatus,
    In,
    MetadataValue,
    OpExecutionContext,
    Out,
    Output,
    ResourceParam,
    RunRequest,
    RunsFilter,
    job,
    op,
)

from kaggle_lb.assets import leaderboard_assets, leaderboard_checks, user_match_keys
from kaggle_lb.assets.leaderboard import KAGGLE_API_POOL, RAW_LEADERBOARD
from kaggle_lb.jobs import leaderboard_sync_job
from kaggle_lb.ops.batches import (
    BatchConfig,
    batch_run_requests,
    hold_connections,
    job_in_process,
    listed,
    run_in_batch,
)
from kaggle_lb.partitions import COMPETITIONS
from kaggle_lb.polling.decide import BatchState
from kaggle_lb.polling.poll import Poll, poll_board
from kaggle_lb.resources.csv_io_manager import CsvFileIOManager
from kaggle_lb.resources.database import DatabaseResource
from kaggle_lb.resources.leaderboard_source import LeaderboardSource
from kaggle_lb.resources.polled_source import PolledSource
from kaggle_lb.resources.quality import QualitySettingsResource
from kaggle_lb.storage import polls, registry
from kaggle_lb.sync import outcome

BATCH_JOB = "leaderboard_batch_job"
POLL_LEADERBOARDS = "poll_leaderboards"
_PARTITION_TAG = "dagster/partition"
_IN_FLIGHT = [
    DagsterRunStatus.QUEUED,
    DagsterRunStatus.NOT_STARTED,
    DagsterRunStatus.STARTING,
    DagsterRunStatus.STARTED,
]
_FAILED = [DagsterRunStatus.FAILURE, DagsterRunStatus.CANCELED]


def leaderboard_batch_requests(slugs: list[str], run_key: str, tags: dict[str, str]) -> list[RunRequest]:
    """leaderboard_batch_job runs polling `slugs`, KAGGLE_LB_BATCH_SIZE of them each."""
    return batch_run_requests(BATCH_JOB, POLL_LEADERBOARDS, slugs, run_key, tags)


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


@op(
    name=POLL_LEADERBOARDS,
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
    hold_connections(context.instance)
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
            "to_sync_by_reason": listed(reasons, ["competition", "reason", "cause"]),
            "skipped_by_reason": listed(skipped, ["competition", "reason"]),
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
    hold_connections(context.instance)
    polled = PolledSource(leaderboard_source)
    sync_job = job_in_process(
        {
            "assets": [*leaderboard_assets, user_match_keys],
            "asset_checks": leaderboard_checks,
            "jobs": [leaderboard_sync_job],
        },
        leaderboard_sync_job.name,
        {
            "database": database,
            "quality": quality,
            "leaderboard_source": polled,
            "raw_csv_io_manager": raw_csv_io_manager,
        },
    )
    synced, failed, skipped = [], [], []
    for poll in polls:
        slug = poll.competition
        if _in_flight(context.instance, [slug]):
            skipped.append((slug, "a sync run of it is in flight"))
            continue
        polled.current = poll
        result = run_in_batch(context, sync_job, slug)
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
            "failed_runs": listed(failed, ["competition", "cause", "run"]),
            "synced_runs": listed(synced, ["competition", "status", "run"]),
        },
    )


@job(
    name=BATCH_JOB,
    description="Poll a batch of competitions' boards; sync, each in its own run, those that changed.",
)
def leaderboard_batch_job():
    sync_changed_leaderboards(poll_leaderboards())
