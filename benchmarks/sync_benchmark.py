"""Time and peak memory of one competition's sync, phase by phase, against the per-row baseline.

    python -m benchmarks.sync_benchmark            # every size, 10k and 1M users, SQLite and PostgreSQL
    python -m benchmarks.sync_benchmark --quick    # a smoke run: one tiny board, SQLite

Each (database, users, board) combination gets a fresh database, and is measured in a fresh
Python process so that memory figures are that process's own. Peak memory is the process's
resident-set high-water mark (VmHWM), reset before each phase through /proc/self/clear_refs;
the whole sync's figure is not reset, so it covers the process from its start (imports included).
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

RESULTS_DIR = Path(__file__).resolve().parent / "results"
DEFAULT_POSTGRES_URL = "postgresql://postgres@127.0.0.1:5432/test"
SIZES = [1_744, 15_739, 100_000]
USER_COUNTS = [10_000, 1_000_000]
PHASES = ["parse", "validate", "match", "write"]
COMPETITION = "bench"


# --- measuring (in the worker process) ---------------------------------------------------------


def _peak_rss_mb() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM in /proc/self/status")


def _reset_peak_rss() -> None:
    with open("/proc/self/clear_refs", "w") as clear_refs:
        clear_refs.write("5")


@contextmanager
def _measure(record: dict, name: str, reset_peak: bool = True):
    if reset_peak:
        _reset_peak_rss()
    started = time.perf_counter()
    yield
    record.setdefault(name, {"seconds": [], "peak_rss_mb": []})
    record[name]["seconds"].append(time.perf_counter() - started)
    record[name]["peak_rss_mb"].append(_peak_rss_mb())


def _worker(spec: dict) -> dict:
    """Measure one combination; the database already holds the users and the competition."""
    import pandas as pd
    from pandera.config import config_context
    from sqlalchemy import delete, select

    # The code location, loaded as a run's worker loads it: the process holds what a run's holds.
    import kaggle_lb.definitions  # noqa: F401
    from benchmarks import per_row
    from kaggle_lb.leaderboard.parsing import parse_leaderboard
    from kaggle_lb.leaderboard.schema import LeaderboardModel
    from kaggle_lb.resources.database import DatabaseResource
    from kaggle_lb.storage import registry, standings, user_keys

    content = Path(spec["board"]).read_bytes()
    database = DatabaseResource(url=spec["url"], home=spec["home"])
    tables, engine = database.tables, database.engine
    with database.begin() as conn:
        competition_id = registry.get_competition(conn, tables, COMPETITION).id
    entries = tables.entries

    def reset() -> None:
        with database.begin() as conn:
            conn.execute(delete(entries).where(entries.c.competition_id == competition_id))
            conn.execute(delete(tables.standings).where(tables.standings.c.competition_id == competition_id))

    def snapshot():
        """The site's entries, as both designs write them."""
        columns = [entries.c[name] for name in standings.ENTRY_COLUMNS]
        with database.begin() as conn:
            rows = conn.execute(select(*columns).where(entries.c.competition_id == competition_id)).all()
        frame = pd.DataFrame.from_records(rows, columns=standings.ENTRY_COLUMNS)
        return frame.sort_values("user_id").reset_index(drop=True)

    product: dict = {}
    baseline: dict[str, list[dict]] = {lookup: [] for lookup in per_row.LOOKUPS}
    counts = {}
    for repeat in range(spec["repeat"]):
        reset()
        # The whole sync as the assets run it: parse and validate, then read the board's users
        # through the key index, match, write, in one transaction, committed.
        with _measure(product, "whole", reset_peak=repeat > 0):
            board = parse_leaderboard(content, COMPETITION)
            with database.begin() as conn:
                result, users = user_keys.match_board(conn, tables, board)
                sync_counts = standings.write_standings(conn, tables, competition_id, result.entries)
        counts = {
            "board_rows": len(board),
            "users_read": len(users),
            **sync_counts.as_dict(),
            "skipped": result.skipped,
        }
        reset()
        with _measure(product, "parse"), config_context(validation_enabled=False):
            board = parse_leaderboard(content, COMPETITION)
        with _measure(product, "validate"):
            board = LeaderboardModel.validate(board, lazy=True)
        with _measure(product, "match"), database.begin() as conn:
            result, _ = user_keys.match_board(conn, tables, board)
        with _measure(product, "write"), database.begin() as conn:
            standings.write_standings(conn, tables, competition_id, result.entries)

        # What user_match_keys_schedule does once per tick for all competitions, here with no
        # user changed: the database compares the users with the index's copy, nothing is written.
        with _measure(product, "keys_refresh"), database.begin() as conn:
            user_keys.refresh(conn, tables)

        product_entries = snapshot()
        for lookup, runs in baseline.items():
            reset()
            runs.append(per_row.process(engine, tables, competition_id, content, lookup, spec["baseline_budget"]))
            if not runs[-1]["extrapolated"]:
                counts[f"same_entries_{lookup}"] = bool(snapshot().equals(product_entries))
    database.dispose()
    return {"product": product, "baseline": baseline, "counts": counts}


# --- setting up (in the main process) ----------------------------------------------------------


@contextmanager
def _database(kind: str, postgres_url: str, workdir: Path):
    """A fresh, empty database URL; dropped afterwards."""
    if kind == "sqlite":
        path = workdir / f"bench-{uuid.uuid4().hex[:8]}.sqlite3"
        try:
            yield f"sqlite:///{path}"
        finally:
            for suffix in ("", "-wal", "-shm"):
                Path(f"{path}{suffix}").unlink(missing_ok=True)
        return
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    from kaggle_lb.resources.database import resolve_database_url

    name = f"kaggle_lb_bench_{uuid.uuid4().hex[:12]}"
    admin = create_engine(resolve_database_url(postgres_url), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(postgres_url).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def _populate(url: str, home: str, board: bytes, user_count: int, slug: str = COMPETITION) -> float:
    """Register the competition and the users; returns the seconds the first key refresh took."""
    from benchmarks.data import users_for
    from kaggle_lb.resources.database import DatabaseResource
    from kaggle_lb.storage import registry, user_keys

    database = DatabaseResource(url=url, home=home)
    database.initialise()
    with database.begin() as conn:
        registry.add_competition(conn, database.tables, slug)
        registry.import_users(conn, database.tables, users_for(board, user_count))
    started = time.perf_counter()
    with database.begin() as conn:
        user_keys.refresh(conn, database.tables)
    seconds = time.perf_counter() - started
    database.dispose()
    return seconds


def run_combination(kind: str, rows: int, user_count: int, args, workdir: Path) -> dict:
    from benchmarks.data import board_bytes

    board = board_bytes(rows)
    board_path = workdir / f"board-{rows}.csv"
    board_path.write_bytes(board)
    with _database(kind, args.postgres_url, workdir) as url:
        keys_build = _populate(url, str(workdir / "home"), board, user_count)
        spec = {
            "url": url,
            "home": str(workdir / "home"),
            "board": str(board_path),
            "repeat": args.repeat,
            "baseline_budget": args.baseline_budget,
        }
        done = subprocess.run(
            [sys.executable, "-m", "benchmarks.sync_benchmark", "--worker", json.dumps(spec)],
            capture_output=True,
            text=True,
            check=False,
            cwd=Path(__file__).resolve().parents[1],
        )
    if done.returncode != 0:
        raise RuntimeError(f"benchmark worker failed for {kind}/{rows}/{user_count}:\n{done.stderr}")
    measured = json.loads(done.stdout.strip().splitlines()[-1])
    return {
        "database": kind,
        "board_rows": rows,
        "users": user_count,
        "keys_build_seconds": keys_build,
        **_summarise(measured),
    }


def _summarise(measured: dict) -> dict:
    """Medians of the repeats; peaks are the largest seen."""
    product = {
        name: {"seconds": statistics.median(m["seconds"]), "peak_rss_mb": max(m["peak_rss_mb"]), "runs": m["seconds"]}
        for name, m in measured["product"].items()
    }
    baselines = {
        lookup: {
            "seconds": statistics.median(run["seconds"] for run in runs),
            "runs": [run["seconds"] for run in runs],
            "read_seconds": statistics.median(run["read_seconds"] for run in runs),
            "extrapolated": any(run["extrapolated"] for run in runs),
            "rows_processed": min(run["rows_processed"] for run in runs),
            "queries": max(run["queries"] for run in runs),
        }
        for lookup, runs in measured["baseline"].items()
    }
    return {
        "product": product,
        "per_row_baseline": baselines,
        "speedup": {lookup: b["seconds"] / product["whole"]["seconds"] for lookup, b in baselines.items()},
        "counts": measured["counts"],
    }


# --- reporting ---------------------------------------------------------------------------------


def print_table(results: list[dict], repeat: int) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(
        title=f"One competition's sync: median of {repeat} run(s); time · peak RSS (VmHWM)",
        caption="parse→commit = parse, validate, read the board's users through the key index, match, write, "
        "commit. Per-row = the old task's design (rows taken one by one from pandas) on the same database and "
        "data, looking each name up through "
        "the same index, or scanning the users table as the old schema must (* = extrapolated from the rows "
        "shown). Keys: the first build of the index, then the refresh every tick makes (once for all boards).",
    )
    for column in [
        "db",
        "users",
        "board rows",
        "matched",
        *PHASES,
        "parse→commit",
        "per-row (index)",
        "speed-up",
        "per-row (scan)",
        "speed-up",
        "keys: build · refresh",
    ]:
        table.add_column(column, justify="left" if column == "db" else "right")
    for r in results:
        p, c = r["product"], r["counts"]

        def cell(name: str, p=p) -> str:
            return f"{p[name]['seconds']:.3f} s · {p[name]['peak_rss_mb']:.0f} MB"

        def base(lookup: str, r=r) -> list[str]:
            b = r["per_row_baseline"][lookup]
            text = f"{b['seconds']:.2f} s" + (f" *{b['rows_processed']:,} rows" if b["extrapolated"] else "")
            return [text, f"{r['speedup'][lookup]:,.0f}×"]

        keys = f"{r['keys_build_seconds']:.2f} s · {p['keys_refresh']['seconds']:.2f} s"
        table.add_row(
            r["database"],
            f"{r['users']:,}",
            f"{r['board_rows']:,}",
            f"{c['created']:,}",
            *(cell(name) for name in PHASES),
            cell("whole"),
            *base("index"),
            *base("scan"),
            keys,
        )
    Console(width=260).print(table)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="smoke run: a 200-row board, 1,000 users, SQLite, once")
    parser.add_argument("--sizes", help=f"board rows, comma-separated (default {','.join(map(str, SIZES))})")
    parser.add_argument("--users", help=f"platform users, comma-separated (default {','.join(map(str, USER_COUNTS))})")
    parser.add_argument("--databases", default="sqlite,postgresql", help="sqlite,postgresql (default both)")
    parser.add_argument("--repeat", type=int, default=3, help="runs per combination; the median is shown")
    parser.add_argument(
        "--baseline-budget",
        type=float,
        default=10.0,
        help="seconds each per-row baseline may run per combination before it is extrapolated",
    )
    parser.add_argument(
        "--postgres-url",
        default=os.environ.get("KAGGLE_LB_TEST_POSTGRES_URL", DEFAULT_POSTGRES_URL),
        help="a PostgreSQL database to create the benchmark databases from",
    )
    parser.add_argument("--output", type=Path, help="JSON file (default benchmarks/results/sync-<time>.json)")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.quick:
        args.sizes, args.users, args.repeat = args.sizes or "200", args.users or "1000", 1
        args.databases = "sqlite" if args.databases == parser.get_default("databases") else args.databases
    args.sizes = [int(s) for s in (args.sizes or ",".join(map(str, SIZES))).split(",")]
    args.users = [int(s) for s in (args.users or ",".join(map(str, USER_COUNTS))).split(",")]
    args.databases = args.databases.split(",")
    return args


def main(argv: list[str] | None = None) -> dict:
    args = parse_args(argv)
    if args.worker:
        print(json.dumps(_worker(json.loads(args.worker))))
        return {}
    results = []
    with tempfile.TemporaryDirectory(prefix="kaggle-lb-bench-") as workdir:
        for kind in args.databases:
            for user_count in args.users:
                for rows in args.sizes:
                    print(f"{kind}: {rows:,} rows against {user_count:,} users ...", file=sys.stderr, flush=True)
                    results.append(run_combination(kind, rows, user_count, args, Path(workdir)))
    report = {
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {"cpus": os.cpu_count(), "python": sys.version.split()[0]},
        "repeat": args.repeat,
        "memory": "process resident-set high-water mark (VmHWM), reset per phase via /proc/self/clear_refs; "
        "'whole' is not reset and covers the worker process from its start",
        "results": results,
    }
    output = args.output or RESULTS_DIR / f"sync-{datetime.now():%Y%m%d-%H%M%S}.json"
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(report, indent=2))
    print_table(results, args.repeat)
    print(f"JSON: {output}", file=sys.stderr)
    report["output"] = str(output)
    return report


if __name__ == "__main__":
    main()
