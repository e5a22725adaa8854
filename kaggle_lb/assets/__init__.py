from kaggle_lb.assets.checks import freshness_check
from kaggle_lb.assets.leaderboard import matched_entries, raw_leaderboard_csv, validated_leaderboard
from kaggle_lb.assets.users import user_match_keys

__all__ = ["freshness_check", "leaderboard_assets", "leaderboard_check_keys", "leaderboard_checks", "user_match_keys"]

leaderboard_assets = [raw_leaderboard_csv, validated_leaderboard, matched_entries]
leaderboard_checks = [freshness_check]
# Every check a competition has, wherever it is defined (beside an asset or in its body).
leaderboard_check_keys = [
    *(key for checks in leaderboard_checks for key in checks.check_keys),
    *(key for asset in leaderboard_assets for key in asset.check_keys),
]
