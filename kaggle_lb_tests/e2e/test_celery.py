"""Scale-out, end to end: deploy/celery/dagster.yaml on PostgreSQL, Debian's redis-server with a
password, two Celery workers started as deploy/systemd/kaggle-lb-celery-worker@.service starts
them, the real `dagster-webserver` and `dagster-daemon run`, the real kaggle client against the
fake Kaggle server, and four competitions synced the way production syncs them: the sensor's first
syncs, then the schedule's tick launched through the webserver's API. Every step runs on a worker.

Needs KAGGLE_LB_TEST_POSTGRES_URL (CI sets it) and redis-server (`apt-get install -y redis-server`).
"""

import re
import secrets
import shutil
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

import pytest
import redis
from dagster import AssetKey, DagsterEventType, DagsterInstance, DagsterRunStatus, RunsFilter
from sqlalchemy import create_engine, text
from sqlalchemy.engine import URL

from kaggle_lb.resources.database import DatabaseResource
from kaggle_lb.run_tags import BATCH_TAG
from kaggle_lb.storage import registry, standings
from kaggle_lb_tests.e2e.production import (
    REPO_ROOT,
    VENV_BIN,
    GraphQL,
    Process,
    dagster_pg_env,
    deployment_env,
    expected_standings,
    free_port,
    killed_on_sigterm,
    registered_site,
    wait_for,
    webserver_and_daemon,
)
from kaggle_lb_tests.fake_kaggle import FakeKaggleServer
from kaggle_lb_tests.fixtures import fixture_path

pytestmark = pytest.mark.e2e

DEPLOY = REPO_ROOT / "deploy"
WORKER_UNIT = DEPLOY / "systemd" / "kaggle-lb-celery-worker@.service"
WORKERS = ("kaggle-lb-w1", "kaggle-lb-w2")
ASSETS = ["raw_leaderboard_csv", "validated_leaderboard", "matched_entries"]
SCHEDULE = "leaderboard_sync_schedule"
SENSOR = "competition_partitions_sensor"
BOARDS = {
    "titanic": "titanic-publicleaderboard-2025-06.csv",
    "orbit-wars": "orbit-wars-publicleaderboard-2026-05-05T15_36_33.csv",
    "house-prices-advanced-regression-techniques": (
        "house-prices-advanced-regression-techniques-publicleaderboard-2025-07-07T16_40_20.csv"
    ),
    "fcen-dm-2026-prediccion-precio-de-propiedades": (
        "fcen-dm-2026-prediccion-precio-de-propiedades-privateleaderboard-2026-04-29T223756.csv"
    ),
}
# (site username, Kaggle username or None when it is the same): players on each board, both
# members of a team, and someone on no board.
USERS = [
    ("enock", "enockkatui"),
    ("chuyian", None),
    ("yu", "YU0216"),
    ("bowwowforeach", None),
    ("shun", "shunrcn"),
    ("serkan", "serkanp"),
    ("xueruixu", None),
    ("ludmila", "LudmilaVergini"),
    ("nicobaranek", None),
    ("nobody", "not-on-any-board"),
]
# Between the first syncs and the schedule's tick, Kaggle's boards change: a team leaves each.
LEAVING = {"titanic": "enockkatui", "orbit-wars": "shunrcn"}
TERMINAL = {DagsterRunStatus.SUCCESS, DagsterRunStatus.FAILURE, DagsterRunStatus.CANCELED}


@dataclass
class Cluster:
    api: GraphQL
    repo: dict
    instance: DagsterInstance
    site: DatabaseResource
    fake_kaggle: FakeKaggleServer
    dagster_db: URL
    boards: dict[str, bytes]
    workers: list[Process]
    processes: list[Process]
    redis_password: str
    shared: Path
    lb_home: Path
    directories: list[Path]

    def logs(self) -> str:
        return "\n".join(process.log_tail() for process in self.processes)


def redis_server() -> str:
    """Debian's redis-server; missing, the test fails (never skips) saying what to install."""
    found = shutil.which("redis-server") or shutil.which("redis-server", path="/usr/sbin:/usr/bin")
    if not found:
        pytest.fail("redis-server is missing: install Debian's with `apt-get install -y redis-server` (.ci/run does)")
    return found


def worker_command(name: str) -> list[str]:
    """The worker unit's ExecStart for instance `name`, from this environment's bin directory."""
    exec_start = re.search(r"^ExecStart=(.*)$", WORKER_UNIT.read_text(), re.MULTILINE).group(1)
    program, *args = exec_start.replace("%i", name).replace("%%", "%").split()
    assert program == "/opt/kaggle-lb/.venv/bin/celery", exec_start
    # One pool process each: two workers on a shared 2-core machine.
    return [str(VENV_BIN / "celery"), *args, "--concurrency", "1"]


@pytest.fixture
def cluster(postgres_url, tmp_path, monkeypatch) -> Iterator[Cluster]:
    """Redis, two workers, the webserver and the daemon as processes, on fresh databases; every
    process group is SIGKILLed and every database dropped afterwards, on failure too."""
    redis_binary = redis_server()
    with ExitStack() as stack:
        boards = {slug: fixture_path(name).read_bytes() for slug, name in BOARDS.items()}
        deployed = registered_site(stack, tmp_path, boards, {slug: slug.title() for slug in BOARDS}, USERS)
        dagster_db, site, fake_kaggle, lb_home = (
            deployed.dagster_db,
            deployed.site,
            deployed.fake_kaggle,
            deployed.lb_home,
        )

        # The daemon's machine holds the instance's dagster.yaml; the workers' DAGSTER_HOME is
        # empty, as on a machine of their own: each step brings the instance's configuration.
        dagster_home, worker_home, shared = tmp_path / "dagster_home", tmp_path / "worker_home", tmp_path / "shared"
        for directory in (dagster_home, worker_home, shared):
            directory.mkdir()
        shutil.copy(DEPLOY / "celery" / "dagster.yaml", dagster_home / "dagster.yaml")
        home = tmp_path / "home"  # no ~/.kaggle of the machine's may leak in
        home.mkdir()

        redis_port, password = free_port(), secrets.token_hex(16)
        redis_url = f"redis://:{password}@127.0.0.1:{redis_port}"
        env = deployment_env(
            deployed,
            dagster_home,
            home,
            DAGSTER_SHARED_DIR=str(shared),
            KAGGLE_LB_EXECUTOR="celery",
            # Two batches a tick, so that two polls can run at once, one on each worker.
            KAGGLE_LB_BATCH_SIZE=str(len(BOARDS) // 2),
            # Separate databases of one Redis, as beside a site's own Celery.
            CELERY_BROKER_URL=f"{redis_url}/3",
            CELERY_RESULT_BACKEND=f"{redis_url}/4",
        )
        processes: list[Process] = []
        stack.enter_context(killed_on_sigterm())
        stack.callback(lambda: [process.kill() for process in reversed(processes)])
        processes.append(
            Process(
                "redis",
                [redis_binary, "--port", str(redis_port), "--bind", "127.0.0.1", "--requirepass", password]
                + ["--save", "", "--appendonly", "no", "--dir", str(tmp_path)],
                env,
                tmp_path,
            )
        )
        broker = redis.Redis.from_url(env["CELERY_BROKER_URL"], socket_timeout=5)
        stack.callback(broker.close)

        def redis_up() -> bool:
            try:
                return bool(broker.ping())
            except redis.ConnectionError:
                return False

        wait_for("redis-server", redis_up, timeout=30, interval=0.2, diagnose=lambda: processes[0].log_tail())
        workers = [
            Process(name, worker_command(name), {**env, "DAGSTER_HOME": str(worker_home)}, tmp_path) for name in WORKERS
        ]
        processes.extend(workers)
        for worker in workers:
            wait_for(
                f"Celery worker {worker.name}",
                lambda worker=worker: re.search(
                    rf"{worker.name}@\S+ ready\.", worker.log_path.read_text(errors="replace")
                ),
                timeout=120,
                interval=0.5,
                diagnose=worker.log_tail,
            )
        port = free_port()
        processes.extend(webserver_and_daemon(env, tmp_path, port))
        api = GraphQL(f"http://127.0.0.1:{port}")
        stack.callback(api.close)
        wait_for("the webserver", api.up, timeout=90, diagnose=lambda: "\n".join(p.log_tail() for p in processes))
        repo = wait_for(
            "the code location to load", lambda: location(api), timeout=90, diagnose=lambda: processes[-1].log_tail()
        )
        # This process reads the same instance, for the runs' events (once the webserver has
        # created its tables).
        for name in ("DAGSTER_HOME", "DAGSTER_SHARED_DIR", *dagster_pg_env(dagster_db)):
            monkeypatch.setenv(name, env[name])
        instance = stack.enter_context(DagsterInstance.get())
        yield Cluster(
            api,
            repo,
            instance,
            site,
            fake_kaggle,
            dagster_db,
            boards,
            workers,
            processes,
            password,
            shared,
            lb_home,
            [dagster_home, worker_home, shared, lb_home],
        )


# --- GraphQL: the schedule's tick and the runs it asks for, as the UI launches them -------------

LOCATIONS = """
{ workspaceOrError { ... on Workspace { locationEntries {
    name loadStatus
    locationOrLoadError {
      __typename ... on RepositoryLocation { repositories { name } } ... on PythonError { message }
    }
} } } }
"""
SCHEDULE_DRY_RUN = """
mutation($selector: ScheduleSelector!, $timestamp: Float!) {
  scheduleDryRun(selectorData: $selector, timestamp: $timestamp) {
    __typename
    ... on DryRunInstigationTick { evaluationResult {
        skipReason error { message } runRequests { jobName tags { key value } runConfigYaml }
    } }
    ... on PythonError { message }
  }
}
"""
LAUNCH_MULTIPLE = """
mutation($params: [ExecutionParams!]!) {
  launchMultipleRuns(executionParamsList: $params) {
    __typename
    ... on LaunchMultipleRunsResult { launchMultipleRunsResult {
        __typename ... on LaunchRunSuccess { run { runId } } ... on Error { message } ... on PythonError { message }
    } }
    ... on PythonError { message }
  }
}
"""


def location(api: GraphQL) -> dict | None:
    """{location, repository} once the code location has loaded; fails at once on a load error."""
    for entry in api(LOCATIONS)["workspaceOrError"].get("locationEntries", []):
        loaded = entry["locationOrLoadError"]
        if loaded and loaded["__typename"] == "PythonError":
            raise AssertionError(f"code location {entry['name']} failed to load: {loaded['message']}")
        if entry["loadStatus"] == "LOADED" and loaded:
            return {"repositoryLocationName": entry["name"], "repositoryName": loaded["repositories"][0]["name"]}
    return None


def launch_schedule_tick(api: GraphQL, repo: dict) -> set[str]:
    """Evaluate the schedule now (the UI's "Test schedule") and launch every run it requests, each
    with its own job, config and tags (the UI's "Launch all"); their run ids."""
    tick = api(SCHEDULE_DRY_RUN, selector={**repo, "scheduleName": SCHEDULE}, timestamp=time.time())["scheduleDryRun"]
    assert tick["__typename"] == "DryRunInstigationTick", tick
    evaluation = tick["evaluationResult"]
    assert evaluation["error"] is None and evaluation["skipReason"] is None, evaluation
    assert evaluation["runRequests"], evaluation
    params = [
        {
            "selector": {**repo, "jobName": request["jobName"]},
            "runConfigData": request["runConfigYaml"],
            "executionMetadata": {"tags": request["tags"]},
        }
        for request in evaluation["runRequests"]
    ]
    result = api(LAUNCH_MULTIPLE, params=params)["launchMultipleRuns"]
    assert result["__typename"] == "LaunchMultipleRunsResult", result
    launched = result["launchMultipleRunsResult"]
    assert all(r["__typename"] == "LaunchRunSuccess" for r in launched), launched
    return {r["run"]["runId"] for r in launched}


# --- the instance: runs, their events, the materializations ------------------------------------


def causes(instance: DagsterInstance, run_id: str) -> list[str]:
    """What a failed run's steps and the run itself said, for the assertion's message."""
    said = []
    for entry in instance.all_logs(run_id, of_type={DagsterEventType.STEP_FAILURE, DagsterEventType.RUN_FAILURE}):
        event = entry.dagster_event
        error = event.step_failure_data.error if event.is_step_failure else None
        said.append(f"{event.step_key or 'run'}: {event.message} {error.to_string() if error else ''}")
    return said


def wait_until_all_succeeded(cluster: Cluster, run_ids: set[str], timeout: float = 420) -> None:
    """Wait for `run_ids`, then for every run in the instance (the runs those started too); all
    must succeed."""

    def finished(ids: set[str] | None) -> list | None:
        records = cluster.instance.get_run_records(RunsFilter(run_ids=list(ids)) if ids is not None else None)
        done = all(record.dagster_run.status in TERMINAL for record in records)
        return records if done and len(records) == len(ids if ids is not None else records) else None

    wait_for(f"runs {sorted(run_ids)} to finish", lambda: finished(run_ids), timeout, diagnose=cluster.logs)
    records = wait_for("every run to finish", lambda: finished(None), timeout, diagnose=cluster.logs)
    failed = {
        r.dagster_run.run_id: r.dagster_run.status.value for r in records if r.dagster_run.status.value != "SUCCESS"
    }
    assert not failed, (
        f"runs did not succeed: {failed}\n"
        + "\n".join(f"{run_id}: {causes(cluster.instance, run_id)}" for run_id in failed)
        + f"\n{cluster.logs()}"
    )


def sensor_runs(cluster: Cluster) -> set[str] | None:
    """The sensor's batch runs, once they have ended, and the sync run they started for each competition."""
    batches = cluster.instance.get_run_records(RunsFilter(tags={"dagster/sensor_name": SENSOR}))
    if not batches or any(record.dagster_run.status not in TERMINAL for record in batches):
        return None
    ids = {record.dagster_run.run_id for record in batches}
    syncs = cluster.instance.get_run_records(RunsFilter(tags={BATCH_TAG: sorted(ids)}))
    return ids | {record.dagster_run.run_id for record in syncs} if len(syncs) == len(BOARDS) else None


def materialized_partitions(instance: DagsterInstance, asset: str) -> set[str]:
    records = instance.fetch_materializations(AssetKey(asset), limit=10_000).records
    return {record.event_log_entry.dagster_event.partition for record in records}


def step_events(instance: DagsterInstance, of_type: DagsterEventType) -> list:
    return [
        entry.dagster_event
        for record in instance.get_run_records()
        for entry in instance.all_logs(record.dagster_run.run_id, of_type=of_type)
    ]


def site_standings(site: DatabaseResource, slug: str) -> dict[str, tuple[int, str]]:
    with site.begin() as conn:
        competition = registry.get_competition(conn, site.tables, slug)
        rows = standings.read_standings(conn, site.tables, competition.id)
    return {row["username"]: (row["rank"], row["kaggle_team_name"]) for row in rows}


def without_team_of(board: bytes, kaggle_username: str) -> bytes:
    lines = board.decode("utf-8-sig").splitlines(keepends=True)
    kept = [lines[0]] + [line for line in lines[1:] if not line.rstrip().lower().endswith(f",{kaggle_username}")]
    assert len(kept) == len(lines) - 1, f"{kaggle_username} does not lead exactly one team of the board"
    return ("\ufeff" + "".join(kept)).encode()


def database_text(url: URL) -> str:
    """Every row of every table of a PostgreSQL database, as text."""
    engine = create_engine(url.set(drivername="postgresql+psycopg2"))
    try:
        with engine.connect() as conn:
            tables = conn.execute(text("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")).scalars()
            return "\n".join(
                row
                for table in list(tables)
                for row in conn.execute(text(f'SELECT t::text FROM "{table}" t')).scalars()
            )
    finally:
        engine.dispose()


# --- the test ---------------------------------------------------------------------------------


def test_celery_workers_sync_every_competition(cluster: Cluster):
    started = time.monotonic()

    # The daemon's sensor adds a partition per competition and syncs them at once, in batch runs
    # with a sync run for each: through the workers.
    first_syncs = wait_for("the sensor's batch and sync runs", lambda: sensor_runs(cluster), 180, diagnose=cluster.logs)
    wait_until_all_succeeded(cluster, first_syncs)

    # Kaggle's boards change; the schedule's tick, two batches polling them all, is launched
    # through the webserver's API as the UI's "Launch all". Kaggle answers the tick's first
    # download only once a second one has arrived: the other batch's poll, which only the other
    # worker can take while the first holds its one pool process.
    for slug, kaggle_username in LEAVING.items():
        cluster.boards[slug] = without_team_of(cluster.boards[slug], kaggle_username)
        cluster.fake_kaggle.set_board(slug, cluster.boards[slug])
    cluster.fake_kaggle.gather_downloads(2)
    tick = launch_schedule_tick(cluster.api, cluster.repo)
    assert len(tick) == 2, tick
    wait_until_all_succeeded(cluster, tick)
    assert cluster.fake_kaggle.downloads_gathered, "the two batches' polls never asked Kaggle at once"

    # The site's standings are those of Kaggle's boards, computed here from the boards themselves.
    for slug, board in cluster.boards.items():
        expected = expected_standings(board, USERS)
        assert expected, f"no site user is on the {slug} board: the fixture or USERS changed"
        assert site_standings(cluster.site, slug) == expected, slug
    assert {"enock", "shun"}.isdisjoint(
        site_standings(cluster.site, "titanic") | site_standings(cluster.site, "orbit-wars")
    )
    titanic = site_standings(cluster.site, "titanic")
    assert titanic["chuyian"] == titanic["yu"], "both members of the team are credited"
    for asset in ASSETS:
        assert materialized_partitions(cluster.instance, asset) >= set(BOARDS), asset
    # What one step hands the next, to whichever worker runs it: the raw board in KAGGLE_LB_HOME,
    # the validated frame in DAGSTER_SHARED_DIR.
    for slug in BOARDS:
        assert (cluster.lb_home / "raw" / "raw_leaderboard_csv" / f"{slug}.csv").is_file()
        assert (cluster.shared / "storage" / "validated_leaderboard" / slug).is_file()

    # Every step of every run, the runs a batch starts in its step included, ran in the pool
    # process of one of the two workers: long-lived processes, each with the code imported once.
    pools = {worker.name: set(worker.descendants()) for worker in cluster.workers}
    assert all(len(pool) == 1 for pool in pools.values()), pools
    starts = step_events(cluster.instance, DagsterEventType.STEP_START)
    by_worker = {name: [e for e in starts if e.pid in pool] for name, pool in pools.items()}
    assert sum(map(len, by_worker.values())) == len(starts), "a step ran outside the workers"
    assert all(by_worker.values()), f"a worker ran no step: { {name: len(e) for name, e in by_worker.items()} }"
    # And the Celery executor says so itself: its engine events name both workers.
    named = {
        event.engine_event_data.metadata["Celery worker"].value.split("@")[0]
        for event in step_events(cluster.instance, DagsterEventType.ENGINE_EVENT)
        if event.message.endswith("in celery worker")
    }
    assert named == set(WORKERS)

    # The Redis password is in the environment only: in no log, file or run, event or tick record.
    for process in cluster.processes:
        assert cluster.redis_password not in process.log_path.read_text(errors="replace"), process.name
    for directory in cluster.directories:
        for path in directory.rglob("*"):
            assert not path.is_file() or cluster.redis_password.encode() not in path.read_bytes(), path
    assert cluster.redis_password not in database_text(cluster.dagster_db)

    jobs = Counter(record.dagster_run.job_name for record in cluster.instance.get_run_records())
    print(
        f"Celery end-to-end: {time.monotonic() - started:.0f}s after the code location loaded; runs {dict(jobs)}; "
        f"steps per worker { {name: len(events) for name, events in by_worker.items()} }"
    )
