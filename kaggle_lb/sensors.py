"""Sensors: the competitions' partitions, and data-quality alerts."""

import json
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
from kaggle_lb.partitions import COMPETITIONS, competitions_partitions
from kaggle_lb.quality import health
from kaggle_lb.quality.alerts import FAILING, PASSING, changes, private_board_notices
from kaggle_lb.resources.alerts import AlertsResource
from kaggle_lb.resources.database import DatabaseResource
from kaggle_lb.resources.quality import QualitySettingsResource
from kaggle_lb.storage import registry, standings
from kaggle_lb.storage.schema import PRIVATE

FRESHNESS_CHECK_KEY = freshness_check.check_key


@sensor(
    job=leaderboard_sync_job,
    minimum_interval_seconds=30,
    default_status=DefaultSensorStatus.RUNNING,
)
def competition_partitions_sensor(context: SensorEvaluationContext, database: DatabaseResource):
    """Adds a partition per new competition (and syncs it at once if active), deletes removed ones.
    A site row whose slug is not a Kaggle competition's is named in the log, never partitioned."""
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
        run_requests=[RunRequest(partition_key=slug) for slug in added if slug in active],
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

    What was last alerted lives in the sensor's cursor, which the instance stores: it survives a
    daemon restart on SQLite and PostgreSQL instances alike.
    """
    cursor = json.loads(context.cursor) if context.cursor else {}
    alerted: dict[str, str] = cursor.get("alerted", {})
    watched: dict[str, str] = cursor.get("watched", {})
    announced: set[str] = set(cursor.get("private_boards", []))
    now = datetime.now(UTC)
    with database.begin() as conn:
        competitions = registry.list_competitions(conn, database.tables)
        synced = {c.slug: standings.last_sync(conn, database.tables, c.id) for c in competitions}
    partitions = set(context.instance.get_dynamic_partitions(COMPETITIONS))

    statuses, stale = [], []
    for competition in (c for c in competitions if c.slug in partitions):
        since = datetime.fromisoformat(watched.setdefault(competition.slug, now.isoformat()))
        checks = health.check_statuses(context.instance, competition.slug, leaderboard_check_keys)
        statuses += [*checks, health.run_status(context.instance, competition.slug, checks)]
        if competition.is_active:
            last = synced[competition.slug]
            freshness = health.freshness_status(
                competition.slug, last.synced_at if last else None, quality.freshness_minutes, now, since
            )
            statuses.append(freshness)
            if freshness.state == FAILING:
                stale.append(
                    RunRequest(
                        partition_key=competition.slug,
                        # The sync job's freshness check alone, on the stale competition's partition.
                        asset_selection=[],
                        asset_check_keys=[FRESHNESS_CHECK_KEY],
                        # One run per stale spell: the key names the sync it has been waiting since.
                        run_key=f"{competition.slug}@stale-since-{last.synced_at.isoformat() if last else 'never'}",
                    )
                )

    sent = 0
    for alert in changes(alerted, statuses):
        if not alerts.send(alert):
            continue  # state unchanged, so the next evaluation tries again
        sent += 1
        alerted[alert.status.key] = PASSING if alert.recovered else FAILING
    on_private = {slug for slug, last in synced.items() if last is not None and last.board == PRIVATE}
    for notice in private_board_notices(announced, on_private & partitions):
        if alerts.send(notice):
            sent += 1
            announced.add(notice.competition)

    registered = {c.slug for c in competitions}
    context.update_cursor(
        json.dumps(
            {
                "alerted": {k: v for k, v in alerted.items() if k.split("|")[0] in registered},
                "watched": {k: v for k, v in watched.items() if k in registered},
                "private_boards": sorted(announced & registered),
            }
        )
    )
    summary = f"{len(statuses)} states evaluated, {sent} alert(s) sent"
    return SensorResult(run_requests=stale) if stale else SkipReason(summary)
