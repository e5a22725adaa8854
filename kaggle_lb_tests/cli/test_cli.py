"""The `kaggle-lb` command line, run as a user would (click's runner, real databases)."""

import json

import pytest
from click.testing import CliRunner
from dagster import DagsterInstance

from kaggle_lb.cli import main
from kaggle_lb_tests.cli.support import BOARD, HEADER
from kaggle_lb_tests.fixtures import fixture_path


def test_competitions_commands(cli):
    cli("init")
    assert "added: comp-a" in cli("competitions", "add", "comp-a", "--title", "Comp A")
    assert "already registered" in cli("competitions", "add", "comp-a", "--score-direction", "lower")
    cli("competitions", "add", "comp-b")
    cli("competitions", "deactivate", "comp-b")
    assert json.loads(cli("competitions", "list", "--json")) == [
        {"slug": "comp-a", "title": "Comp A", "is_active": True, "score_direction": "lower"},
        {"slug": "comp-b", "title": None, "is_active": False, "score_direction": None},
    ]
    cli("competitions", "activate", "comp-b")
    cli("competitions", "remove", "comp-b")
    assert [c["slug"] for c in json.loads(cli("competitions", "list", "--json"))] == ["comp-a"]
    cli("competitions", "remove", "nope", expect=1)


def test_users_import_then_sync_and_standings(cli, exports, tmp_path):
    users = tmp_path / "users.csv"
    users.write_text("username,kaggle_username\nalice,\nBob_Site,BOB\ncarol,\n")
    cli("competitions", "add", "comp-a")
    assert "3 created, 0 updated, 0 unchanged" in cli("users", "import", str(users))
    assert "added: dave" in cli("users", "add", "dave", "--kaggle-username", "dave-k")

    outcome = json.loads(cli("sync", "--source", str(exports), "--json"))

    assert outcome == [
        {
            "competition": "comp-a",
            "status": "synced",
            "created": 3,
            "updated": 0,
            "unchanged": 0,
            "removed": 0,
            "skipped": 0,
            "cause": None,
        }
    ]
    rows = json.loads(cli("standings", "comp-a", "--json"))
    assert [(r["username"], r["rank"], r["kaggle_team_name"]) for r in rows] == [
        ("Bob_Site", 1, "Team, Alpha"),
        ("alice", 1, "Team, Alpha"),
        ("carol", 2, "carol"),
    ]
    assert set(rows[0]) == {
        "username",
        "rank",
        "score",
        "kaggle_team_id",
        "kaggle_team_name",
        "submission_count",
        "submission_date",
        "board",
        "rank_change",
    }
    assert (rows[0]["board"], rows[0]["rank_change"]) == ("public", None)  # a new entry has no change
    assert rows[0]["submission_date"].startswith("2026-11-01T10:00:00")
    # The runs went through Dagster and are recorded in the instance at DAGSTER_HOME (the UI's).
    with DagsterInstance.get() as instance:
        assert sorted(run.job_name for run in instance.get_runs()) == ["leaderboard_sync_job", "user_match_keys_job"]

    again = json.loads(cli("sync", "comp-a", "--source", str(exports), "--json"))
    assert again[0]["unchanged"] == 3 and again[0]["created"] == 0


def test_sync_reports_each_competition_and_fails_when_one_fails(cli, exports):
    (exports / "comp-b.csv").write_text("Rank,TeamId\n1,x\n")
    cli("competitions", "add", "comp-a")
    cli("competitions", "add", "comp-b")

    outcome = json.loads(cli("sync", "--source", str(exports), "--json", expect=1))

    assert [(o["competition"], o["status"]) for o in outcome] == [("comp-a", "synced"), ("comp-b", "failed")]
    assert outcome[1]["cause"].startswith("required_columns_check: ")
    assert "TeamName" in outcome[1]["cause"] and outcome[0]["cause"] is None


def test_sync_through_the_real_kaggle_client(cli, fake_kaggle, monkeypatch):
    monkeypatch.setenv("KAGGLE_USERNAME", "lb-bot")
    monkeypatch.setenv("KAGGLE_KEY", "key-for-the-fake-server")
    fake_kaggle.set_board("comp-a", BOARD.encode())
    cli("competitions", "add", "comp-a")
    cli("users", "add", "carol")

    outcome = json.loads(cli("sync", "--source", "kaggle", "--json"))

    assert outcome[0]["status"] == "synced" and outcome[0]["created"] == 1
    assert fake_kaggle.requests[0].auth == "basic"


def test_sync_of_an_unregistered_competition_is_refused(cli):
    cli("sync", "ghost", expect=1)


def test_demo_needs_no_credentials_and_prints_standings(tmp_path, monkeypatch):
    for name in ("KAGGLE_USERNAME", "KAGGLE_KEY", "KAGGLE_API_TOKEN", "KAGGLE_LB_DATABASE_URL"):
        monkeypatch.delenv(name, raising=False)
    result = CliRunner().invoke(main, ["demo", "--home", str(tmp_path / "demo")], catch_exceptions=False)

    assert result.exit_code == 0, result.output
    assert (tmp_path / "demo" / "kaggle_lb.sqlite3").exists()
    for title in ("orbit-wars", "sberbank-russian-housing-market", "fcen-dm-2026-prediccion-precio-de-propiedades"):
        assert title in result.output
    assert "failed" not in result.output


def test_demo_exports_are_the_real_fixtures():
    from importlib import resources

    shipped = resources.files("kaggle_lb") / "demo" / "exports" / "orbit-wars.csv"
    assert shipped.read_bytes() == fixture_path("orbit-wars-publicleaderboard-2026-05-05T15_36_33.csv").read_bytes()


def test_checks_command_reports_failing_checks_and_exits_non_zero(cli, exports):
    cli("competitions", "add", "comp-a")
    cli("users", "add", "carol")
    cli("sync", "--source", str(exports))
    healthy = json.loads(cli("checks", "--json"))
    assert {s["name"]: s["state"] for s in healthy}["freshness_check"] == "passing"
    assert all(s["state"] == "passing" for s in healthy)

    zeros = "".join(f'{i},{100 + i},t{i},"2026-11-01 10:00:00",0,1,m{i}\n' for i in range(1, 9))
    (exports / "comp-a.csv").write_text(HEADER + zeros)
    cli("sync", "--source", str(exports), expect=1)

    failing = json.loads(cli("checks", "comp-a", "--json", expect=1))
    states = {s["name"]: s["state"] for s in failing}
    assert states["scores_vary_check"] == "failing"
    assert states["required_columns_check"] == "passing"


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("postgresql://kaggle_lb:s3cret-pw@127.0.0.1:1/site", "connection"),
        ("mysql://kaggle_lb:s3cret-pw@127.0.0.1/site", "unsupported kind of database"),
        ("not a url s3cret-pw", "the database URL cannot be read"),
    ],
)
def test_a_database_that_cannot_be_used_is_one_line_without_a_traceback(url, says, monkeypatch, tmp_path):
    monkeypatch.setenv("KAGGLE_LB_HOME", str(tmp_path))
    for args in (["init"], ["competitions", "list"], ["sync"]):
        result = CliRunner().invoke(main, [*args, "--database-url", url])
        assert result.exit_code == 1, result.output
        assert isinstance(result.exception, SystemExit), result.exception
        said = " ".join(result.stderr.split())  # the console wraps at the terminal's width
        assert said.startswith("error:") and said.count("error:") == 1 and says in said, result.stderr
        assert len(said) < 300
        assert "s3cret-pw" not in result.output


def test_a_database_not_initialised_says_to_run_init(database_url, tmp_path, monkeypatch):
    monkeypatch.setenv("KAGGLE_LB_HOME", str(tmp_path))
    result = CliRunner().invoke(main, ["competitions", "list", "--database-url", database_url])
    assert result.exit_code == 1 and isinstance(result.exception, SystemExit)
    assert "run `kaggle-lb init`" in " ".join(result.stderr.split())


def test_debug_shows_the_traceback_the_one_line_replaces(tmp_path, monkeypatch):
    monkeypatch.setenv("KAGGLE_LB_HOME", str(tmp_path))
    args = ["competitions", "list", "--database-url", f"sqlite:///{tmp_path / 'missing.sqlite3'}"]

    plain = CliRunner().invoke(main, args)
    debug = CliRunner().invoke(main, ["--debug", *args])

    assert plain.exit_code == 1 and isinstance(plain.exception, SystemExit)
    assert "run `kaggle-lb init`" in plain.stderr
    assert type(debug.exception).__name__ == "DatabaseNotReadyError"  # raised, so Python prints its traceback
