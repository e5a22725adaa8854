from kaggle_lb.assets.checks import matched_entries_checks, raw_leaderboard_checks
from kaggle_lb.assets.leaderboard import matched_entries, raw_leaderboard_csv, validated_leaderboard
from kaggle_lb.assets.users import user_match_keys

leaderboard_assets = [raw_leaderboard_csv, validated_leaderboard, matched_entries]
leaderboard_checks = [raw_leaderboard_checks, matched_entries_checks]
