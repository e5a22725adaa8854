"""Missing people: site users with a Kaggle username that no row of the board names, each with
the closest name on the board when one is a small edit away (`ana-k` against the board's
`ana_k`), so an organiser can fix the typo. Read-only: it never changes a match.

Names are compared as matching compares them (matching.fold). The candidates are found through
deletions, then measured exactly: the board's names are indexed once by themselves and their
one-character deletions (15,000 names: about 200,000 forms), and each user's name is looked up
with up to two characters deleted, so no user is compared with the whole board. That finds every
name within 2 edits (`ana-k`/`ana_k`, a swapped pair, a letter too many or too few, two letters
too many) except a board name with two letters more than the user typed.
"""

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


class BoardNames:
    """The names a board credits (matching.row_keys' keys), indexed by their one-deletion forms."""

    def __init__(self, keys: list[str]):
        self.names = set(keys)
        self._by_form: dict[str, set[str]] = {}
        for name in self.names:
            for form in _deletions(name) | {name}:
                self._by_form.setdefault(form, set()).add(name)

    def closest(self, key: str) -> tuple[str, int] | None:
        once = _deletions(key)
        twice = {form for name in once for form in _deletions(name)}
        candidates = set()
        for form in once | twice | {key}:
            candidates |= self._by_form.get(form, set())
        measured = sorted((distance(key, name), name) for name in candidates)
        if measured and measured[0][0] <= MAX_DISTANCE:
            return measured[0][1], measured[0][0]
        return None


def missing_users(names: BoardNames, users: list[tuple[str, str]]) -> list[Missing]:
    """Of `users` ((username, kaggle_username) with a Kaggle username set), those the board
    does not name, in the given order, the ones with a close name first."""
    found = []
    for username, kaggle_username in users:
        key = fold(kaggle_username)
        if not key or key in names.names:
            continue
        near = names.closest(key)
        found.append(Missing(username, kaggle_username, *(near or (None, None))))
    return sorted(found, key=lambda missing: missing.closest is None)
