"""`kaggle-lb missing SLUG`: the users with a Kaggle username no row of the last synced board
names, with the closest name on it."""

import json

from kaggle_lb_tests.cli.support import HEADER


def test_missing_lists_typos_and_their_closest_names(cli, exports, tmp_path):
    users = tmp_path / "users.csv"
    users.write_text("username,kaggle_username\nana,ana-k\nbo,BOB\ncarl,carol\ndee,nobody-like-this\n")
    cli("competitions", "add", "comp-a")
    cli("users", "import", str(users))
    (exports / "comp-a.csv").write_text(
        HEADER + '1,101,"Ana K","2026-11-01 10:00:00",0.95,4,"ana_k,bob"\n'
        '2,102,caro1,"2026-11-02 11:00:00",0.90,2,caro1\n'
    )
    cli("sync", "--source", str(exports))
    found = json.loads(cli("missing", "comp-a", "--json"))
    assert found == [
        {"username": "ana", "kaggle_username": "ana-k", "closest": "ana_k", "distance": 1},
        {"username": "carl", "kaggle_username": "carol", "closest": "caro1", "distance": 1},
        {"username": "dee", "kaggle_username": "nobody-like-this", "closest": None, "distance": None},
    ]
    assert "ana_k" in cli("missing", "comp-a")


def test_missing_before_any_sync_says_so(cli, invoke):
    cli("competitions", "add", "comp-a")
    assert "run `kaggle-lb sync comp-a` first" in invoke("missing", "comp-a", expect=1).stderr
