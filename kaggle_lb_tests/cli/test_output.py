"""What the commands print: the cause of a failure, tables that fit 80 columns without cutting a
key, scores as the export wrote them, progress only on a terminal, no Dagster chatter, and every
value from a board, a user or a site row as plain text (issue 15)."""

import json
import os
import pty
import select
import subprocess

import pytest

from kaggle_lb_tests.cli.support import HEADER, KAGGLE_LB, run_kaggle_lb

LONG_SLUGS = [f"{name}-{'x' * 40}-{'y' * 40}" for name in ("first", "second")]
LONG_USER = "ana_" + "n" * 60
HOSTILE_TEAMS = [
    "[/]",
    "[i]nnovators",
    "[link=https://evil.example/phish]click me[/link]",
    "wipe\x1b[2J",
    "title\x1b]0;pwned\x07",
    "csi\x9b31m",
]


def column(output: str, header: str) -> str:
    """The text of a left-justified column of keys, its folded pieces joined: each piece starts
    where the column's header does."""
    lines = output.splitlines()
    top = next(i for i, line in enumerate(lines) if header in line.split())
    start = lines[top].index(header)
    body = lines[top + 2 :]  # below the header's rule
    return "".join(line[start:].split()[0] for line in body if len(line) > start and line[start] != " ")


def assert_fits(output: str) -> None:
    assert all(len(line) <= 80 for line in output.splitlines()), output
    assert "…" not in output, output


@pytest.fixture
def narrow(monkeypatch):
    # The console's width, as a terminal of 80 columns gives it.
    monkeypatch.setenv("COLUMNS", "80")


def test_a_failed_sync_shows_its_cause_in_the_table(cli, exports):
    (exports / "comp-b.csv").write_text("Rank,TeamId\n1,x\n")
    cli("competitions", "add", "comp-a")
    cli("competitions", "add", "comp-b")

    table = cli("sync", "--source", str(exports), expect=1)

    lines = table.splitlines()
    failed = next(i for i, line in enumerate(lines) if line.startswith("comp-b"))
    assert "failed" in lines[failed] and "required_columns_check:" in lines[failed]
    assert "TeamName" in " ".join(lines[failed:])
    assert "synced" in lines[failed - 1] and "0 created" in lines[failed - 1]


def test_tables_fit_80_columns_and_fold_long_keys(cli, invoke, exports, narrow):
    board = HEADER + f'1,101,"{"long team name " * 8}","2026-11-01 10:00:00",0.5,3,{LONG_USER}\n'
    for slug in LONG_SLUGS:
        (exports / f"{slug}.csv").write_text(board)
        cli("competitions", "add", slug, "--title", "A title of some length, as sites give them")
    cli("users", "add", LONG_USER)
    (exports / f"{LONG_SLUGS[1]}.csv").write_text("Rank,TeamId\n1,x\n")  # a cause in the table too

    synced = cli("sync", "--source", str(exports), expect=1)
    listed = cli("competitions", "list")
    standings = cli("standings", LONG_SLUGS[0])
    checks = cli("checks", expect=1)

    for output in (synced, listed, standings, checks):
        assert_fits(output)
    assert column(synced, "competition") == "".join(LONG_SLUGS)
    assert column(listed, "slug") == "".join(LONG_SLUGS)
    assert column(standings, "username") == LONG_USER
    assert LONG_SLUGS[0] in column(checks, "competition")
    assert "ranks_follow_scores_check" in column(checks, "check")


def test_scores_print_as_the_export_wrote_them(cli, exports):
    # :g would print 0.123457, 1.23457e+07 and 1e-07 rounded to six digits.
    (exports / "comp-a.csv").write_text(
        HEADER
        + '1,101,a,"2026-11-01 10:00:00",0.123456789,1,alice\n'
        + '2,102,b,"2026-11-01 10:00:00",12345678.9,1,bob\n'
        + '3,103,c,"2026-11-01 10:00:00",0.0000001234,1,carol\n'
    )
    cli("competitions", "add", "comp-a")
    for name in ("alice", "bob", "carol"):
        cli("users", "add", name)
    cli("sync", "--source", str(exports))

    scores = [line.split()[2] for line in cli("standings", "comp-a").splitlines()[3:]]

    assert scores == ["0.123456789", "12345678.9", "1.234e-07"]


def test_progress_shows_on_a_terminal_only(tmp_path, database_url, invoke):
    # A progress bar in a log or a pipe is noise; on a terminal it shows the work under way.
    users = tmp_path / "users.csv"
    users.write_text("username\nana\nbo\n")
    # Not a terminal (click's runner): no progress, and nothing else on stderr.
    assert invoke("users", "import", str(users)).stderr == ""

    master, slave = pty.openpty()
    process = subprocess.Popen(
        [KAGGLE_LB, "users", "import", str(users), "--database-url", database_url],
        stdout=subprocess.PIPE,
        stderr=slave,
    )
    os.close(slave)
    shown = b""
    while select.select([master], [], [], 60)[0]:
        try:
            chunk = os.read(master, 65536)
        except OSError:  # the command ended and closed the terminal
            break
        if not chunk:
            break
        shown += chunk
    assert process.wait(timeout=60) == 0
    assert b"checking users.csv" in shown


def test_no_dagster_warning_or_telemetry_banner_on_a_fresh_dagster_home(cli, exports, tmp_path, database_url):
    cli("competitions", "add", "comp-a")
    home = tmp_path / "fresh_dagster_home"  # no dagster.yaml, no .telemetry: Dagster's first use
    home.mkdir()

    done = run_kaggle_lb(
        "sync", "--source", str(exports), "--database-url", database_url, env={"DAGSTER_HOME": str(home)}
    )

    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    assert "comp-a" in done.stdout and "synced" in done.stdout
    assert "dagster" not in done.stdout.lower() and "Telemetry" not in done.stdout


def test_board_values_print_as_plain_text(cli, exports, monkeypatch):
    rows = "".join(
        f'{rank},{100 + rank},"{team}","2026-11-01 10:00:00",{1 - rank / 10},1,member{rank}\n'
        for rank, team in enumerate(HOSTILE_TEAMS, 1)
    )
    (exports / "comp-a.csv").write_text(HEADER + rows)
    cli("competitions", "add", "comp-a")
    for rank in range(1, len(HOSTILE_TEAMS) + 1):
        cli("users", "add", f"member{rank}")
    cli("sync", "--source", str(exports))
    # As on a colour terminal, where Rich would turn markup into styles and links.
    monkeypatch.setenv("FORCE_COLOR", "1")
    monkeypatch.setenv("COLUMNS", "200")

    shown = cli("standings", "comp-a")

    for literal in ("[/]", "[i]nnovators", "[link=https://evil.example/phish]click me[/link]"):
        assert literal in shown
    for raw, escaped in (("\x1b[2J", "\\x1b[2J"), ("\x1b]0;pwned\x07", "\\x1b]0;pwned\\x07"), ("\x9b", "\\x9b")):
        assert raw not in shown and escaped in shown
    assert "\x1b]8;" not in shown  # no hyperlink
    as_json = cli("standings", "comp-a", "--json")
    assert "\x9b" not in as_json and "\x1b" not in as_json
    assert sorted(row["kaggle_team_name"] for row in json.loads(as_json)) == sorted(HOSTILE_TEAMS)


def test_user_and_site_values_print_as_plain_text(cli, invoke, monkeypatch):
    monkeypatch.setenv("FORCE_COLOR", "1")
    monkeypatch.setenv("COLUMNS", "200")
    assert "added: [/]" in cli("users", "add", "[/]")
    cli("competitions", "add", "comp-a", "--title", "[link=https://evil.example/phish]x[/link]\x1b]0;pwned\x07")

    listed = cli("competitions", "list")

    assert "[link=https://evil.example/phish]x[/link]" in listed and "\\x1b]0;pwned\\x07" in listed
    assert "\x1b]0;" not in listed and "\x1b]8;" not in listed
    # An error quoting what the user typed is text too.
    failed = invoke("competitions", "remove", "[/]\x1b[2J", expect=1)
    assert "[/]\\x1b[2J" in failed.stderr and "\x1b[2J" not in failed.stderr
