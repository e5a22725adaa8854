"""The one Definitions object that `dagster dev`, the daemon and the CLI load."""

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
