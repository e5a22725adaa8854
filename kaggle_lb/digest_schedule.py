"""The community digest's schedule: every active competition's digest, once a day, in batch runs."""

import os

from dagster import (
    DefaultScheduleStatus,
    ScheduleEvaluationContext,
    SkipReason,
    schedule,
)

from kaggle_lb.ops.batches import batch_run_requests
from kaggle_lb.ops.digest_batch import DIGEST_BATCH_JOB, POST_DIGESTS, standings_digest_batch_job
from kaggle_lb.partitions import COMPETITIONS
from kaggle_lb.resources.database import DatabaseResource
from kaggle_lb.run_tags import SCHEDULED, TRIGGER_TAG
from kaggle_lb.storage import registry


# A digest is sent at most once a UTC day whatever the cron says (see assets.digest.period_of).
@schedule(
    cron_schedule=os.environ.get("KAGGLE_LB_DIGEST_CRON") or "0 9 * * *",
    job=standings_digest_batch_job,
    default_status=DefaultScheduleStatus.RUNNING,
    execution_timezone="UTC",
)
def standings_digest_schedule(context: ScheduleEvaluationContext, database: DatabaseResource):
    """Every active competition that has a partition, in batch runs (KAGGLE_LB_BATCH_SIZE each), a
    standings_digest_job run per competition inside them."""
    with database.begin() as conn:
        active = registry.list_competitions(conn, database.tables, active_only=True)
    known = set(context.instance.get_dynamic_partitions(COMPETITIONS))
    slugs = sorted(c.slug for c in active if c.slug in known)
    if not slugs:
        return SkipReason("no active competition has a partition yet")
    tick = context.scheduled_execution_time.isoformat()
    return batch_run_requests(DIGEST_BATCH_JOB, POST_DIGESTS, slugs, f"digest@{tick}", {TRIGGER_TAG: SCHEDULED})
