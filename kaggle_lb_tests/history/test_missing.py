"""`kaggle-lb missing` and matched_entries' `missing_users`: the users with a Kaggle username no
row of the board names, with the closest name on it; nothing is matched by it."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kaggle_lb.leaderboard.matching import fold
from kaggle_lb.leaderboard.missing import MAX_DISTANCE, Missing, distance, missing_users
from kaggle_lb.storage import registry
from kaggle_lb_tests.pipeline import board

TYPO_BOARD = board(
    '1,101,"Team Alpha","2026-11-01 10:00:00",0.95,4,"alice,BOB"',
    '2,102,"Ana K","2026-11-02 11:00:00",0.90,2,ana_k',
    '3,104,"Dave Solo","2026-11-03 12:00:00",0.85,7,dave.smith',
)


def test_the_materialization_lists_the_missing_with_their_closest_names(sync, site, exports):
    with site.begin() as conn:
        registry.import_users(conn, site.tables, [("ana", "ana-k"), ("dave", "dave_smith"), ("zed", "zzz-elsewhere")])
    (exports / "demo-comp.csv").write_bytes(TYPO_BOARD)
    result = sync()
    (materialization,) = result.asset_materializations_for_node("matched_entries")
    table = materialization.metadata["missing_users"].value
    # carol_site's CAROL is not on this board either, and has no name near it.
    assert materialization.metadata["missing_count"].value == 4
    lines = table.splitlines()
    assert "ana" in lines[2] and "ana\\_k" in lines[2] and lines[2].endswith("| 1 |")
    assert "dave\\_smith" in lines[3] and "dave\\.smith" in lines[3]
    assert "zed" in table and "carol\\_site" in table
    # Read-only: none of them got a standing.
    assert set(sync.entries()) == {"alice", "bob"}


@pytest.mark.parametrize(
    ("name", "board_names", "closest"),
    [
        ("ana-k", ["ana_k", "anna"], ("ana_k", 1)),
        ("abcd", ["bacd"], ("bacd", 2)),  # a transposition
        ("abcde", ["abc"], ("abc", 2)),  # two letters too many
        ("abc", ["abcde"], ("abcde", 2)),  # two too few
        ("abcdef", ["xbcdey"], ("xbcdey", 2)),  # two replaced, apart
        ("abcd", ["xbcde"], ("xbcde", 2)),  # one replaced, one too few
        ("abcd", ["abd"], ("abd", 1)),  # one too many
        ("abd", ["abcd"], ("abcd", 1)),  # one too few
        ("ab", ["xy", "ba"], ("ba", 2)),  # a tie: the first in sorted order
        ("a", ["bc"], ("bc", 2)),  # shorter than three pieces
        ("abc", ["xyz"], None),
        ("longname", ["longnamexyz"], None),  # three edits
    ],
)
def test_closest_within_two_edits(name, board_names, closest):
    (found,) = missing_users(board_names, [("someone", name)])
    assert (found.closest, found.distance) == (closest or (None, None))
    if closest:
        assert distance(name, closest[0]) == closest[1]


def test_a_name_on_the_board_is_not_missing_whatever_its_case():
    assert missing_users(["ana_k"], [("ana", " ANA_K ")]) == []


def brute_force(board_keys, users):
    """missing_users by its definition: every board name measured against every user's."""
    names = set(board_keys)
    found = []
    for username, kaggle in users:
        key = fold(kaggle)
        if key and key not in names:
            near = min(((distance(key, name), name) for name in names), default=(MAX_DISTANCE + 1, None))
            found.append(Missing(username, kaggle, *((near[1], near[0]) if near[0] <= MAX_DISTANCE else (None, None))))
    return sorted(found, key=lambda missing: missing.closest is None)


# Few letters, so that names a few edits apart abound: users whose slices find many of the board's
# names, users looked up one edit away before the board is indexed (few against many names), and
# the board indexed first (many users against few names).
names = st.text(alphabet="ab_é", max_size=9)


@settings(max_examples=400, deadline=None)
@given(
    board_keys=st.lists(names, max_size=60),
    kaggle_names=st.lists(st.text(alphabet="abAB_é ", max_size=9), max_size=12),
)
def test_the_closest_names_are_those_measuring_every_pair_finds(board_keys, kaggle_names):
    users = [(f"user{i}", kaggle) for i, kaggle in enumerate(kaggle_names)]
    assert missing_users(board_keys, users) == brute_force(board_keys, users)


@pytest.mark.parametrize("others", [0, 40])
def test_numbered_names_alike_but_for_a_few_digits(others):
    # Each user's slices find hundreds of the board's names. With few users, each is looked up one
    # edit away before the board is indexed; with `others` more, the board is indexed first.
    board_keys = [f"ana{number}x0" for number in range(10_000, 10_500)]
    users = [("typo", "ANA10250X"), ("two-off", "ana102x0"), ("far", "ana1x0x0xx0")]
    users += [(f"other{i}", f"zz{i}") for i in range(others)]
    found = missing_users(board_keys, users)
    assert found == brute_force(board_keys, users)
    assert [(m.username, m.closest, m.distance) for m in found[:3]] == [
        ("typo", "ana10250x0", 1),
        ("two-off", "ana10002x0", 2),
        ("far", None, None),
    ]
