"""The jobs: sync one competition's partition through the whole lineage and its checks, and
refresh the users' match keys every competition reads."""

from dagster import AssetSelection, define_asset_job, in_process_executor

from kaggle_lb.assets.leaderboard import GROUP
from kaggle_lb.assets.users import USER_MATCH_KEYS

leaderboard_sync_job = define_asset_job(
    "leaderboard_sync_job",
    selection=AssetSelection.groups(GROUP),
    description="Download, validate, match and write one competition's leaderboard.",
    # One process per run: the steps are short, and a fresh Python per step cost far more than
    # the work itself (benchmarks/run_cost.py).
    executor_def=in_process_executor,
)

user_match_keys_job = define_asset_job(
    "user_match_keys_job",
    selection=AssetSelection.assets(USER_MATCH_KEYS),
    description="Copy changed users' match keys into kaggle-lb's index and log which keys changed.",
    executor_def=in_process_executor,
)
