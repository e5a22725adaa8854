"""What a user waits for: one competition's whole sync, as a process, against the per-row design.

    python -m benchmarks.whole_process [--rows 100000] [--users 200000] [--repeat 3]

For each site database (SQLite, PostgreSQL) and each Dagster instance storage (SQLite under
DAGSTER_HOME, PostgreSQL as deploy/dagster.yaml configures it), both designs start from the same
database (the users and the competition registered, no entries) and run as a fresh process:

- kaggle-lb: `kaggle-lb sync SLUG --source DIR`, start-up, imports, the users' key refresh run and
  the `leaderboard_sync_job` run with Dagster's own event writes included;
- per-row: the old task's design (benchmarks/per_row.py: the CSV read with pandas, each row's names
  looked up through the same key index, each entry written by its own ORM-style statements), in
  a fresh Python process too.

The first sync writes every entry; the repeats sync the same board again (kaggle-lb then writes
nothing; the per-row design rewrites every entry). Where kaggle-lb's seconds go comes from the
runs' own event records: the process's start-up (Python, imports, the CLI), the key refresh run,
and each step of the sync run. JSON goes to benchmarks/results/.
"""

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
RESULTS_DIR = Path(__file__).resolve().parent / "results"
SLUG = "bench"


@contextmanager
def _dagster_home(kind: str, postgres_url: str, workdir: Path):
    """A fresh DAGSTER_HOME and the environment that points at it (and at its PostgreSQL storage)."""
    from sqlalchemy.engine import make_url

    from benchmarks.sync_benchmark import _database

    home = workdir / f"dagster-{kind}"
    home.mkdir()
    env = {"DAGSTER_HOME": str(home)}
    if kind == "sqlite":
        (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
        yield env
        return
    with _database("postgresql", postgres_url, workdir) as url:
        parsed = make_url(url)
        shutil.copy(REPO / "deploy" / "dagster.yaml", home / "dagster.yaml")
        env |= {
            "DAGSTER_PG_HOST": parsed.host or "127.0.0.1",
            "DAGSTER_PG_PORT": str(parsed.port or 5432),
            "DAGSTER_PG_USER": parsed.username or "postgres",
            "DAGSTER_PG_PASSWORD": parsed.password or "",
            "DAGSTER_PG_DB": parsed.database,
        }
        yield env


def _reset(url: str, home: str) -> None:
    """No entries and no standings: both designs start every run from the same state."""
    from sqlalchemy import delete

    from kaggle_lb.resources.database import DatabaseResource

    database = DatabaseResource(url=url, home=home)
    tables = database.tables
    with database.begin() as conn:
        for table in (tables.entries, tables.standings, tables.syncs):
            conn.execute(delete(table))
    database.dispose()


def _timed(command: list[str], env: dict) -> float:
    started = time.perf_counter()
    done = subprocess.run(command, env=env, cwd=REPO, capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed:\n{done.stdout}\n{done.stderr}")
    return seconds


def _where_the_seconds_go(env: dict, process_seconds: float) -> dict:
    """The last CLI sync's runs, from the instance: each run's wall time and each sync step's."""
    from dagster import DagsterEventType, DagsterInstance

    os.environ.update(env)
    with DagsterInstance.get() as instance:
        sync_run, keys_run = (
            instance.get_runs(filters=_filter(job), limit=1)[0]
            for job in ("leaderboard_sync_job", "user_match_keys_job")
        )
        stats = {run.job_name: instance.get_run_stats(run.run_id) for run in (sync_run, keys_run)}
        steps = {}
        for entry in instance.all_logs(
            sync_run.run_id, of_type={DagsterEventType.STEP_START, DagsterEventType.STEP_SUCCESS}
        ):
            steps.setdefault(entry.step_key, []).append(entry.timestamp)
    runs = {job: stat.end_time - stat.start_time for job, stat in stats.items()}
    return {
        "process": process_seconds,
        "runs": runs,
        "steps": {step: max(t) - min(t) for step, t in steps.items()},
        # Python, the imports and the CLI before the first run, and the exit after the last.
        "outside_the_runs": process_seconds - sum(runs.values()),
    }


def _filter(job_name: str):
    from dagster import RunsFilter

    return RunsFilter(job_name=job_name)


def measure(site_kind: str, instance_kind: str, args, workdir: Path) -> dict:
    from benchmarks.data import generated_board
    from benchmarks.sync_benchmark import _database, _populate

    board = generated_board(args.rows)
    exports = workdir / f"exports-{site_kind}-{instance_kind}"
    exports.mkdir()
    (exports / f"{SLUG}.csv").write_bytes(board)
    home = str(workdir / f"home-{site_kind}-{instance_kind}")
    with (
        _database(site_kind, args.postgres_url, workdir) as url,
        _dagster_home(instance_kind, args.postgres_url, workdir) as dagster_env,
    ):
        _populate(url, home, board, args.users, slug=SLUG)
        env = {
            **os.environ,
            **dagster_env,
            "KAGGLE_LB_DATABASE_URL": url,
            "KAGGLE_LB_HOME": home,
            "DAGSTER_DISABLE_TELEMETRY": "1",
        }
        env.pop("KAGGLE_LB_SITE_SCHEMA", None)
        cli = [str(Path(sys.executable).parent / "kaggle-lb"), "sync", SLUG, "--source", str(exports)]
        per_row = [
            sys.executable,
            "-m",
            "benchmarks.per_row",
            "--database-url",
            url,
            "--home",
            home,
            "--slug",
            SLUG,
            "--board",
            str(exports / f"{SLUG}.csv"),
        ]
        product, baseline, breakdown = {"first": [], "again": []}, {"first": [], "again": []}, None
        for _ in range(args.repeat):
            _reset(url, home)
            product["first"].append(_timed(cli, env))
            breakdown = _where_the_seconds_go(dagster_env, product["first"][-1])
            product["again"].append(_timed(cli, env))
            _reset(url, home)
            baseline["first"].append(_timed(per_row, env))
            baseline["again"].append(_timed(per_row, env))
    median = {
        design: {k: statistics.median(v) for k, v in runs.items()}
        for design, runs in (("kaggle_lb", product), ("per_row", baseline))
    }
    return {
        "site_database": site_kind,
        "instance_storage": instance_kind,
        "rows": args.rows,
        "users": args.users,
        "runs": {"kaggle_lb": product, "per_row": baseline},
        "median": median,
        "ratio": {k: median["per_row"][k] / median["kaggle_lb"][k] for k in ("first", "again")},
        "breakdown_of_a_first_sync": breakdown,
    }


def print_results(results: list[dict]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title="One competition's whole sync, as a process (median)")
    for column in (
        "site db",
        "instance",
        "rows · users",
        "kaggle-lb first",
        "per-row first",
        "×",
        "kaggle-lb again",
        "per-row again",
        "×",
    ):
        table.add_column(column, justify="left" if column in ("site db", "instance") else "right")
    for r in results:
        m = r["median"]
        table.add_row(
            r["site_database"],
            r["instance_storage"],
            f"{r['rows']:,} · {r['users']:,}",
            f"{m['kaggle_lb']['first']:.2f} s",
            f"{m['per_row']['first']:.2f} s",
            f"{r['ratio']['first']:.1f}×",
            f"{m['kaggle_lb']['again']:.2f} s",
            f"{m['per_row']['again']:.2f} s",
            f"{r['ratio']['again']:.1f}×",
        )
    console = Console(width=160)
    console.print(table)
    for r in results:
        b = r["breakdown_of_a_first_sync"]
        parts = [f"outside the runs {b['outside_the_runs']:.2f} s"]
        parts += [f"{job} run {seconds:.2f} s" for job, seconds in b["runs"].items()]
        parts += [f"{step} {seconds:.2f} s" for step, seconds in b["steps"].items()]
        console.print(f"{r['site_database']}/{r['instance_storage']}: {b['process']:.2f} s = " + ", ".join(parts))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--users", type=int, default=200_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--sites", default="sqlite,postgresql")
    parser.add_argument("--instances", default="sqlite,postgresql")
    parser.add_argument(
        "--postgres-url",
        default=os.environ.get("KAGGLE_LB_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"),
    )
    parser.add_argument("--output", type=Path)
    args = parser.parse_args(argv)
    results = []
    with tempfile.TemporaryDirectory(prefix="kaggle-lb-whole-") as tmp:
        for site_kind in args.sites.split(","):
            for instance_kind in args.instances.split(","):
                work = Path(tmp) / f"{site_kind}-{instance_kind}"
                work.mkdir()
                results.append(measure(site_kind, instance_kind, args, work))
    print_results(results)
    output = args.output or RESULTS_DIR / f"whole-{datetime.now(UTC):%Y%m%dT%H%M%S}.json"
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps({"args": {k: str(v) for k, v in vars(args).items()}, "results": results}, indent=2))
    print(f"results: {output}")


if __name__ == "__main__":
    main()
