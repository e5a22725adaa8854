"""How many competitions one machine keeps fresh per 5 minutes, through the real Dagster daemon.

    python -m benchmarks.daemon_capacity [--competitions 100 300 1000] [--users 10000] [--window 300]

For each N it starts afresh: PostgreSQL databases for the Dagster instance (deploy/dagster.yaml:
at most 4 runs at once, one per competition, the kaggle_api pool) and for the site, the real
`dagster-webserver` and `dagster-daemon run` (schedules stopped, so that only the rounds below
run; the sensors run as in production), the real kaggle client against the fake Kaggle server
(in this process), N competitions with boards of realistic sizes (half of them 100 teams, 30%
500, 15% 1,744, 5% 15,739; cut from the real Titanic export, so the names are Kaggle's) and
`--users` site users. Then, measured one after the other:

- "batched, first sync": the schedule's requests (leaderboard_batch_job runs, batch_run_requests)
  when every board is new: every competition gets its own sync run inside its batch;
- "batched, tick": the same requests again after 10% of the boards changed on Kaggle: the 90%
  unchanged are confirmed and observed without a run, the 10% are synced; afterwards (outside
  the measure) a sample of 10 changed and 10 unchanged competitions is read through the
  webserver's GraphQL, as the UI shows them: each changed partition materialized by its own sync
  run, each unchanged one observed by its batch, every check Passed on each;
- "per competition, tick": the previous path on the same state, 10% changed again: one
  leaderboard_sync_job run per competition launched through the queue, each in a new process.
  A round still going after --window seconds is stopped (its queued runs canceled) and counted
  by what it finished within the window.

Each round reports its wall time (first launch to last run's end), how many competitions it kept
fresh, competitions per 5 minutes (fresh ÷ wall × 300), and kaggle-lb's CPU per competition:
the machine's busy time (/proc/stat: the daemon, the webserver, the code servers, every run
process, PostgreSQL) less this process's own (the fake Kaggle server and the polling here).
"""

import argparse
import csv
import io
import json
import os
import random
import resource
import statistics
import sys
import tempfile
import time
from contextlib import ExitStack
from datetime import UTC, datetime
from pathlib import Path

from benchmarks.data import TITANIC, board_bytes, users_for
from benchmarks.sync_benchmark import RESULTS_DIR

REPO_ROOT = Path(__file__).resolve().parents[1]
WINDOW_SECONDS = 300
# (rows, share of the competitions): a class competition is small, a featured one large.
SIZES = [(100, 0.5), (500, 0.3), (1_744, 0.15), (15_739, 0.05)]
CHANGED_SHARE = 0.1
BATCH_JOB = "leaderboard_batch_job"
SYNC_JOB = "leaderboard_sync_job"
DONE = {"SUCCESS", "FAILURE", "CANCELED"}

LAUNCH = """
mutation($params: [ExecutionParams!]!) { launchMultipleRuns(executionParamsList: $params) {
  __typename
  ... on LaunchMultipleRunsResult { launchMultipleRunsResult {
    __typename ... on LaunchRunSuccess { run { runId } } ... on PythonError { message } ... on Error { message }
  } }
  ... on PythonError { message }
} }
"""
TERMINATE = """
mutation($runIds: [String!]!) { terminateRuns(runIds: $runIds) { __typename } }
"""
SCHEDULES = """
query($selector: RepositorySelector!) { schedulesOrError(repositorySelector: $selector) {
  ... on Schedules { results { name scheduleState { id status } } } } }
"""
LOCATIONS = """
{ workspaceOrError { ... on Workspace { locationEntries { name loadStatus
    locationOrLoadError { __typename ... on RepositoryLocation { repositories { name } } }
} } } }
"""
STOP_SCHEDULE = """
mutation($id: String!) { stopRunningSchedule(id: $id) { __typename } }
"""
PARTITION_EVENTS = """
query($path: [String!]!, $partitions: [String!]!, $after: String) { assetOrError(assetKey: {path: $path}) {
  ... on Asset {
    assetMaterializations(partitions: $partitions, afterTimestampMillis: $after) { partition runId }
    assetObservations(partitions: $partitions, afterTimestampMillis: $after) { partition runId }
} } }
"""
# The assets a sync materializes on its competition's partition; the first is what a poll observes.
SYNCED_ASSETS = ["raw_leaderboard_csv", "validated_leaderboard", "matched_entries"]
SAMPLE = 10


def _restore(saved: dict[str, str | None]) -> None:
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


def _machine_cpu_seconds() -> float:
    """Busy CPU time of the whole machine (every process), from /proc/stat."""
    fields = [int(value) for value in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = fields[3] + fields[4]  # idle + iowait
    return (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK")


def _own_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _kaggle_lb_cpu() -> float:
    return _machine_cpu_seconds() - _own_cpu_seconds()


def _sizes(count: int, seed: int = 3) -> list[int]:
    rng = random.Random(seed)
    rows, weights = zip(*SIZES)
    return rng.choices(rows, weights=weights, k=count)


def _board(rows: int, seed: int) -> bytes:
    """`rows` consecutive teams of the real Titanic export (its names are Kaggle's), from a place
    that depends on `seed` so that competitions differ, ranked anew with scores that fall in steps
    of 0.0001 (neighbours often tie), as a class competition's board."""
    header, *records = list(csv.reader(io.StringIO(TITANIC.read_text(encoding="utf-8-sig"))))
    start = (seed * 997) % (len(records) - rows + 1)
    rank, score = header.index("Rank"), header.index("Score")
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(header)
    for place, record in enumerate(records[start : start + rows], start=1):
        record[rank], record[score] = str(place), f"{1 - place * 0.9 / rows:.4f}"
        writer.writerow(record)
    return out.getvalue().encode()


def _changed(board: bytes, tick: int) -> bytes:
    """The board after a submission: its last team's score goes down a little (it stays last)."""
    rows = list(csv.reader(io.StringIO(board.decode())))
    score = rows[0].index("Score")
    rows[-1][score] = f"{float(rows[-1][score]) - tick * 1e-6:.6f}"
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows(rows)
    return out.getvalue().encode()


class Deployment:
    """Fresh databases, the fake Kaggle, and the webserver and daemon, for N competitions."""

    def __init__(self, stack: ExitStack, work: Path, count: int, users: int):
        from dagster import DagsterInstance

        from kaggle_lb.partitions import COMPETITIONS
        from kaggle_lb_tests.e2e.production import (
            GraphQL,
            deployment_env,
            free_port,
            registered_site,
            wait_for,
            webserver_and_daemon,
        )

        self.slugs = [f"bench-{i:04d}" for i in range(count)]
        boards = {slug: _board(rows, seed=i) for i, (slug, rows) in enumerate(zip(self.slugs, _sizes(count)))}
        deployed = registered_site(stack, work, boards, {}, users_for(board_bytes(15_739), users))
        self.kaggle, self.boards = deployed.fake_kaggle, deployed.boards

        home = work / "dagster_home"
        home.mkdir()
        (home / "dagster.yaml").write_text((REPO_ROOT / "deploy" / "dagster.yaml").read_text())
        env = deployment_env(
            deployed,
            home,
            work,
            DAGSTER_DISABLE_TELEMETRY="1",
            # Capacity, not Kaggle's pace, is measured: the pace's own limit is in the README.
            KAGGLE_LB_KAGGLE_REQUESTS_PER_MINUTE="1000000",
        )
        # This process reads the same instance (DagsterInstance.get()) until the deployment ends.
        saved = {key: os.environ.get(key) for key in env if key.startswith("DAGSTER_")}
        stack.callback(_restore, saved)
        os.environ.update({key: env[key] for key in saved})
        # The partitions exist before the daemon starts: its sensor finds nothing to sync.
        with DagsterInstance.get() as instance:
            instance.add_dynamic_partitions(COMPETITIONS, self.slugs)

        port = free_port()
        self.processes = webserver_and_daemon(env, work, port)
        stack.callback(lambda: [process.kill() for process in self.processes])
        self.api = GraphQL(f"http://127.0.0.1:{port}")
        wait_for("the webserver", self.api.up, timeout=180, diagnose=self.processes[0].log_tail)
        self.repo = wait_for("the code location", self._location, timeout=180, diagnose=self.processes[0].log_tail)
        self._stop_schedules()
        time.sleep(10)  # let the daemon settle: its start-up is not a round's cost

    def _location(self) -> dict | None:
        entries = self.api(LOCATIONS)["workspaceOrError"].get("locationEntries", [])
        for entry in entries:
            loaded = entry["locationOrLoadError"]
            if entry["loadStatus"] == "LOADED" and loaded and loaded["__typename"] == "RepositoryLocation":
                return {"repositoryLocationName": entry["name"], "repositoryName": loaded["repositories"][0]["name"]}
        return None

    def _stop_schedules(self) -> None:
        found = self.api(SCHEDULES, selector=self.repo)["schedulesOrError"]["results"]
        for schedule in found:
            if schedule["scheduleState"]["status"] == "RUNNING":
                self.api(STOP_SCHEDULE, id=schedule["scheduleState"]["id"])

    def change_boards(self, tick: int) -> list[str]:
        changed = random.Random(tick).sample(self.slugs, max(1, round(len(self.slugs) * CHANGED_SHARE)))
        for slug in changed:
            self.boards[slug] = _changed(self.boards[slug], tick)
            self.kaggle.set_board(slug, self.boards[slug])
        return changed

    def launch(self, job: str, requests: list[tuple[dict, dict]]) -> list[str]:
        """Launch (tags, run config) requests of `job`, as the UI's "Launch all" does."""
        run_ids: list[str] = []
        for start in range(0, len(requests), 100):
            params = [
                {
                    "selector": {**self.repo, "jobName": job},
                    "runConfigData": json.dumps(config),
                    "executionMetadata": {"tags": [{"key": k, "value": v} for k, v in tags.items()]},
                }
                for tags, config in requests[start : start + 100]
            ]
            result = self.api(LAUNCH, params=params)["launchMultipleRuns"]
            for launched in result["launchMultipleRunsResult"]:
                if launched["__typename"] != "LaunchRunSuccess":
                    sys.exit(f"launch failed: {launched}")
                run_ids.append(launched["run"]["runId"])
        return run_ids


def _failure(instance, run_id: str) -> str:
    from dagster import DagsterEventType

    events = instance.all_logs(run_id, of_type={DagsterEventType.STEP_FAILURE, DagsterEventType.RUN_FAILURE})
    return "\n".join(
        event.dagster_event.step_failure_data.error.to_string()
        if event.dagster_event and event.dagster_event.is_step_failure and event.dagster_event.step_failure_data.error
        else event.message or ""
        for event in events
    )


def _round(
    deployment: Deployment, job: str, requests: list[tuple[dict, dict]], window: float | None
) -> tuple[dict, list[str]]:
    """The round's figures, and the runs it launched."""
    from dagster import DagsterInstance, DagsterRunStatus, RunsFilter

    cpu, started = _kaggle_lb_cpu(), time.time()
    run_ids = deployment.launch(job, requests)
    stopped = False
    with DagsterInstance.get() as instance:
        while True:
            records = instance.get_run_records(RunsFilter(run_ids=run_ids))
            if len(records) == len(run_ids) and all(r.dagster_run.status.value in DONE for r in records):
                break
            if window is not None and time.time() - started > window and not stopped:
                queued = [r.dagster_run.run_id for r in records if r.dagster_run.status == DagsterRunStatus.QUEUED]
                if queued:
                    deployment.api(TERMINATE, runIds=queued)
                stopped = True
            time.sleep(2)
        cpu = _kaggle_lb_cpu() - cpu
        finished = [r for r in records if r.dagster_run.status == DagsterRunStatus.SUCCESS]
        failed = [r for r in records if r.dagster_run.status == DagsterRunStatus.FAILURE]
        if failed:
            sys.exit(f"{len(failed)} run(s) failed, e.g.:\n{_failure(instance, failed[0].dagster_run.run_id)}")
        if job == BATCH_JOB:
            children = instance.get_run_records(RunsFilter(job_name=SYNC_JOB, tags={"kaggle_lb/batch": run_ids}))
            broken = [r for r in children if r.dagster_run.status != DagsterRunStatus.SUCCESS]
            if broken:
                run_id = broken[0].dagster_run.run_id
                sys.exit(f"{len(broken)} sync run(s) failed, e.g.:\n{_failure(instance, run_id)}")
        child_runs = len(children) if job == BATCH_JOB else len(finished)
    ended = max((r.end_time or started) for r in finished) if finished else time.time()
    wall = ended - started
    if job == BATCH_JOB:
        fresh = sum(len(config["ops"]["poll_leaderboards"]["config"]["competitions"]) for _, config in requests)
    else:
        fresh = len(finished)
    figures = {
        "runs_launched": len(run_ids),
        "sync_runs": child_runs,
        "competitions_fresh": fresh,
        "stopped_at_window": stopped,
        "wall_seconds": round(wall, 1),
        "cpu_seconds": round(cpu, 1),
        "cpu_seconds_per_competition": round(cpu / fresh, 3) if fresh else None,
        "competitions_per_5_minutes": int(WINDOW_SECONDS * fresh / wall) if wall > 0 else None,
    }
    return figures, run_ids


def _ui_sample(deployment: Deployment, changed: list[str], batch_run_ids: list[str], since: float) -> dict:
    """What the UI shows for a sample of a batched tick's competitions, read through GraphQL after
    the tick: each changed board materialized on its own partition by its own sync run inside one
    of the tick's batches, each unchanged board observed (not materialized) on its own partition by
    its batch, and every check of each sampled partition Passed. Exits naming what differs."""
    from dagster import DagsterInstance

    from kaggle_lb.run_tags import BATCH_TAG
    from kaggle_lb_tests.e2e.production import check_statuses, wait_for

    rng = random.Random(0)
    unchanged = sorted(set(deployment.slugs) - set(changed))
    sample_changed = sorted(rng.sample(changed, min(SAMPLE, len(changed))))
    sample_unchanged = sorted(rng.sample(unchanged, min(SAMPLE, len(unchanged))))
    sample = sample_changed + sample_unchanged
    after = str(int(since * 1000))
    events = {
        asset: deployment.api(PARTITION_EVENTS, path=[asset], partitions=sample, after=after)["assetOrError"]
        for asset in SYNCED_ASSETS
    }
    problems = []
    with DagsterInstance.get() as instance:
        for asset, found in events.items():
            materialized: dict[str, list[str]] = {}
            for event in found["assetMaterializations"]:
                materialized.setdefault(event["partition"], []).append(event["runId"])
            for slug in sample_changed:
                runs = [instance.get_run_by_id(run_id) for run_id in materialized.get(slug, [])]
                tags = [run.tags if run else {} for run in runs]
                if (
                    len(tags) != 1
                    or tags[0].get("dagster/partition") != slug
                    or tags[0].get(BATCH_TAG) not in batch_run_ids
                ):
                    problems.append(f"{asset}[{slug}] (changed): materialized by {tags}, not once by its sync run")
            for slug in sample_unchanged:
                if slug in materialized:
                    problems.append(f"{asset}[{slug}] (unchanged): materialized by {materialized[slug]}")
    observed: dict[str, list[str]] = {}
    for event in events[SYNCED_ASSETS[0]]["assetObservations"]:
        observed.setdefault(event["partition"], []).append(event["runId"])
    for slug in sample_unchanged:
        if len(observed.get(slug, [])) != 1 or observed[slug][0] not in batch_run_ids:
            problems.append(
                f"{SYNCED_ASSETS[0]}[{slug}] (unchanged): observed by {observed.get(slug)}, not once by its batch"
            )

    def all_passed() -> dict | None:
        # The webserver computes the partitions' check states as it is asked, from the event log.
        statuses = check_statuses(deployment.api)
        passed = all(
            set(sample) <= set(states["succeededPartitions"])
            and not set(sample) & set(states["failedPartitions"] + states["skippedPartitions"])
            for states in statuses.values()
        )
        return statuses if statuses and passed else None

    if problems:
        sys.exit("the UI does not show the tick as it ran:\n" + "\n".join(problems))
    statuses = wait_for(
        f"every check of {sample} to show Passed", all_passed, 120, diagnose=lambda: str(check_statuses(deployment.api))
    )
    return {"changed": len(sample_changed), "unchanged": len(sample_unchanged), "checks": len(statuses)}


def measure(count: int, users: int, window: float) -> dict:
    from kaggle_lb.ops.leaderboard_batch import leaderboard_batch_requests
    from kaggle_lb.run_tags import SCHEDULED, TRIGGER_TAG
    from kaggle_lb_tests.e2e.production import killed_on_sigterm

    rounds = {}
    with tempfile.TemporaryDirectory(prefix="kaggle-lb-capacity-") as workdir, ExitStack() as stack:
        stack.enter_context(killed_on_sigterm())
        deployment = Deployment(stack, Path(workdir), count, users)

        def batched() -> list[tuple[dict, dict]]:
            tick = datetime.now(UTC).isoformat()
            return [
                (request.tags, request.run_config)
                for request in leaderboard_batch_requests(deployment.slugs, tick, {TRIGGER_TAG: SCHEDULED})
            ]

        per_competition = [({"dagster/partition": slug, TRIGGER_TAG: SCHEDULED}, {}) for slug in deployment.slugs]
        rounds["batched, first sync"], _ = _round(deployment, BATCH_JOB, batched(), None)
        changed, since = deployment.change_boards(1), time.time()
        rounds["batched, tick"], batch_run_ids = _round(deployment, BATCH_JOB, batched(), None)
        rounds["batched, tick"]["ui_sample"] = _ui_sample(deployment, changed, batch_run_ids, since)
        deployment.change_boards(2)
        rounds["per competition, tick"], _ = _round(deployment, SYNC_JOB, per_competition, window)
    return rounds


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--competitions", type=int, nargs="+", default=[100, 300, 1000])
    parser.add_argument("--users", type=int, default=10_000)
    parser.add_argument("--window", type=float, default=WINDOW_SECONDS, help="seconds a per-competition round may run")
    parser.add_argument("--output", type=Path, default=RESULTS_DIR / "daemon_capacity.json", help="JSON file")
    args = parser.parse_args(argv)
    if "KAGGLE_LB_TEST_POSTGRES_URL" not in os.environ:
        sys.exit("set KAGGLE_LB_TEST_POSTGRES_URL to a PostgreSQL database the benchmark may create databases from")
    os.environ.setdefault("KAGGLE_API_ENVIRONMENT", "LOCALHOST")

    report: dict = {"users": args.users, "cores": os.cpu_count(), "batch_size": None, "by_competitions": {}}
    from kaggle_lb.ops.batches import batch_size

    report["batch_size"] = batch_size()
    for count in args.competitions:
        rounds = measure(count, args.users, args.window)
        report["by_competitions"][count] = rounds
        for name, r in rounds.items():
            print(
                f"N={count:5} {name:22} {r['competitions_fresh']:5} fresh in {r['wall_seconds']:7.1f} s"
                f"{' (stopped)' if r['stopped_at_window'] else '':10} · {r['runs_launched']:4} runs launched, "
                f"{r['sync_runs']:4} sync runs · CPU {r['cpu_seconds_per_competition']} s per competition · "
                f"{r['competitions_per_5_minutes']} competitions per 5 minutes",
                flush=True,
            )
        args.output.parent.mkdir(parents=True, exist_ok=True)
        args.output.write_text(json.dumps(report, indent=2))
    medians = {
        name: statistics.median(r[name]["cpu_seconds_per_competition"] or 0 for r in report["by_competitions"].values())
        for name in next(iter(report["by_competitions"].values()))
    }
    report["median_cpu_seconds_per_competition"] = medians
    args.output.write_text(json.dumps(report, indent=2))
    return report


if __name__ == "__main__":
    main()
