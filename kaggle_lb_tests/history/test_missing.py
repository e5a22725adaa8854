"""`kaggle-lb missing` and matched_entries' `missing_users`: the users with a Kaggle username no
row of the board names, with the closest name on it; nothing is matched by it."""

import pytest

from kaggle_lb.leaderboard.missing import distance, missing_users
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
        ("abcd", ["abd"], ("abd", 1)),  # one too many
        ("abd", ["abcd"], ("abcd", 1)),  # one too few
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
