"""Missing people: site users with a Kaggle username that no row of the board names, each with
the closest name on the board when one is a small edit away (`ana-k` against the board's
`ana_k`), so an organiser can fix the typo. Read-only: it never changes a match.

Names are compared as matching compares them (matching.fold). Every board name within 2 edits
(Levenshtein: a character deleted, inserted or replaced) is found, without measuring each user's
name against the whole board; the closest is the nearest, then the first in sorted order.

- One edit: a user's name with each character deleted, replaced, or preceded by each character of
  the board's names is looked up in the set of the board's names. When the users are few against
  the board, every user is looked up so first, and the board is indexed only if some are left (a
  typo is most often one edit: an accented letter's case, which fold keeps, a letter more or less).
- Two edits, by the pigeonhole principle (Pass-Join, Li et al., VLDB 2011): a board name is cut in
  three pieces, two edits leave one of them whole, and it is in the user's name at or near the
  same place (see _slices). The board's names are indexed by length, piece and text; a user's name
  looks up about nineteen of its slices, and only the names found are measured. When many are
  found (names alike but for a few characters: numbered ones), the user is looked up one edit away
  first, and failing that the names found are measured in sorted order up to the first within 2.
"""

from collections import defaultdict
from dataclasses import dataclass
from functools import cache

from kaggle_lb.leaderboard.matching import fold

MAX_DISTANCE = 2
# Past about this many names found by a user's slices, looking the user up one edit away costs less
# than measuring them all.
MANY_FOUND = 8
# Indexing one board name costs about as many set look-ups of one-edit neighbours as this
# (benchmarks/missing_users.py): below that budget, every user is looked up one edit away first.
LOOKUPS_PER_INDEXED_NAME = 6

# For each length of board name: piece -> text -> the board's names of that length with that piece.
Index = dict[int, tuple[dict[str, list[str]], ...]]


@dataclass(frozen=True)
class Missing:
    username: str
    kaggle_username: str
    closest: str | None  # the board's name, folded, nearest within MAX_DISTANCE edits
    distance: int | None


def distance(a: str, b: str) -> int:
    """Levenshtein distance (insertions, deletions, substitutions)."""
    previous = list(range(len(b) + 1))
    for i, char_a in enumerate(a, start=1):
        current = [i]
        for j, char_b in enumerate(b, start=1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (char_a != char_b)))
        previous = current
    return previous[-1]


@cache
def _pieces(length: int) -> tuple[tuple[int, int], ...]:
    """(start, end) of the three pieces a board name of `length` is cut into, the longer ones last."""
    short, longer = divmod(length, 3)
    pieces, start = [], 0
    for piece in range(3):
        end = start + short + (piece >= 3 - longer)
        pieces.append((start, end))
        start = end
    return tuple(pieces)


@cache
def _slices(key_length: int, name_length: int) -> tuple[tuple[int, int, int], ...]:
    """(piece, start, end): the slices of a user's name of `key_length` looked up among the pieces of
    board names of `name_length`. Two edits leave a piece whole with no more edits before it than
    pieces before it, and no more after it than pieces after it (Pass-Join's multi-match-aware
    selection); the edits before it shift it in the user's name: the first piece not at all, the
    middle one by -1 to 1 and within 1 of the lengths' difference, the last one by that difference."""
    change = key_length - name_length
    shifts = ((0, 0), (max(-1, change - 1), min(1, change + 1)), (change, change))
    found = []
    for piece, ((start, end), (low, high)) in enumerate(zip(_pieces(name_length), shifts)):
        for shift in range(low, high + 1):
            if start + shift >= 0 and end + shift <= key_length:
                found.append((piece, start + shift, end + shift))
    return tuple(found)


def _lengths_near(key: str) -> range:
    """The lengths of the names within MAX_DISTANCE of `key`."""
    return range(max(len(key) - MAX_DISTANCE, 0), len(key) + MAX_DISTANCE + 1)


def _one_edit_away(key: str, names: set[str], alphabet: set[str]) -> set[str]:
    """The board's names one edit from `key`; `alphabet`: every character of the board's names."""
    neighbours = [key[:at] + key[at + 1 :] for at in range(len(key))]
    for at in range(len(key) + 1):
        before, after, rest = key[:at], key[at:], key[at + 1 :]
        neighbours += [f"{before}{char}{after}" for char in alphabet]
        if after:
            neighbours += [f"{before}{char}{rest}" for char in alphabet]
    return names.intersection(neighbours)


def _index(names: set[str], lengths: set[int]) -> Index:
    """The board's names of `lengths` by length, piece and text."""
    by_length: defaultdict[int, list[str]] = defaultdict(list)
    for name in names:
        by_length[len(name)].append(name)
    index: Index = {}
    for length in lengths:
        tables: tuple[defaultdict[str, list[str]], ...] = (defaultdict(list), defaultdict(list), defaultdict(list))
        index[length] = tables
        for table, (start, end) in zip(tables, _pieces(length)):
            for name in by_length.get(length, ()):
                table[name[start:end]].append(name)
    return index


def _closest_within_two(
    key: str, index: Index, names: set[str], alphabet: set[str], one_edit_looked_up: bool
) -> tuple[str, int] | None:
    """The closest board name to `key` within MAX_DISTANCE, and its distance; `index` holds the
    lengths `key` can meet."""
    found = [
        named
        for length in _lengths_near(key)
        for piece, start, end in _slices(len(key), length)
        if (named := index[length][piece].get(key[start:end]))
    ]
    if sum(map(len, found)) <= MANY_FOUND:
        nearest = min(((distance(key, name), name) for named in found for name in named), default=None)
        return (nearest[1], nearest[0]) if nearest and nearest[0] <= MAX_DISTANCE else None
    if not one_edit_looked_up and (near := _one_edit_away(key, names, alphabet)):
        return min(near), 1
    # Nothing one edit away, nor the key itself (it is not on the board): the first name within 2
    # edits in sorted order is the closest.
    for name in sorted(set().union(*found)):
        if distance(key, name) <= MAX_DISTANCE:
            return name, MAX_DISTANCE
    return None


def _closest_names(keys: set[str], names: set[str], board_keys: list[str]) -> dict[str, tuple[str, int]]:
    """key -> the closest board name within MAX_DISTANCE and its distance, for the `keys` with one."""
    if not keys:
        return {}
    alphabet = set("".join(board_keys))
    closest: dict[str, tuple[str, int]] = {}
    # About how many neighbours _one_edit_away looks up for them all.
    lookups = sum((2 * len(key) + 1) * len(alphabet) for key in keys)
    one_edit_first = lookups <= LOOKUPS_PER_INDEXED_NAME * len(names)
    if one_edit_first:
        for key in keys:
            if near := _one_edit_away(key, names, alphabet):
                closest[key] = (min(near), 1)
    if unsettled := keys - closest.keys():
        index = _index(names, {length for key in unsettled for length in _lengths_near(key)})
        for key in unsettled:
            if near_name := _closest_within_two(key, index, names, alphabet, one_edit_first):
                closest[key] = near_name
    return closest


def missing_users(board_keys: list[str], users: list[tuple[str, str]]) -> list[Missing]:
    """Of `users` ((username, kaggle_username) with a Kaggle username set), those no name of the
    board (`board_keys`, matching.row_keys' keys) is, in the given order, the ones with a close
    name first."""
    names = set(board_keys)
    absent = [(username, kaggle, fold(kaggle)) for username, kaggle in users]
    absent = [(username, kaggle, key) for username, kaggle, key in absent if key and key not in names]
    closest = _closest_names({key for _, _, key in absent}, names, board_keys)
    found = [Missing(username, kaggle, *closest.get(key, (None, None))) for username, kaggle, key in absent]
    return sorted(found, key=lambda missing: missing.closest is None)
