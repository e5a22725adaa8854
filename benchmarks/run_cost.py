"""What Dagster adds to one competition's run, layer by layer.

    python -m benchmarks.run_cost [--rows 1744] [--users 10000] [--repeat 5]

Four ways to sync the same board (SQLite, a local export, a manual run so nothing is skipped):
the plain functions; `materialize()` in process (as `kaggle-lb sync` does); `execute_job` on a
persistent instance with the job's in-process executor; and a fresh `dagster job execute`
process per run, like the run worker the daemon's launcher starts: a new Python that imports
the code location, then executes the run. CPU time includes child processes. The daemon's own
work around each run, and so the number of competitions a machine keeps synced, is measured
through the real daemon by benchmarks.daemon_capacity.
"""

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.data import board_bytes
from benchmarks.sync_benchmark import COMPETITION, RESULTS_DIR, _populate


def _cpu_seconds() -> float:
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def _timed(function, repeat: int) -> dict:
    walls, cpus = [], []
    for _ in range(repeat):
        wall, cpu = time.perf_counter(), _cpu_seconds()
        function()
        walls.append(time.perf_counter() - wall)
        cpus.append(_cpu_seconds() - cpu)
    return {"wall_seconds": statistics.median(walls), "cpu_seconds": statistics.median(cpus), "runs": walls}


def _job_from_env():
    from dagster import Definitions

    from kaggle_lb.assets import leaderboard_assets
    from kaggle_lb.jobs import leaderboard_sync_job
    from kaggle_lb.resources.from_env import resources_from_env

    return Definitions(
        assets=leaderboard_assets, jobs=[leaderboard_sync_job], resources=resources_from_env()
    ).resolve_job_def(leaderboard_sync_job.name)


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_744)
    parser.add_argument("--users", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args(argv)

    from dagster import DagsterInstance, execute_job, materialize, reconstructable

    from kaggle_lb.assets import leaderboard_assets
    from kaggle_lb.leaderboard.parsing import parse_leaderboard
    from kaggle_lb.partitions import competitions_partitions
    from kaggle_lb.resources.from_env import resources_from_env
    from kaggle_lb.storage import registry, standings, user_keys

    with tempfile.TemporaryDirectory(prefix="kaggle-lb-run-cost-") as workdir:
        work = Path(workdir)
        board = board_bytes(args.rows)
        (work / "exports").mkdir()
        (work / "exports" / f"{COMPETITION}.csv").write_bytes(board)
        (work / "dagster_home").mkdir()
        (work / "dagster_home" / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
        os.environ.update(
            KAGGLE_LB_DATABASE_URL=f"sqlite:///{work / 'site.sqlite3'}",
            KAGGLE_LB_HOME=str(work / "home"),
            KAGGLE_LB_SOURCE=str(work / "exports"),
            DAGSTER_HOME=str(work / "dagster_home"),
        )
        _populate(os.environ["KAGGLE_LB_DATABASE_URL"], str(work / "home"), board, args.users)
        resources = resources_from_env(database_url=os.environ["KAGGLE_LB_DATABASE_URL"])
        database = resources["database"]

        def plain():
            content = resources["leaderboard_source"].download_leaderboard(COMPETITION).content
            parsed = parse_leaderboard(content, COMPETITION)
            # As a run by hand does it: the user keys refreshed first, then the board matched.
            with database.begin() as conn:
                user_keys.refresh(conn, database.tables)
            with database.begin() as conn:
                competition = registry.get_competition(conn, database.tables, COMPETITION)
                result, _ = user_keys.match_board(conn, database.tables, parsed)
                standings.write_standings(conn, database.tables, competition.id, result.entries)

        measured = {"plain functions": _timed(plain, args.repeat)}
        with DagsterInstance.ephemeral() as instance:
            instance.add_dynamic_partitions(competitions_partitions.name, [COMPETITION])
            measured["materialize() in process"] = _timed(
                lambda: materialize(
                    leaderboard_assets, partition_key=COMPETITION, instance=instance, resources=resources
                ),
                args.repeat,
            )
        with DagsterInstance.get() as instance:
            instance.add_dynamic_partitions(competitions_partitions.name, [COMPETITION])
            job = reconstructable(_job_from_env)
            measured["execute_job, persistent instance"] = _timed(
                lambda: (
                    execute_job(job, instance=instance, tags={"dagster/partition": COMPETITION}).success
                    or sys.exit("run failed")
                ),
                args.repeat,
            )
            command = [
                str(Path(sys.executable).with_name("dagster")),
                "job",
                "execute",
                "-m",
                "kaggle_lb.definitions",
                "-j",
                "leaderboard_sync_job",
                "--tags",
                json.dumps({"dagster/partition": COMPETITION}),
            ]

            def launched():
                done = subprocess.run(
                    command, capture_output=True, text=True, check=False, cwd=Path(__file__).resolve().parents[1]
                )
                if done.returncode != 0:
                    sys.exit(f"run failed:\n{done.stderr[-2000:]}")

            measured["fresh process per run"] = _timed(launched, args.repeat)
        database.dispose()

    per_run = measured["fresh process per run"]
    report = {
        "rows": args.rows,
        "users": args.users,
        "repeat": args.repeat,
        "cores": os.cpu_count(),
        "runs": measured,
        "dagster_overhead_seconds": per_run["wall_seconds"] - measured["plain functions"]["wall_seconds"],
    }
    for name, m in measured.items():
        print(f"{name:32} wall {m['wall_seconds']:6.2f} s   cpu {m['cpu_seconds']:6.2f} s")
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    (RESULTS_DIR / "run_cost.json").write_text(json.dumps(report, indent=2))
    return report


if __name__ == "__main__":
    main()
