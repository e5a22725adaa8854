from kaggle_lb.assets.leaderboard import matched_entries, raw_leaderboard_csv, validated_leaderboard

leaderboard_assets = [raw_leaderboard_csv, validated_leaderboard, matched_entries]
