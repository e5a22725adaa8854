"""`kaggle-lb history` and the movement in `kaggle-lb standings`, after real syncs."""

import json

from kaggle_lb_tests.cli.support import HEADER

MOVED = HEADER + (
    '1,102,carol,"2026-11-02 11:00:00",0.97,3,carol\n2,101,"Team, Alpha","2026-11-01 10:00:00",0.95,4,"alice,bob"\n'
)


def synced_twice(cli, exports, tmp_path):
    users = tmp_path / "users.csv"
    users.write_text("username,kaggle_username\nalice,\nbob,\ncarol,\n")
    cli("competitions", "add", "comp-a")
    cli("users", "import", str(users))
    cli("sync", "--source", str(exports))
    (exports / "comp-a.csv").write_text(MOVED)
    cli("sync", "--source", str(exports))


def test_standings_show_each_move_as_json_and_arrows(cli, exports, tmp_path):
    synced_twice(cli, exports, tmp_path)
    rows = json.loads(cli("standings", "comp-a", "--json"))
    assert [(r["username"], r["rank"], r["rank_change"], r["board"]) for r in rows] == [
        ("carol", 1, 1, "public"),
        ("alice", 2, -1, "public"),
        ("bob", 2, -1, "public"),
    ]
    table = cli("standings", "comp-a")
    assert "▲1" in next(line for line in table.splitlines() if "carol" in line)
    assert "▼1" in next(line for line in table.splitlines() if "alice" in line)


def test_history_of_a_user_and_of_the_top_n(cli, invoke, exports, tmp_path):
    synced_twice(cli, exports, tmp_path)
    carol = json.loads(cli("history", "comp-a", "carol", "--json"))
    assert [(r["change"], r["old_rank"], r["new_rank"], r["old_score"], r["new_score"]) for r in carol] == [
        ("entered", None, 2, None, 0.90),
        ("moved", 2, 1, 0.90, 0.97),
    ]
    top = json.loads(cli("history", "comp-a", "--top", "1", "--json"))
    assert {r["username"] for r in top} == {"carol"}
    assert len(json.loads(cli("history", "comp-a", "--json"))) == 6
    shown = cli("history", "comp-a", "alice")
    assert "entered" in shown and "1 → 2" in shown
    assert "no site user named 'zed'" in invoke("history", "comp-a", "zed", expect=1).stderr


def test_history_chart_as_png_and_svg(cli, exports, tmp_path):
    synced_twice(cli, exports, tmp_path)
    png, svg = tmp_path / "ranks.png", tmp_path / "ranks.svg"
    assert "chart:" in cli("history", "comp-a", "--chart", str(png))
    assert png.read_bytes().startswith(b"\x89PNG\r\n")
    cli("history", "comp-a", "--chart", str(svg))
    text = svg.read_text()
    assert text.lstrip().startswith("<?xml") and "<svg" in text
    assert "chart:" not in cli("history", "comp-a", "--chart", str(tmp_path / "ranks.pdf"), expect=1)
