"""Missing people: site users with a Kaggle username that no row of the board names, each with
the closest name on the board when one is a small edit away (`ana-k` against the board's
`ana_k`), so an organiser can fix the typo. Read-only: it never changes a match.

Names are compared as matching compares them (matching.fold). The candidates are found through
deletions, then measured exactly: the missing users' names are indexed by themselves and their
forms with up to two characters deleted, and each of the board's names is looked up with up to
one deleted, so nobody is compared with the whole board (15,790 names against 100 users: 40 ms). That finds every
name within 2 edits (`ana-k`/`ana_k`, a swapped pair, a letter too many or too few, two letters
too many) except a board name with two letters more than the user typed.
"""

from collections import defaultdict
from dataclasses import dataclass

from kaggle_lb.leaderboard.matching import fold

MAX_DISTANCE = 2


@dataclass(frozen=True)
class Missing:
    username: str
    kaggle_username: str
    closest: str | None  # the board's name, folded, nearest within MAX_DISTANCE edits
    distance: int | None


def _deletions(name: str) -> set[str]:
    return {name[:at] + name[at + 1 :] for at in range(len(name))}


def distance(a: str, b: str) -> int:
    """Levenshtein distance (insertions, deletions, substitutions)."""
    previous = list(range(len(b) + 1))
    for i, char_a in enumerate(a, start=1):
        current = [i]
        for j, char_b in enumerate(b, start=1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (char_a != char_b)))
        previous = current
    return previous[-1]


def missing_users(board_keys: list[str], users: list[tuple[str, str]]) -> list[Missing]:
    """Of `users` ((username, kaggle_username) with a Kaggle username set), those no name of the
    board (`board_keys`, matching.row_keys' keys) is, in the given order, the ones with a close
    name first."""
    names = set(board_keys)
    absent = [(username, kaggle, fold(kaggle)) for username, kaggle in users]
    absent = [(username, kaggle, key) for username, kaggle, key in absent if key and key not in names]
    by_form: dict[str, set[str]] = defaultdict(set)
    for key in {key for _, _, key in absent}:
        once = _deletions(key)
        for form in once | {twice for name in once for twice in _deletions(name)} | {key}:
            by_form[form].add(key)
    # A user's forms are 0 to 2 characters shorter than their name, a board name's 0 or 1: they
    # meet only for board names 2 shorter to 1 longer than a user's.
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
        if measured <= MAX_DISTANCE:
            closest[key] = (name, measured)
    found = [Missing(username, kaggle, *closest.get(key, (None, None))) for username, kaggle, key in absent]
    return sorted(found, key=lambda missing: missing.closest is None)
