"""Every 5 minutes: every active competition polled in batch runs, and one refresh of the users' match keys."""

from dagster import (
    DagsterRunStatus,
    DefaultScheduleStatus,
    RunsFilter,
    ScheduleDefinition,
    ScheduleEvaluationContext,
    SkipReason,
    schedule,
)

from kaggle_lb.jobs import user_match_keys_job
from kaggle_lb.ops.leaderboard_batch import BATCH_JOB, leaderboard_batch_job, leaderboard_batch_requests
from kaggle_lb.partitions import COMPETITIONS
from kaggle_lb.resources.database import DatabaseResource
from kaggle_lb.run_tags import SCHEDULED, TRIGGER_TAG
from kaggle_lb.storage import registry


@schedule(
    cron_schedule="*/5 * * * *",
    job=leaderboard_batch_job,
    default_status=DefaultScheduleStatus.RUNNING,
    execution_timezone="UTC",
)
def leaderboard_sync_schedule(context: ScheduleEvaluationContext, database: DatabaseResource):
    """Every active competition, polled in batch runs of leaderboard_batch_job (KAGGLE_LB_BATCH_SIZE
    competitions each); each changed board gets its own sync run, so one failing competition never
    stops the others."""
    queued = context.instance.get_runs_count(RunsFilter(job_name=BATCH_JOB, statuses=[DagsterRunStatus.QUEUED]))
    if queued:
        # More batches would only queue behind them: the window is too short for this many boards.
        return SkipReason(
            f"{queued} batch run(s) of an earlier tick are still queued: this deployment cannot poll every "
            "active competition within 5 minutes (see the README, Capacity)"
        )
    with database.begin() as conn:
        active = registry.list_competitions(conn, database.tables, active_only=True)
    # A request for a partition the sensor has not created yet would fail the whole tick.
    known = set(context.instance.get_dynamic_partitions(COMPETITIONS))
    slugs = sorted(c.slug for c in active if c.slug in known)
    if not slugs:
        return SkipReason("no active competition has a partition yet")
    waiting = sorted(c.slug for c in active if c.slug not in known)
    if waiting:
        context.log.info(f"not yet partitioned, next tick: {', '.join(waiting)}")
    return leaderboard_batch_requests(slugs, context.scheduled_execution_time.isoformat(), {TRIGGER_TAG: SCHEDULED})


# A user who signs up or fixes their Kaggle username is credited within two ticks: this refresh
# logs their key, and the next poll of each board naming it re-matches that board.
user_match_keys_schedule = ScheduleDefinition(
    name="user_match_keys_schedule",
    job=user_match_keys_job,
    cron_schedule="*/5 * * * *",
    default_status=DefaultScheduleStatus.RUNNING,
    execution_timezone="UTC",
)
