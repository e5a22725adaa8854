"""The one Definitions object that `dagster dev`, the daemon and the CLI load."""

import gc

from dagster import Definitions

from kaggle_lb.assets import leaderboard_assets, leaderboard_checks, user_match_keys
from kaggle_lb.jobs import leaderboard_sync_job, user_match_keys_job
from kaggle_lb.resources.from_env import resources_from_env
from kaggle_lb.schedules import leaderboard_sync_schedule, user_match_keys_schedule
from kaggle_lb.sensors import competition_partitions_sensor, quality_alert_sensor

defs = Definitions(
    assets=[*leaderboard_assets, user_match_keys],
    asset_checks=leaderboard_checks,
    jobs=[leaderboard_sync_job, user_match_keys_job],
    schedules=[leaderboard_sync_schedule, user_match_keys_schedule],
    sensors=[competition_partitions_sensor, quality_alert_sensor],
    resources=resources_from_env(),
)

# Every process that loads this module (a run's worker, the code server) keeps what it has loaded
# so far, Dagster, pandas, pandera and SQLAlchemy (some 230,000 objects), until it exits. Frozen,
# the collector stops walking them at every full collection, which took a quarter of the time of a
# 15,739-row board's sync (benchmarks/sync_benchmark.py).
gc.freeze()
