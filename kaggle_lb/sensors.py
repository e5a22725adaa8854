"""Sensors: the competitions' partitions, and data-quality alerts."""

from datetime import UTC, datetime

from dagster import (
    DefaultSensorStatus,
    RunRequest,
    SensorEvaluationContext,
    SensorResult,
    SkipReason,
    sensor,
)

from kaggle_lb.assets import freshness_check, leaderboard_check_keys
from kaggle_lb.jobs import leaderboard_sync_job
from kaggle_lb.ops.leaderboard_batch import BATCH_JOB, leaderboard_batch_requests
from kaggle_lb.partitions import COMPETITIONS, competitions_partitions
from kaggle_lb.quality import health
from kaggle_lb.quality.alerts import changes
from kaggle_lb.resources.alerts import AlertsResource
from kaggle_lb.resources.database import DatabaseResource
from kaggle_lb.resources.quality import QualitySettingsResource
from kaggle_lb.run_tags import NEW_COMPETITION, STALE, TRIGGER_TAG
from kaggle_lb.storage import polls, registry

FRESHNESS_CHECK_KEY = freshness_check.check_key


# Named, not given: Dagster rebinds a sensor's op job to the Definitions' resources by rebuilding
# the sensor, which prints a beta warning about sensor owners in every process that loads the code.
@sensor(
    job_name=BATCH_JOB,
    minimum_interval_seconds=30,
    default_status=DefaultSensorStatus.RUNNING,
)
def competition_partitions_sensor(context: SensorEvaluationContext, database: DatabaseResource):
    """Adds a partition per new competition (and syncs the active ones at once, in batch runs like
    the schedule's), deletes removed ones. A site row whose slug is not a Kaggle competition's is
    named in the log, never partitioned."""
    with database.begin() as conn:
        found = registry.read_competitions(conn, database.tables)
    for problem in found.problems:
        context.log.warning(problem)
    competitions = found.competitions
    registered = {c.slug for c in competitions}
    existing = set(context.instance.get_dynamic_partitions(COMPETITIONS))
    added = sorted(registered - existing)
    removed = sorted(existing - registered)
    if not added and not removed:
        return SkipReason(f"{len(existing)} partitions already match the registered competitions")
    active = {c.slug for c in competitions if c.is_active}
    return SensorResult(
        dynamic_partitions_requests=[
            competitions_partitions.build_add_request(added),
            competitions_partitions.build_delete_request(removed),
        ],
        # The partitions are added before the runs start.
        run_requests=leaderboard_batch_requests(
            [slug for slug in added if slug in active],
            f"new-competitions@{datetime.now(UTC).isoformat()}",
            {TRIGGER_TAG: NEW_COMPETITION},
        ),
    )


@sensor(minimum_interval_seconds=60, default_status=DefaultSensorStatus.RUNNING, job=leaderboard_sync_job)
def quality_alert_sensor(
    context: SensorEvaluationContext,
    database: DatabaseResource,
    quality: QualitySettingsResource,
    alerts: AlertsResource,
):
    """Alerts once when a competition's run, check or freshness starts failing, once when it recovers,
    and once when its standings switch to Kaggle's private board; records a stale competition's
    failing freshness check on its partition (one run per stale spell).

    Each evaluation reads the runs that ended since the last one and every competition's last check
    against Kaggle (health.evaluate). What was last alerted lives in the sensor's cursor, which the
    instance stores: it survives a daemon restart on SQLite and PostgreSQL instances alike.
    """
    memory = health.Memory.load(context.cursor)
    with database.begin() as conn:
        competitions = registry.list_competitions(conn, database.tables)
        last_checked = polls.last_checked(conn, database.tables)
    partitions = set(context.instance.get_dynamic_partitions(COMPETITIONS))
    evaluation = health.evaluate(
        context.instance,
        memory,
        [c for c in competitions if c.slug in partitions],
        last_checked,
        leaderboard_check_keys,
        quality.freshness_minutes,
        datetime.now(UTC),
    )

    sent = 0
    for alert in changes(memory.alerted, evaluation.statuses):
        delivered = alerts.send(alert)  # not delivered: the state stays, the next evaluation tries again
        memory.record(alert, delivered)
        sent += delivered
    for notice in memory.notices_due(evaluation.switched):
        delivered = alerts.send(notice)
        memory.record_notice(notice, delivered)
        sent += delivered
    context.update_cursor(memory.dump({c.slug for c in competitions}))

    stale = [
        RunRequest(
            partition_key=slug,
            # The sync job's freshness check alone, on the stale competition's partition.
            asset_selection=[],
            asset_check_keys=[FRESHNESS_CHECK_KEY],
            tags={TRIGGER_TAG: STALE},
            # One run per stale spell: the key names the check it has been waiting since (a
            # competition never checked: since the sensor first saw it, so a re-added one counts anew).
            run_key=f"{slug}@stale-since-{checked.isoformat() if checked else memory.watched.get(slug, 'never')}",
        )
        for slug, checked in sorted(evaluation.stale.items())
    ]
    summary = (
        f"{len(evaluation.statuses)} states evaluated ({evaluation.read} competitions' runs read), {sent} alert(s) sent"
    )
    return SensorResult(run_requests=stale) if stale else SkipReason(summary)
