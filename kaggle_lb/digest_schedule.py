"""The community digest's job and schedule: one run per active competition, once a day."""

import os

from dagster import (
    AssetSelection,
    DefaultScheduleStatus,
    RunRequest,
    ScheduleEvaluationContext,
    SkipReason,
    define_asset_job,
    in_process_executor,
    schedule,
)

from kaggle_lb.assets.digest import standings_digest
from kaggle_lb.partitions import COMPETITIONS
from kaggle_lb.resources.database import DatabaseResource
from kaggle_lb.storage import registry

standings_digest_job = define_asset_job(
    "standings_digest_job",
    selection=AssetSelection.assets(standings_digest),
    description="Post one competition's standings digest to the community (KAGGLE_LB_DIGEST_URLS).",
    executor_def=in_process_executor,
)


# A digest is sent at most once a UTC day whatever the cron says (see assets.digest.period_of).
@schedule(
    cron_schedule=os.environ.get("KAGGLE_LB_DIGEST_CRON") or "0 9 * * *",
    job=standings_digest_job,
    default_status=DefaultScheduleStatus.RUNNING,
    execution_timezone="UTC",
)
def standings_digest_schedule(context: ScheduleEvaluationContext, database: DatabaseResource):
    """A digest run per active competition that has a partition."""
    with database.begin() as conn:
        active = registry.list_competitions(conn, database.tables, active_only=True)
    known = set(context.instance.get_dynamic_partitions(COMPETITIONS))
    tick = context.scheduled_execution_time.isoformat()
    requests = [RunRequest(partition_key=c.slug, run_key=f"digest:{c.slug}@{tick}") for c in active if c.slug in known]
    return requests or SkipReason("no active competition has a partition yet")
