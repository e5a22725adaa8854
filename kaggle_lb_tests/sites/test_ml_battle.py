"""kaggle-lb adopted by an existing site: ML-Battle's own tables, through the shipped site-schema
file and the `kaggle-lb` command, on SQLite and PostgreSQL."""

import json
import shutil

import pytest
from click.testing import CliRunner
from sqlalchemy import create_engine, text

from kaggle_lb.cli import main
from kaggle_lb.leaderboard.matching import match_entries
from kaggle_lb.leaderboard.parsing import parse_leaderboard
from kaggle_lb.resources.database import resolve_database_url
from kaggle_lb_tests.fixtures import fixture_path
from kaggle_lb_tests.sites import ml_battle
from kaggle_lb_tests.sites.ml_battle import (
    EXPORTS,
    FCEN,
    HOUSE_PRICES,
    OLD_TASK_ROWS,
    REGISTRATIONS,
    SITE_SCHEMA,
    USERS,
)


@pytest.fixture
def site_url(database_url):
    ml_battle.load_schema(database_url)
    ml_battle.seed(database_url)
    return database_url


@pytest.fixture
def exports(tmp_path):
    directory = tmp_path / "exports"
    directory.mkdir()
    for slug, name in EXPORTS.items():
        shutil.copy(fixture_path(name), directory / f"{slug}.csv")
    return directory


@pytest.fixture
def cli(site_url, monkeypatch, tmp_path):
    """`kaggle-lb ARGS` against the site, with the shipped ML-Battle site schema."""
    monkeypatch.setenv("KAGGLE_LB_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("KAGGLE_LB_SITE_SCHEMA", str(SITE_SCHEMA))
    monkeypatch.setenv("KAGGLE_LB_DATABASE_URL", site_url)

    def run(*args: str, expect: int = 0):
        result = CliRunner().invoke(main, list(args), catch_exceptions=False)
        assert result.exit_code == expect, result.output
        return result

    return run


def expected_standings(slug: str) -> dict[int, tuple]:
    """user id -> (rank, score, team name), by kaggle-lb's matching rules over the site's users."""
    import pandas as pd

    board = parse_leaderboard(fixture_path(EXPORTS[slug]).read_bytes(), slug)
    users = pd.DataFrame(
        [(i, name, kaggle) for i, (name, kaggle) in enumerate(USERS, start=1)],
        columns=["user_id", "username", "kaggle_username"],
    )
    matched = match_entries(board, users).entries
    return {row.user_id: (row.rank, row.score, row.kaggle_team_name) for row in matched.itertuples(index=False)}


def test_init_leaves_the_sites_tables_and_rows_exactly_as_they_were(cli, site_url):
    schema, rows = ml_battle.schema_snapshot(site_url), ml_battle.rows_snapshot(site_url)
    result = cli("init")
    assert "database ready" in result.stdout
    if site_url.startswith("sqlite"):
        assert "journal mode delete, left as it is" in result.stdout
    cli("init")
    assert ml_battle.schema_snapshot(site_url) == schema
    assert ml_battle.rows_snapshot(site_url) == rows
    engine = create_engine(resolve_database_url(site_url))
    with engine.connect() as conn:
        added = {name for name in engine.dialect.get_table_names(conn) if name not in schema}
    engine.dispose()
    assert added and all(name.startswith("kaggle_lb_") for name in added)


def test_competitions_are_the_sites(cli):
    cli("init")
    result = cli("competitions", "list", "--json")
    listed = {c["slug"]: (c["is_active"], c["score_direction"]) for c in json.loads(result.stdout)}
    assert listed == {
        FCEN: (True, "lower"),
        HOUSE_PRICES: (True, "lower"),  # stored as its competition URL
        "orbit-wars": (False, "higher"),
        "titanic": (False, "higher"),
    }
    assert "competitions row 5: 'not a kaggle id!' is not a Kaggle competition slug" in (
        " ".join(result.stderr.split())
    )


def test_sync_writes_the_sites_leaderboard_and_owns_only_what_it_wrote(cli, site_url, exports):
    cli("init")
    outcome = json.loads(cli("sync", "--source", str(exports), "--json").stdout)
    assert sorted((o["competition"], o["status"]) for o in outcome) == [(FCEN, "synced"), (HOUSE_PRICES, "synced")]

    rows = ml_battle.entries(site_url)
    by_id = {row["id"]: row for row in rows}
    for competition_id, slug in ((1, FCEN), (2, HOUSE_PRICES)):
        credited = {
            row["user_id"]: (row["rank"], row["score"], row["kaggle_team_name"])
            for row in rows
            if row["competition_id"] == competition_id and row["user_id"] is not None and row["rank"] > 0
        }
        assert credited == expected_standings(slug)
    # Spot checks against the exports themselves.
    assert {
        (r["user_id"], r["rank"], r["kaggle_team_name"]) for r in rows if r["competition_id"] == 2 and r["user_id"]
    } == {
        (1, 1, "SZU Bayes"),
        (2, 2, "MLCV"),
    }
    ariel = by_id[1]  # the site's registration row, updated in place
    assert (ariel["user_id"], ariel["rank"], ariel["best_score"], ariel["submissions_count"]) == (3, 1, 68908.316, 12)
    assert by_id[2] == REGISTRATIONS[1]  # registered, not on the board: kept as it was
    assert by_id[3] == REGISTRATIONS[2]  # a completed competition is not synced
    assert [by_id[row["id"]] for row in OLD_TASK_ROWS] == OLD_TASK_ROWS  # user-less rows untouched
    assert len([r for r in rows if r["competition_id"] == 1 and r["user_id"] == 3]) == 1  # one row per user

    before = ml_battle.rows_snapshot(site_url)
    again = json.loads(cli("sync", "--source", str(exports), "--json").stdout)
    assert all(o["created"] == o["updated"] == o["removed"] == 0 for o in again)
    assert ml_battle.rows_snapshot(site_url) == before

    # A user who leaves the board: the row kaggle-lb inserted goes, the site's registration stays.
    board = fixture_path(EXPORTS[FCEN]).read_text(encoding="utf-8-sig").splitlines(keepends=True)
    (exports / f"{FCEN}.csv").write_text(
        "".join(line for line in board if "rojas" not in line and "Vergini" not in line)
    )
    cli("sync", FCEN, "--source", str(exports))
    left = {row["id"]: row for row in ml_battle.entries(site_url)}
    assert left[1]["user_id"] == 3 and left[1]["rank"] == 1  # the site's row, never deleted
    assert not [r for r in left.values() if r["competition_id"] == 1 and r["user_id"] == 4]  # kaggle-lb's, gone


def test_the_site_owns_its_competitions_and_users(cli, site_url):
    cli("init")
    before = ml_battle.rows_snapshot(site_url)
    for args in (
        ("competitions", "remove", FCEN),
        ("competitions", "add", "titanic"),
        ("competitions", "deactivate", FCEN),
        ("users", "add", "eve"),
    ):
        result = cli(*args, expect=1)
        assert "the site owns its" in result.stderr and "Traceback" not in result.output
    assert ml_battle.rows_snapshot(site_url) == before


def test_a_dropped_mapped_column_fails_the_sync_by_name_and_writes_nothing(cli, site_url, exports):
    cli("init")
    engine = create_engine(resolve_database_url(site_url))
    with engine.begin() as conn:
        conn.execute(text("ALTER TABLE leaderboard_entries DROP COLUMN kaggle_team_name"))
    engine.dispose()
    before = ml_battle.rows_snapshot(site_url)
    result = cli("sync", "--source", str(exports), expect=1)
    assert "leaderboard_entries.kaggle_team_name: no such column" in result.stderr
    assert "Traceback" not in result.output
    assert ml_battle.rows_snapshot(site_url) == before


def test_init_names_every_problem_of_a_schema_file_that_does_not_fit(cli, site_url, tmp_path, monkeypatch):
    broken = tmp_path / "broken.toml"
    broken.write_text(
        SITE_SCHEMA.read_text()
        .replace("active = \"status = 'ongoing'\"", "active = \"state = 'ongoing'\"")
        .replace('best_score = "score"\n', "")
        .replace('rank = "rank"', 'rnk = "rank"')
    )
    monkeypatch.setenv("KAGGLE_LB_SITE_SCHEMA", str(broken))
    before = ml_battle.schema_snapshot(site_url), ml_battle.rows_snapshot(site_url)
    result = cli("init", expect=1)
    problems = " ".join(result.stderr.split())
    assert "competitions: the active condition `state = 'ongoing'` fails" in problems
    assert "leaderboard_entries.best_score: NOT NULL without a default, and not mapped" in problems
    assert "leaderboard_entries.rnk: no such column" in problems
    assert "Traceback" not in result.output
    assert (ml_battle.schema_snapshot(site_url), ml_battle.rows_snapshot(site_url)) == before


def test_normalised_points_and_unmatched_teams(cli, site_url, exports, tmp_path, monkeypatch):
    """The old task's way: normalised points in `score`, and a user-less row per other team, owned
    and removed by kaggle-lb; the old task's own user-less rows are still never touched."""
    clamp = "MIN(MAX({}, 0), 1)" if site_url.startswith("sqlite") else "LEAST(GREATEST({}, 0), 1)"
    fraction = (
        "CASE WHEN competition.higher_is_better"
        " THEN (entry.score - competition.metric_min_value) ELSE (competition.metric_max_value - entry.score) END"
        " / (competition.metric_max_value - competition.metric_min_value)"
    )
    points = f"{clamp.format(fraction)} * competition.points_for_perfect_score"
    schema = tmp_path / "points.toml"
    schema.write_text(
        SITE_SCHEMA.read_text()
        .replace('\nscore = "score"\n', f'\nscore = """{points}"""\n')
        .replace('user = "user_id"\n', 'user = "user_id"\nunmatched_teams = true\n')
    )
    monkeypatch.setenv("KAGGLE_LB_SITE_SCHEMA", str(schema))
    cli("init")
    cli("sync", FCEN, "--source", str(exports))
    rows = [row for row in ml_battle.entries(site_url) if row["competition_id"] == 1]
    ariel = next(row for row in rows if row["id"] == 1)
    assert ariel["score"] == pytest.approx((100000 - 68908.316) / 100000 * 100)
    assert ariel["best_score"] == 68908.316
    board = parse_leaderboard(fixture_path(EXPORTS[FCEN]).read_bytes(), FCEN)
    teams = {row["kaggle_team_name"] for row in rows if row["user_id"] is None and row["id"] not in (4,)}
    assert teams == set(board.loc[board["rank"] > 0, "team_name"]) - {"Ariel Rojas", "Ludmila Vergini"}
    assert next(row for row in rows if row["id"] == 4) == OLD_TASK_ROWS[0]

    lines = fixture_path(EXPORTS[FCEN]).read_text(encoding="utf-8-sig").splitlines(keepends=True)
    gone = lines[5].split(",")[2].strip('"')
    (exports / f"{FCEN}.csv").write_text("".join(lines[:5] + lines[6:]))
    cli("sync", FCEN, "--source", str(exports))
    rows = [row for row in ml_battle.entries(site_url) if row["competition_id"] == 1]
    assert gone not in {row["kaggle_team_name"] for row in rows}
    assert next(row for row in rows if row["id"] == 4) == OLD_TASK_ROWS[0]


def test_the_partitions_sensor_keeps_one_partition_per_site_competition(cli, site_url, tmp_path):
    from dagster import DagsterInstance

    from kaggle_lb.resources.database import DatabaseResource
    from kaggle_lb_tests.test_sensors import partitions, tick

    cli("init")
    database = DatabaseResource(url=site_url, home=str(tmp_path / "home"), site_schema=str(SITE_SCHEMA))
    with DagsterInstance.ephemeral() as instance:
        result = tick(instance, database)
        assert partitions(instance) == sorted([FCEN, HOUSE_PRICES, "orbit-wars", "titanic"])
        # A new partition is synced at once only when the site's condition calls it active.
        (request,) = result.run_requests
        assert request.run_config["ops"]["poll_leaderboards"]["config"]["competitions"] == [FCEN, HOUSE_PRICES]
        engine = create_engine(resolve_database_url(site_url))
        with engine.begin() as conn:
            conn.execute(text("DELETE FROM competitions WHERE id = 4"))
        engine.dispose()
        tick(instance, database)
        assert "titanic" not in partitions(instance)
    database.dispose()


def test_a_team_name_too_long_for_the_sites_column_is_refused_by_name(cli, site_url, exports):
    cli("init")
    lines = fixture_path(EXPORTS[FCEN]).read_text(encoding="utf-8-sig").splitlines(keepends=True)
    lines[1] = lines[1].replace('"Ariel Rojas"', '"' + "A" * 300 + '"')
    (exports / f"{FCEN}.csv").write_text("".join(lines))
    before = ml_battle.rows_snapshot(site_url)
    result = cli("sync", FCEN, "--source", str(exports), "--json", expect=1)
    (outcome,) = json.loads(result.stdout)
    assert outcome["status"] == "failed"
    assert "name is 300 characters, over the 255 of leaderboard_entries.kaggle_team_name" in outcome["cause"]
    assert ml_battle.rows_snapshot(site_url) == before


def test_history_rank_change_and_missing_on_the_sites_tables(cli, site_url, exports):
    cli("init")
    cli("sync", FCEN, "--source", str(exports))
    assert [
        (r["change"], r["new_rank"], r["board"]) for r in json.loads(cli("history", FCEN, "ariel", "--json").stdout)
    ] == [
        ("entered", 1, "public"),
    ]
    # The registered user whose Kaggle name has a typo, with the name the board has.
    missing = {m["username"]: (m["closest"], m["distance"]) for m in json.loads(cli("missing", FCEN, "--json").stdout)}
    assert missing["typo"] == ("ludmilavergini", 1)
    assert "ariel" not in missing and "ludmila" not in missing

    board = fixture_path(EXPORTS[FCEN]).read_text(encoding="utf-8-sig").splitlines(keepends=True)
    # Ariel leaves the board; Ludmila takes first place.
    moved = [line.replace("2,15436729,", "1,15436729,") for line in board if "rojas" not in line]
    (exports / f"{FCEN}.csv").write_text("".join(moved))
    cli("sync", FCEN, "--source", str(exports))
    ariel = json.loads(cli("history", FCEN, "ariel", "--json").stdout)
    assert [(r["change"], r["old_rank"], r["new_rank"]) for r in ariel] == [("entered", None, 1), ("left", 1, None)]
    top = json.loads(cli("history", FCEN, "--top", "1", "--json").stdout)
    assert [(r["username"], r["change"], r["old_rank"], r["new_rank"]) for r in top] == [
        ("ludmila", "entered", None, 2),
        ("ludmila", "moved", 2, 1),
    ]
    standings = {
        r["username"]: (r["rank"], r["rank_change"], r["board"])
        for r in json.loads(cli("standings", FCEN, "--json").stdout)
    }
    assert standings["ludmila"] == (1, 1, "public")


def test_the_board_is_a_field_the_site_schema_can_map(cli, site_url, exports, tmp_path, monkeypatch):
    mapped = SITE_SCHEMA.read_text().replace('kaggle_team_name = "team_name"', 'kaggle_team_name = "board"')
    assert mapped != SITE_SCHEMA.read_text()
    (tmp_path / "ml-battle-board.toml").write_text(mapped)
    monkeypatch.setenv("KAGGLE_LB_SITE_SCHEMA", str(tmp_path / "ml-battle-board.toml"))
    cli("init")
    cli("sync", HOUSE_PRICES, "--source", str(exports))
    written = [row for row in ml_battle.entries(site_url) if row["competition_id"] == 2 and row["user_id"]]
    assert written and {row["kaggle_team_name"] for row in written} == {"public"}


def test_the_private_board_reaches_the_sites_table_once(cli, site_url, fake_kaggle, monkeypatch):
    import csv
    import io

    monkeypatch.setenv("KAGGLE_USERNAME", "lb-bot")
    monkeypatch.setenv("KAGGLE_KEY", "not-a-real-key")
    monkeypatch.setenv("KAGGLE_LB_SOURCE", "kaggle")
    export = fixture_path(EXPORTS[FCEN]).read_bytes()
    rows = list(csv.DictReader(io.StringIO(export.decode("utf-8-sig"))))
    view = [{"teamId": int(r["TeamId"]), "teamName": r["TeamName"], "score": r["Score"]} for r in rows]
    # Ludmila ahead of Ariel on the private board, every score another (lower is better here).
    private = [{**row, "score": str(60_000 + 1_000 * place)} for place, row in enumerate([view[1], view[0], *view[2:]])]
    fake_kaggle.set_board(FCEN, export)
    fake_kaggle.set_view(FCEN, view, private=private)
    fake_kaggle.set_board(HOUSE_PRICES, fixture_path(EXPORTS[HOUSE_PRICES]).read_bytes())
    cli("init")

    for _ in range(2):
        outcome = json.loads(cli("sync", FCEN, "--json").stdout)
        assert outcome[0]["status"] == "synced", outcome
    standings = {
        r["username"]: (r["rank"], r["score"], r["board"]) for r in json.loads(cli("standings", FCEN, "--json").stdout)
    }
    assert standings["ludmila"] == (1, 60000.0, "private") and standings["ariel"] == (2, 61000.0, "private")
    site_rows = {
        row["user_id"]: (row["rank"], row["score"]) for row in ml_battle.entries(site_url) if row["competition_id"] == 1
    }
    assert site_rows[4] == (1, 60000.0) and site_rows[3] == (2, 61000.0)  # ludmila, ariel in the site's table
    moved = [r for r in json.loads(cli("history", FCEN, "ariel", "--json").stdout)]
    assert [(r["change"], r["board"]) for r in moved] == [("entered", "private")]  # first sync already private
