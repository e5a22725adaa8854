"""Every 5 minutes: one run per active competition, and one refresh of the users' match keys."""

from dagster import (
    DefaultScheduleStatus,
    RunRequest,
    ScheduleDefinition,
    ScheduleEvaluationContext,
    SkipReason,
    schedule,
)

from kaggle_lb.assets.leaderboard import SCHEDULED, TRIGGER_TAG
from kaggle_lb.jobs import leaderboard_sync_job, user_match_keys_job
from kaggle_lb.partitions import COMPETITIONS
from kaggle_lb.resources.database import DatabaseResource
from kaggle_lb.storage import registry


@schedule(
    cron_schedule="*/5 * * * *",
    job=leaderboard_sync_job,
    default_status=DefaultScheduleStatus.RUNNING,
    execution_timezone="UTC",
)
def leaderboard_sync_schedule(context: ScheduleEvaluationContext, database: DatabaseResource):
    """A run per active competition, so one failing competition never stops the others."""
    with database.begin() as conn:
        active = registry.list_competitions(conn, database.tables, active_only=True)
    # A request for a partition the sensor has not created yet would fail the whole tick.
    known = set(context.instance.get_dynamic_partitions(COMPETITIONS))
    tick = context.scheduled_execution_time.isoformat()
    requests = [
        RunRequest(
            partition_key=competition.slug,
            run_key=f"{competition.slug}@{tick}",
            tags={TRIGGER_TAG: SCHEDULED},
        )
        for competition in active
        if competition.slug in known
    ]
    if not requests:
        return SkipReason("no active competition has a partition yet")
    waiting = sorted(c.slug for c in active if c.slug not in known)
    if waiting:
        context.log.info(f"not yet partitioned, next tick: {', '.join(waiting)}")
    return requests


# A user who signs up or fixes their Kaggle username is credited within two ticks: this refresh
# logs their key, and the next poll of each board naming it re-matches that board.
user_match_keys_schedule = ScheduleDefinition(
    name="user_match_keys_schedule",
    job=user_match_keys_job,
    cron_schedule="*/5 * * * *",
    default_status=DefaultScheduleStatus.RUNNING,
    execution_timezone="UTC",
)
