"""How long `missing_users` takes in a sync, against the algorithm it replaced.

    python -m benchmarks.missing_users [--repeat 5] [--rows 1744 15739 100000] [--users 1000 10000]

For each board (benchmarks/data.py `board_bytes`: the real Titanic export up to 15,739 rows, a
generated one beyond) and each site (`users_for`: about one board row in ten is a user, half of the
users have a Kaggle username, the others are on no board), the arguments are built as
matched_entries' `_missing_users` builds them: the keys of the parsed board's rows, and the users
with a Kaggle username. Both algorithms run on them; printed: the median CPU seconds of REPEAT
runs of each, the ratio, and whether they returned the same.
"""

import argparse
import statistics
import time
from collections import defaultdict
from collections.abc import Callable

from benchmarks.data import board_bytes, users_for
from kaggle_lb.leaderboard.matching import fold, row_keys
from kaggle_lb.leaderboard.missing import Missing, distance, missing_users
from kaggle_lb.leaderboard.parsing import parse_leaderboard


def _previous_deletions(name: str) -> set[str]:
    return {name[:at] + name[at + 1 :] for at in range(len(name))}


def previous_missing_users(board_keys: list[str], users: list[tuple[str, str]]) -> list[Missing]:
    """The baseline: missing_users before Pass-Join, as it was. The missing users' names were
    indexed by themselves and their forms with up to two characters deleted, and each board name
    looked up with up to one deleted (blind to a board name that needs two deletions to meet the
    user's: two letters more, two replaced, or one replaced and one more)."""
    names = set(board_keys)
    absent = [(username, kaggle, fold(kaggle)) for username, kaggle in users]
    absent = [(username, kaggle, key) for username, kaggle, key in absent if key and key not in names]
    by_form: dict[str, set[str]] = defaultdict(set)
    for key in {key for _, _, key in absent}:
        once = _previous_deletions(key)
        for form in once | {twice for name in once for twice in _previous_deletions(name)} | {key}:
            by_form[form].add(key)
    lengths = {len(key) + change for _, _, key in absent for change in (-2, -1, 0, 1)}
    candidates: dict[str, set[str]] = defaultdict(set)
    for name in names:
        if len(name) not in lengths:
            continue
        for key in by_form.get(name, ()):
            candidates[key].add(name)
        for at in range(len(name)):
            for key in by_form.get(name[:at] + name[at + 1 :], ()):
                candidates[key].add(name)
    closest = {}
    for key, near in candidates.items():
        measured, name = min((distance(key, name), name) for name in near)
        if measured <= 2:
            closest[key] = (name, measured)
    found = [Missing(username, kaggle, *closest.get(key, (None, None))) for username, kaggle, key in absent]
    return sorted(found, key=lambda missing: missing.closest is None)


def _median_cpu_seconds(
    function: Callable[[list[str], list[tuple[str, str]]], list[Missing]],
    board_keys: list[str],
    users: list[tuple[str, str]],
    repeat: int,
) -> tuple[float, list[Missing]]:
    seconds = []
    for _ in range(repeat):
        start = time.process_time()
        found = function(board_keys, users)
        seconds.append(time.process_time() - start)
    return statistics.median(seconds), found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--rows", type=int, nargs="+", default=[1_744, 15_739, 100_000])
    parser.add_argument("--users", type=int, nargs="+", default=[1_000, 10_000])
    args = parser.parse_args()
    print(f"median CPU seconds of {args.repeat} runs")
    print(f"{'rows':>7} {'keys':>7} {'users':>6} {'kaggle':>6} {'absent':>6} {'previous':>9} {'now':>8} {'x':>6}  same")
    for rows in args.rows:
        content = board_bytes(rows)
        board_keys = row_keys(parse_leaderboard(content, "benchmark").reset_index(drop=True))[1]
        for count in args.users:
            users = [(username, kaggle) for username, kaggle in users_for(content, count) if kaggle is not None]
            before, previous = _median_cpu_seconds(previous_missing_users, board_keys, users, args.repeat)
            now, found = _median_cpu_seconds(missing_users, board_keys, users, args.repeat)
            print(
                f"{rows:>7,} {len(board_keys):>7,} {count:>6,} {len(users):>6,} {len(found):>6,} "
                f"{before:>8.3f}s {now:>7.3f}s {before / now:>5.1f}x  {'yes' if found == previous else 'no'}"
            )


if __name__ == "__main__":
    main()
