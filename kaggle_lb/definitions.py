"""The one Definitions object that `dagster dev`, the daemon and the CLI load."""

import gc

from dagster import Definitions

from kaggle_lb.assets import leaderboard_assets, leaderboard_checks, user_match_keys
from kaggle_lb.assets.digest import standings_digest
from kaggle_lb.digest_schedule import standings_digest_schedule
from kaggle_lb.jobs import executor_from_env, leaderboard_sync_job, standings_digest_job, user_match_keys_job
from kaggle_lb.ops.digest_batch import standings_digest_batch_job
from kaggle_lb.ops.leaderboard_batch import leaderboard_batch_job
from kaggle_lb.resources.from_env import resources_from_env
from kaggle_lb.schedules import leaderboard_sync_schedule, user_match_keys_schedule
from kaggle_lb.sensors import competition_partitions_sensor, quality_alert_sensor


def definitions(resources: dict) -> Definitions:
    """Everything, with `resources`: the deployment's from the environment, or the CLI's own."""
    return Definitions(
        assets=[*leaderboard_assets, user_match_keys, standings_digest],
        asset_checks=leaderboard_checks,
        jobs=[
            leaderboard_sync_job,
            leaderboard_batch_job,
            user_match_keys_job,
            standings_digest_job,
            standings_digest_batch_job,
        ],
        schedules=[leaderboard_sync_schedule, user_match_keys_schedule, standings_digest_schedule],
        sensors=[competition_partitions_sensor, quality_alert_sensor],
        resources=resources,
        # Every job's, and the runs launched from the asset graph: in process unless the
        # deployment chose Celery workers (KAGGLE_LB_EXECUTOR).
        executor=executor_from_env(),
    )


defs = definitions(resources_from_env())

# Every process that loads the code location (a run's worker, the code server, `kaggle-lb sync`)
# keeps what it has imported until it exits: frozen, those objects are no longer walked by every
# full garbage collection, which a sync of a large board triggers many times (see
# benchmarks/README.md, "Where the seconds go").
gc.freeze()
