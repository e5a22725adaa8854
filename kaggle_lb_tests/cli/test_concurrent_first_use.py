"""Issue 15: three `kaggle-lb sync` started at once on a fresh DAGSTER_HOME each created Dagster's
SQLite storage, and could stamp one database's schema version twice ("more than one head"),
failing that sync and every later one. The CLI opens the instance under a lock."""

import os
import sqlite3
import subprocess

from kaggle_lb_tests.cli.support import KAGGLE_LB

ROUNDS = 4  # the race was lost in about half of the rounds before the lock


def test_concurrent_syncs_on_a_fresh_dagster_home_all_succeed(cli, exports, database_url, tmp_path):
    cli("competitions", "add", "comp-a")
    cli("users", "add", "carol")
    for round_number in range(ROUNDS):
        home = tmp_path / f"dagster_home_{round_number}"
        home.mkdir()
        (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
        command = [KAGGLE_LB, "sync", "--source", str(exports), "--json", "--database-url", database_url]
        env = {**os.environ, "DAGSTER_HOME": str(home)}
        syncs = [
            subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            for _ in range(3)
        ]
        results = [(sync.wait(timeout=300), *sync.communicate()) for sync in syncs]

        assert [code for code, _, _ in results] == [0, 0, 0], [err for _, _, err in results]
        for database in home.rglob("*.db"):
            with sqlite3.connect(database) as conn:
                versions = conn.execute("SELECT count(*) FROM alembic_version").fetchone()[0]
            assert versions == 1, database
        later = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
        assert later.returncode == 0, later.stderr
