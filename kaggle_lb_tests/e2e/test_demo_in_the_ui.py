"""`make demo` then `make dev`: the UI shows the demo's competitions, their runs and their checks,
read through the real webserver's GraphQL API from the instance the demo recorded its runs in."""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from kaggle_lb.cli import DEMO_COMPETITIONS
from kaggle_lb_tests.e2e.production import (
    REPO_ROOT,
    GraphQL,
    Process,
    check_statuses,
    dagster_command,
    free_port,
    killed_on_sigterm,
    partition_keys,
    wait_for,
)

pytestmark = pytest.mark.e2e
RUNS = "{ runsOrError { ... on Runs { results { status jobName tags { key value } } } } }"


def test_the_demo_shows_in_the_ui(tmp_path, monkeypatch):
    # The Makefile's environment for both targets.
    home = tmp_path / "kaggle_lb_home"
    dagster_home = home / "dagster"
    dagster_home.mkdir(parents=True)
    shutil.copy(REPO_ROOT / "dagster.yaml", dagster_home / "dagster.yaml")
    env = {
        "PATH": str(Path(sys.executable).parent),
        "HOME": str(tmp_path),
        "KAGGLE_LB_HOME": str(home),
        "DAGSTER_HOME": str(dagster_home),
        "KAGGLE_LB_SOURCE": str(REPO_ROOT / "kaggle_lb" / "demo" / "exports"),
    }
    demo = subprocess.run(
        [str(Path(sys.executable).parent / "kaggle-lb"), "demo"],
        env=env,
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert demo.returncode == 0, demo.stdout + demo.stderr

    port = free_port()
    with killed_on_sigterm():
        webserver = Process(
            "webserver",
            dagster_command("dagster-webserver", "-h", "127.0.0.1", "-p", str(port), "-w", "workspace.yaml"),
            env,
            tmp_path,
        )
        api = GraphQL(f"http://127.0.0.1:{port}")
        try:
            wait_for("the webserver", api.up, timeout=90, diagnose=webserver.log_tail)
            slugs = sorted(DEMO_COMPETITIONS)
            assert sorted(partition_keys(api)) == slugs
            runs = api(RUNS)["runsOrError"]["results"]
            synced = sorted(
                next(t["value"] for t in run["tags"] if t["key"] == "dagster/partition")
                for run in runs
                if run["jobName"] == "leaderboard_sync_job" and run["status"] == "SUCCESS"
            )
            assert synced == slugs
            statuses = check_statuses(api)
            assert statuses and all(status["succeededPartitions"] == slugs for status in statuses.values()), statuses
        finally:
            api.close()
            webserver.kill()
