"""The one job: sync a competition's partition through the whole lineage and its checks."""

from dagster import AssetSelection, define_asset_job, in_process_executor

from kaggle_lb.assets.leaderboard import GROUP

leaderboard_sync_job = define_asset_job(
    "leaderboard_sync_job",
    selection=AssetSelection.groups(GROUP),
    description="Download, validate, match and write one competition's leaderboard.",
    # One process per run: the steps are short, and a fresh Python per step cost far more than
    # the work itself (benchmarks/run_cost.py).
    executor_def=in_process_executor,
)
