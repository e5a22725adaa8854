"""Keeps the `competitions` partitions equal to the registered competitions."""

from dagster import DefaultSensorStatus, RunRequest, SensorEvaluationContext, SensorResult, SkipReason, sensor

from kaggle_lb.jobs import leaderboard_sync_job
from kaggle_lb.partitions import competitions_partitions
from kaggle_lb.resources.database import DatabaseResource
from kaggle_lb.storage import registry


@sensor(
    job=leaderboard_sync_job,
    minimum_interval_seconds=30,
    default_status=DefaultSensorStatus.RUNNING,
)
def competition_partitions_sensor(context: SensorEvaluationContext, database: DatabaseResource):
    """Adds a partition per new competition (and syncs it at once if active), deletes removed ones."""
    with database.begin() as conn:
        competitions = registry.list_competitions(conn, database.tables)
    registered = {c.slug for c in competitions}
    existing = set(context.instance.get_dynamic_partitions(competitions_partitions.name))
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
