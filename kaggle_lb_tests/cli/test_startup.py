"""`kaggle-lb` starts fast: a command that only reads or writes the site's database loads no
Dagster, pandas or pandera (half a second or more of imports), and `--help` not even SQLAlchemy.
Each command runs in a fresh interpreter, which reports the modules it ended with."""

import json
import os
import subprocess
import sys

import pytest

# Writes the interpreter's modules at exit, after the command's own sys.exit.
WRAPPER = """
import atexit, json, os, sys
atexit.register(lambda: open(os.environ["MODULES_FILE"], "w").write(json.dumps(sorted(sys.modules))))
sys.argv[0] = "kaggle-lb"
from kaggle_lb.cli import main
main()
"""
HEAVY = {"dagster", "pandas", "pandera", "kaggle_lb.definitions", "kaggle_lb.assets"}


def loaded_by(tmp_path, *args: str) -> set[str]:
    modules = tmp_path / "modules.json"
    done = subprocess.run(
        [sys.executable, "-c", WRAPPER, *args],
        env={**os.environ, "MODULES_FILE": str(modules)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return set(json.loads(modules.read_text()))


def test_help_loads_neither_dagster_pandas_sqlalchemy_nor_rich(tmp_path):
    loaded = loaded_by(tmp_path, "--help")
    assert not loaded & (HEAVY | {"sqlalchemy", "rich"})


@pytest.mark.parametrize(
    "args",
    [
        ("competitions", "add", "comp-a"),
        ("competitions", "list"),
        ("competitions", "deactivate", "comp-a"),
        ("users", "add", "ana", "--kaggle-username", "ana-k"),
        ("users", "import", "{users}"),
        ("standings", "comp-a"),
        ("history", "comp-a"),
        ("competitions", "list", "--help"),
    ],
)
def test_database_commands_load_no_dagster_or_pandas(args, database_url, tmp_path, monkeypatch):
    monkeypatch.setenv("KAGGLE_LB_HOME", str(tmp_path / "home"))
    users = tmp_path / "users.csv"
    users.write_text("username,kaggle_username\nbo,\n")
    # init builds the users' key index, which is pandas code; but it runs no Dagster either.
    assert not loaded_by(tmp_path, "init", "--database-url", database_url) & (HEAVY - {"pandas"})
    loaded_by(tmp_path, "competitions", "add", "comp-a", "--database-url", database_url)

    loaded = loaded_by(tmp_path, *(arg.format(users=users) for arg in args), "--database-url", database_url)

    # Writing users also brings the key index up to date, with the matcher's pandas code.
    allowed = {"pandas"} if args[0] == "users" else set()
    assert not loaded & (HEAVY - allowed), sorted(loaded & HEAVY)
    assert "kaggle_lb.storage.registry" in loaded or "--help" in args  # the command did its work


def test_sync_still_loads_the_code_location(tmp_path, database_url, monkeypatch):
    # The other side of the split: the commands that run the assets get them.
    monkeypatch.setenv("KAGGLE_LB_HOME", str(tmp_path / "home"))
    loaded_by(tmp_path, "init", "--database-url", database_url)
    assert {"dagster", "kaggle_lb.definitions"} <= loaded_by(tmp_path, "sync", "--database-url", database_url)
