"""How many competitions one machine keeps synced, measured through the real Dagster daemon.

    python -m benchmarks.daemon_capacity [--competitions 40] [--rows 1744] [--users 10000]

Starts `dagster-webserver` and `dagster-daemon run` as production does (the repository's
dagster.yaml: at most 4 runs at once, one per competition), registers `--competitions`
competitions with a local export each, then submits one `leaderboard_sync_job` run per
competition through the webserver's GraphQL API, as the schedule's run requests do, twice:

- "first sync": every board is new, so every run parses, matches and writes;
- "unchanged poll": the same bytes again, tagged as scheduled runs: every run parses, matches and
  finds nothing to change.

Each round reports its wall time from the first submission to the last run's end, the runs'
own start-to-success times, and the machine's CPU time per run (every process: the run
workers the code server starts, one per run, and the webserver, daemon and code servers that
launch them; from /proc/stat). Competitions per 5 minutes = runs finished per second of the
round × 300.
"""

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.data import board_bytes
from benchmarks.sync_benchmark import RESULTS_DIR, _populate

REPO_ROOT = Path(__file__).resolve().parents[1]
WINDOW_SECONDS = 300


def _machine_cpu_seconds() -> float:
    """Busy CPU time of the whole machine (every process), from /proc/stat."""
    fields = [int(value) for value in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = fields[3] + fields[4]  # idle + iowait
    return (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK")


def _round(client, instance, slugs: list[str], tags: dict[str, str], timeout: float) -> dict:
    from dagster import AssetRecordsFilter, DagsterRunStatus, RunsFilter

    from kaggle_lb.assets.leaderboard import MATCHED_ENTRIES

    done = {DagsterRunStatus.SUCCESS, DagsterRunStatus.FAILURE, DagsterRunStatus.CANCELED}
    cpu, started = _machine_cpu_seconds(), time.perf_counter()
    run_ids = [
        client.submit_job_execution("leaderboard_sync_job", tags={**tags, "dagster/partition": slug}) for slug in slugs
    ]
    while True:
        records = instance.get_run_records(RunsFilter(run_ids=run_ids))
        if len(records) == len(run_ids) and all(r.dagster_run.status in done for r in records):
            break
        if time.perf_counter() - started > timeout:
            sys.exit(f"runs still unfinished after {timeout:.0f} s")
        time.sleep(0.5)
    failed = [r.dagster_run.run_id for r in records if r.dagster_run.status != DagsterRunStatus.SUCCESS]
    if failed:
        from dagster import DagsterEventType

        events = instance.all_logs(failed[0], of_type={DagsterEventType.STEP_FAILURE, DagsterEventType.RUN_FAILURE})
        causes = "\n".join(
            event.dagster_event.step_failure_data.error.to_string()
            if event.dagster_event.is_step_failure
            else event.message or ""
            for event in events
        )
        sys.exit(f"{len(failed)} run(s) failed, e.g. {failed[0]}:\n{causes}")
    wall = max(r.end_time for r in records) - min(r.create_timestamp.timestamp() for r in records)
    cpu = _machine_cpu_seconds() - cpu
    launch_to_success = [r.end_time - r.start_time for r in records]
    written = instance.fetch_materializations(AssetRecordsFilter(asset_key=MATCHED_ENTRIES), limit=10_000).records
    return {
        "runs": len(records),
        "runs_that_wrote": len({r.run_id for r in written} & set(run_ids)),
        "wall_seconds": wall,
        "run_seconds_median": statistics.median(launch_to_success),
        "queued_seconds_median": statistics.median(r.start_time - r.create_timestamp.timestamp() for r in records),
        "machine_cpu_seconds_per_run": cpu / len(records),
        "competitions_per_5_minutes": int(WINDOW_SECONDS * len(records) / wall),
    }


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--competitions", type=int, default=40)
    parser.add_argument("--rows", type=int, default=1_744)
    parser.add_argument("--users", type=int, default=10_000)
    parser.add_argument("--timeout", type=float, default=1800, help="seconds a round may take")
    parser.add_argument("--output", type=Path, default=RESULTS_DIR / "daemon_capacity.json", help="JSON file")
    args = parser.parse_args(argv)

    from dagster import DagsterInstance
    from dagster_graphql import DagsterGraphQLClient

    from kaggle_lb.assets.leaderboard import SCHEDULED, TRIGGER_TAG
    from kaggle_lb.partitions import competitions_partitions
    from kaggle_lb.resources.database import DatabaseResource
    from kaggle_lb.storage import registry
    from kaggle_lb_tests.e2e.production import GraphQL, Process, dagster_command, free_port, killed_on_sigterm, wait_for

    slugs = [f"bench-{i:03d}" for i in range(args.competitions)]
    with tempfile.TemporaryDirectory(prefix="kaggle-lb-capacity-") as workdir, killed_on_sigterm():
        work = Path(workdir)
        board = board_bytes(args.rows)
        (work / "exports").mkdir()
        for slug in slugs:
            (work / "exports" / f"{slug}.csv").write_bytes(board)
        home = work / "dagster_home"
        home.mkdir()
        (home / "dagster.yaml").write_text((REPO_ROOT / "dagster.yaml").read_text())
        site_url = f"sqlite:///{work / 'site.sqlite3'}"
        env = {
            **os.environ,
            "DAGSTER_HOME": str(home),
            "DAGSTER_DISABLE_TELEMETRY": "1",
            "KAGGLE_LB_DATABASE_URL": site_url,
            "KAGGLE_LB_HOME": str(work / "home"),
            "KAGGLE_LB_SOURCE": str(work / "exports"),
        }
        os.environ.update(DAGSTER_HOME=str(home))
        # The instance's storage is created here, before the servers start: two processes creating
        # a fresh SQLite instance at once can stamp its schema twice.
        with DagsterInstance.get() as instance:
            instance.add_dynamic_partitions(competitions_partitions.name, slugs)
        _populate(site_url, str(work / "home"), board, args.users)  # registers "bench" and the users
        database = DatabaseResource(url=site_url, home=str(work / "home"))
        database.initialise()
        with database.begin() as conn:
            for slug in slugs:
                registry.add_competition(conn, database.tables, slug)
        database.dispose()

        port = free_port()
        processes = [
            Process(
                "webserver",
                dagster_command("dagster-webserver", "-h", "127.0.0.1", "-p", str(port), "-w", "workspace.yaml"),
                env,
                work,
            ),
            Process("daemon", dagster_command("dagster-daemon", "run", "-w", "workspace.yaml"), env, work),
        ]
        try:
            graphql = GraphQL(f"http://127.0.0.1:{port}")
            wait_for("the webserver", graphql.up, timeout=120, diagnose=processes[0].log_tail)
            with DagsterInstance.get() as instance:
                client = DagsterGraphQLClient("127.0.0.1", port_number=port)
                time.sleep(5)  # let the daemon settle: its start-up is not a run's cost
                rounds = {
                    "first sync": _round(client, instance, slugs, {}, args.timeout),
                    "unchanged poll": _round(client, instance, slugs, {TRIGGER_TAG: SCHEDULED}, args.timeout),
                }
        finally:
            for process in processes:
                process.kill()

    report = {
        "competitions": args.competitions,
        "rows": args.rows,
        "users": args.users,
        "cores": os.cpu_count(),
        "rounds": rounds,
    }
    for name, r in rounds.items():
        print(
            f"{name:15} {r['runs']} runs in {r['wall_seconds']:6.1f} s · start→success median "
            f"{r['run_seconds_median']:.2f} s · machine CPU {r['machine_cpu_seconds_per_run']:.2f} s per run · "
            f"{r['competitions_per_5_minutes']} competitions per 5 minutes"
        )
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(report, indent=2))
    return report


if __name__ == "__main__":
    main()
