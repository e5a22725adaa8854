"""The one job: sync a competition's partition through the whole lineage and its checks."""

from dagster import AssetSelection, define_asset_job

from kaggle_lb.assets.leaderboard import GROUP

leaderboard_sync_job = define_asset_job(
    "leaderboard_sync_job",
    selection=AssetSelection.groups(GROUP),
    description="Download, validate, match and write one competition's leaderboard.",
)
