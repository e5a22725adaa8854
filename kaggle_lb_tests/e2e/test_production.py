"""Production, end to end: deploy/dagster.yaml on PostgreSQL, the real `dagster-webserver` and
`dagster-daemon run` as separate processes, the real kaggle client against the fake Kaggle server,
the site's standings in PostgreSQL, and the UI in a real headless Chromium.

Needs KAGGLE_LB_TEST_POSTGRES_URL (CI sets it) and Debian's chromium + chromium-driver.
"""

import shutil
import time
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass

import pytest
import yaml
from selenium.webdriver.common.by import By
from sqlalchemy import create_engine, text
from sqlalchemy.engine import URL

from kaggle_lb.resources.database import DatabaseResource
from kaggle_lb.run_tags import BATCH_TAG
from kaggle_lb.storage import registry, standings
from kaggle_lb_tests.databases import dump_entries
from kaggle_lb_tests.e2e.production import (
    REPO_ROOT,
    GraphQL,
    Process,
    check_statuses,
    chromium,
    deployment_env,
    expected_standings,
    free_port,
    killed_on_sigterm,
    partition_keys,
    registered_site,
    wait_for,
    webserver_and_daemon,
)
from kaggle_lb_tests.fake_kaggle import FakeKaggleServer
from kaggle_lb_tests.fixtures import fixture_path

pytestmark = pytest.mark.e2e

ARTIFACTS = REPO_ROOT / "test-artifacts" / "e2e"
ASSETS = ["raw_leaderboard_csv", "validated_leaderboard", "matched_entries"]
JOB = "leaderboard_sync_job"
BATCH_JOB = "leaderboard_batch_job"
SCHEDULE = "leaderboard_sync_schedule"
SENSOR = "competition_partitions_sensor"
TITANIC, ORBIT = "titanic", "orbit-wars"
BOARDS = {
    TITANIC: "titanic-publicleaderboard-2025-06.csv",
    ORBIT: "orbit-wars-publicleaderboard-2026-05-05T15_36_33.csv",
}
# (site username, Kaggle username or None when it is the same): solo players, both members of a
# two-person team (one matched by a differently-cased Kaggle name), and someone on neither board.
USERS = [
    ("enock", "enockkatui"),
    ("chuyian", None),
    ("yu", "YU0216"),
    ("bowwowforeach", None),
    ("shun", "shunrcn"),
    ("markorupnik", None),
    ("nobody", "not-on-any-board"),
]
TERMINAL = {"SUCCESS", "FAILURE", "CANCELED"}
# Runs the daemon starts (sensor and cron ticks) carry this tag; runs launched through the API do not.
DAEMON_TICK_TAG = "dagster/tick"


def without_member(board: bytes, kaggle_username: str) -> bytes:
    """The board with the rows of one Kaggle user's team taken out (as when a team is disqualified)."""
    lines = board.decode("utf-8-sig").splitlines(keepends=True)
    kept = [lines[0]] + [line for line in lines[1:] if kaggle_username not in line.lower()]
    assert len(kept) == len(lines) - 1, f"{kaggle_username} is not on the board exactly once"
    return ("\ufeff" + "".join(kept)).encode()


@dataclass
class Production:
    api: GraphQL
    base_url: str
    site: DatabaseResource
    fake_kaggle: FakeKaggleServer
    dagster_db: URL
    boards: dict[str, bytes]
    processes: list[Process]

    def logs(self) -> str:
        return "\n".join(process.log_tail() for process in self.processes)


@pytest.fixture
def production(postgres_url, tmp_path) -> Iterator[Production]:
    """Site and Dagster databases, the fake Kaggle, and the webserver and daemon as processes;
    every process group is SIGKILLed and every database dropped afterwards, on failure too."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with ExitStack() as stack:
        boards = {slug: fixture_path(name).read_bytes() for slug, name in BOARDS.items()}
        deployed = registered_site(stack, tmp_path, boards, {TITANIC: "Titanic", ORBIT: "Orbit Wars"}, USERS)
        dagster_home = tmp_path / "dagster_home"
        dagster_home.mkdir()
        shutil.copy(REPO_ROOT / "deploy" / "dagster.yaml", dagster_home / "dagster.yaml")
        home = tmp_path / "home"  # no ~/.kaggle of the machine's may leak in
        home.mkdir()
        env = deployment_env(deployed, dagster_home, home)
        port = free_port()
        processes: list[Process] = []
        stack.enter_context(killed_on_sigterm())
        # Registered before the processes start: they are killed even if starting one fails, and
        # their logs are kept beside the screenshots.
        stack.callback(lambda: [shutil.copy(p.log_path, ARTIFACTS / p.log_path.name) for p in processes])
        stack.callback(lambda: [process.kill() for process in reversed(processes)])
        processes.extend(webserver_and_daemon(env, tmp_path, port))
        base_url = f"http://127.0.0.1:{port}"
        api = GraphQL(base_url)
        stack.callback(api.close)
        yield Production(
            api, base_url, deployed.site, deployed.fake_kaggle, deployed.dagster_db, deployed.boards, processes
        )


# --- GraphQL ---------------------------------------------------------------------------------

LOCATIONS = """
{ workspaceOrError { __typename ... on Workspace { locationEntries {
    name loadStatus
    locationOrLoadError {
      __typename ... on RepositoryLocation { repositories { name } } ... on PythonError { message }
    }
} } } }
"""
RUNS = """
{ runsOrError { __typename ... on Runs { results {
    runId status creationTime tags { key value }
    assetMaterializations { assetKey { path } partition }
} } } }
"""
SCHEDULE_DRY_RUN = """
mutation($selector: ScheduleSelector!, $timestamp: Float!) {
  scheduleDryRun(selectorData: $selector, timestamp: $timestamp) {
    __typename
    ... on DryRunInstigationTick { evaluationResult {
        skipReason error { message } runRequests { runKey jobName tags { key value } runConfigYaml }
    } }
    ... on PythonError { message }
  }
}
"""
LAUNCH_RESULT = """
    __typename
    ... on LaunchRunSuccess { run { runId } }
    ... on PythonError { message }
    ... on Error { message }
"""
LAUNCH_MULTIPLE = f"""
mutation($params: [ExecutionParams!]!) {{
  launchMultipleRuns(executionParamsList: $params) {{
    __typename
    ... on LaunchMultipleRunsResult {{ launchMultipleRunsResult {{ {LAUNCH_RESULT} }} }}
    ... on PythonError {{ message }}
  }}
}}
"""
LAUNCH = f"mutation($params: ExecutionParams!) {{ launchRun(executionParams: $params) {{ {LAUNCH_RESULT} }} }}"
ASSET_GRAPH = """
{ assetNodes {
    assetKey { path } groupName jobNames
    dependencyKeys { path } dependedByKeys { path }
    assetChecksOrError { __typename ... on AssetChecks { checks { name } } }
} }
"""
INSTANCE = "{ instance { runQueuingSupported runQueueConfig { maxConcurrentRuns tagConcurrencyLimitsYaml } } }"


def location(api: GraphQL) -> dict | None:
    """{location, repository} once the code location has loaded; fails at once on a load error."""
    data = api(LOCATIONS)["workspaceOrError"]
    for entry in data.get("locationEntries", []):
        loaded = entry["locationOrLoadError"]
        if loaded and loaded["__typename"] == "PythonError":
            raise AssertionError(f"code location {entry['name']} failed to load: {loaded['message']}")
        if entry["loadStatus"] == "LOADED" and loaded:
            return {"repositoryLocationName": entry["name"], "repositoryName": loaded["repositories"][0]["name"]}
    return None


def runs(api: GraphQL) -> list[dict]:
    result = api(RUNS)["runsOrError"]
    assert result["__typename"] == "Runs", result
    for run in result["results"]:
        run["tags"] = {tag["key"]: tag["value"] for tag in run["tags"]}
        run["materialized"] = sorted((m["assetKey"]["path"][-1], m["partition"]) for m in run["assetMaterializations"])
    return result["results"]


def launched(result: dict) -> str:
    assert result["__typename"] == "LaunchRunSuccess", result
    return result["run"]["runId"]


def execution_params(repo: dict, tags: dict[str, str], run_config_yaml: str = "{}", job: str = JOB) -> dict:
    return {
        "selector": {**repo, "jobName": job},
        "runConfigData": run_config_yaml,
        "executionMetadata": {"tags": [{"key": key, "value": value} for key, value in tags.items()]},
    }


def wait_until_finished(prod: Production, run_ids: set[str], timeout: float = 420) -> dict[str, dict]:
    def finished():
        by_id = {run["runId"]: run for run in runs(prod.api) if run["runId"] in run_ids}
        if len(by_id) == len(run_ids) and all(run["status"] in TERMINAL for run in by_id.values()):
            return by_id
        return None

    by_id = wait_for(f"runs {sorted(run_ids)} to finish", finished, timeout, diagnose=prod.logs)
    failed = {run_id: run["status"] for run_id, run in by_id.items() if run["status"] != "SUCCESS"}
    causes = {run_id: failure_messages(prod.api, run_id) for run_id in failed}
    assert not failed, f"runs did not succeed: {failed}\n{causes}\n{prod.logs()}"
    return by_id


RUN_FAILURES = """
query($runId: ID!) { runOrError(runId: $runId) { ... on Run { eventConnection { events {
  ... on ExecutionStepFailureEvent { stepKey error { message causes { message } } }
  ... on RunFailureEvent { message }
} } } } }
"""


def show(browser, prod: Production, name: str, path: str, words: list[str], assets: list[str]) -> None:
    """Open a UI page, wait until it shows `words` and the `assets`' names, and keep a screenshot
    of it (test-artifacts/e2e/NAME.png; the README's come from here)."""
    browser.get(prod.base_url + path)

    def rendered():
        page = browser.execute_script("return document.body.innerText")
        return all(word in page for word in words) and "Loading" not in page

    try:
        wait_for(
            f"{words} on the {name} page",
            rendered,
            timeout=90,
            interval=0.5,
            diagnose=lambda: browser.execute_script("return document.body.innerText"),
        )
        for asset in assets:
            shown = browser.find_elements(By.XPATH, f"//*[normalize-space(text())='{asset}']")
            assert any(element.is_displayed() for element in shown), f"{asset} not displayed on {name}"
    finally:
        browser.save_screenshot(str(ARTIFACTS / f"{name}.png"))


def failure_messages(api: GraphQL, run_id: str) -> list[str]:
    """What a failed run's steps said, for the assertion's message."""
    events = api(RUN_FAILURES, runId=run_id)["runOrError"]["eventConnection"]["events"]
    return [
        " / ".join(
            [event.get("stepKey") or "", event["error"]["message"], *(c["message"] for c in event["error"]["causes"])]
        )
        if "error" in event
        else event.get("message", "")
        for event in events
        if event
    ]


OBSERVATIONS = """
{ assetOrError(assetKey: {path: ["raw_leaderboard_csv"]}) { ... on Asset { assetObservations { partition } } } }
"""


def observations(api: GraphQL) -> dict[str, int]:
    """raw_leaderboard_csv's observations per partition, as the UI lists them."""
    found: dict[str, int] = {}
    for observation in api(OBSERVATIONS)["assetOrError"]["assetObservations"]:
        found[observation["partition"]] = found.get(observation["partition"], 0) + 1
    return found


def site_standings(site: DatabaseResource, slug: str) -> dict[str, tuple[int, str]]:
    with site.begin() as conn:
        competition = registry.get_competition(conn, site.tables, slug)
        rows = standings.read_standings(conn, site.tables, competition.id)
    return {row["username"]: (row["rank"], row["kaggle_team_name"]) for row in rows}


def site_rows(site: DatabaseResource, slug: str) -> list[tuple]:
    """Every column of one competition's entries, timestamps included."""
    with site.begin() as conn:
        competition_id = registry.get_competition(conn, site.tables, slug).id
    column = list(site.tables.entries.c.keys()).index("competition_id")
    return [row for row in dump_entries(site) if row[column] == competition_id]


# --- the test ---------------------------------------------------------------------------------


def test_production_deployment_end_to_end(production: Production, tmp_path):
    prod, api = production, production.api
    started = time.monotonic()

    # The webserver and the daemon load the one code location from workspace.yaml.
    wait_for("the webserver", api.up, timeout=90, diagnose=prod.logs)
    repo = wait_for("the code location to load", lambda: location(api), timeout=90, diagnose=prod.logs)
    queue = api(INSTANCE)["instance"]
    limits = yaml.safe_load((REPO_ROOT / "deploy" / "dagster.yaml").read_text())["concurrency"]["runs"]
    assert (
        queue["runQueuingSupported"] and queue["runQueueConfig"]["maxConcurrentRuns"] == limits["max_concurrent_runs"]
    )
    assert "dagster/partition" in queue["runQueueConfig"]["tagConcurrencyLimitsYaml"]

    # The daemon's sensor creates a partition per registered competition and syncs them at once,
    # in a batch run: a sync run of its own for each competition, which writes only its own assets.
    wait_for(
        "the sensor to create both partitions",
        lambda: partition_keys(api) == {TITANIC, ORBIT},
        120,
        diagnose=lambda: f"partitions: {partition_keys(api)}\n{prod.logs()}",
    )

    def sensor_batch():
        found = [run for run in runs(api) if run["tags"].get("dagster/sensor_name") == SENSOR]
        return found[0] if found and found[0]["status"] in TERMINAL else None

    first_batch = wait_for("the sensor's batch run", sensor_batch, 180, diagnose=prod.logs)
    first_syncs = {run["runId"]: run for run in runs(api) if run["tags"].get(BATCH_TAG) == first_batch["runId"]}
    finished = wait_until_finished(prod, {first_batch["runId"], *first_syncs})
    assert {run["tags"]["dagster/partition"] for run in first_syncs.values()} == {TITANIC, ORBIT}
    for run_id, run in first_syncs.items():
        slug = run["tags"]["dagster/partition"]
        assert finished[run_id]["materialized"] == sorted((asset, slug) for asset in ASSETS)

    # The schedule's work: its tick evaluated by the code server (the UI's "Test schedule") and the
    # run requests it returns launched as they are (the UI's "Launch all"): one batch run for both.
    dry_run = api(SCHEDULE_DRY_RUN, selector={**repo, "scheduleName": SCHEDULE}, timestamp=time.time())
    tick = dry_run["scheduleDryRun"]
    assert tick["__typename"] == "DryRunInstigationTick", tick
    evaluation = tick["evaluationResult"]
    assert evaluation["error"] is None and evaluation["skipReason"] is None, evaluation
    (request,) = evaluation["runRequests"]
    tags = {t["key"]: t["value"] for t in request["tags"]}
    assert request["jobName"] == BATCH_JOB and tags["kaggle_lb/trigger"] == "schedule"
    assert yaml.safe_load(request["runConfigYaml"])["ops"]["poll_leaderboards"]["config"]["competitions"] == [
        ORBIT,
        TITANIC,
    ]
    tick_id = launched(
        api(LAUNCH, params=execution_params(repo, tags, request["runConfigYaml"], request["jobName"]))["launchRun"]
    )
    wait_until_finished(prod, {tick_id})
    # Both boards are the ones their standings came from: no sync run, each partition observed
    # once, and every check of both partitions shows its result (Passed), none Skipped.
    assert not [run for run in runs(api) if run["tags"].get(BATCH_TAG) == tick_id]
    assert observations(api) == {TITANIC: 1, ORBIT: 1}

    def all_passed():
        # The webserver computes the partitions' states as it is asked, from the event log.
        statuses = check_statuses(api)
        passed = ([ORBIT, TITANIC], [], [])
        states = [(s["succeededPartitions"], s["skippedPartitions"], s["failedPartitions"]) for s in statuses.values()]
        return statuses if statuses and all(state == passed for state in states) else None

    wait_for("every check of both partitions to show Passed", all_passed, 60, diagnose=lambda: str(check_statuses(api)))

    for slug, board in prod.boards.items():
        expected = expected_standings(board, USERS)
        assert expected, f"no site user is on the {slug} board: the fixture or USERS changed"
        assert site_standings(prod.site, slug) == expected
    assert "nobody" not in site_standings(prod.site, TITANIC) | site_standings(prod.site, ORBIT)
    titanic_expected = expected_standings(prod.boards[TITANIC], USERS)
    assert titanic_expected["chuyian"] == titanic_expected["yu"], "both members of the team are credited"

    # Kaggle's board for titanic changes (a team disqualified); re-materialize that one competition
    # alone, as an operator does from the UI, and nothing else runs.
    new_titanic = without_member(prod.boards[TITANIC], "enockkatui")
    prod.fake_kaggle.set_board(TITANIC, new_titanic)
    orbit_before = site_rows(prod.site, ORBIT)
    runs_before = {run["runId"] for run in runs(api)}
    rerun_id = launched(api(LAUNCH, params=execution_params(repo, {"dagster/partition": TITANIC}))["launchRun"])
    rerun = wait_until_finished(prod, {rerun_id})[rerun_id]
    assert rerun["materialized"] == sorted((asset, TITANIC) for asset in ASSETS)
    by_hand = [
        r
        for r in runs(api)
        if r["runId"] not in runs_before and DAEMON_TICK_TAG not in r["tags"] and BATCH_TAG not in r["tags"]
    ]
    assert [(r["runId"], r["tags"]["dagster/partition"]) for r in by_hand] == [(rerun_id, TITANIC)]
    assert site_standings(prod.site, TITANIC) == expected_standings(new_titanic, USERS)
    assert "enock" not in site_standings(prod.site, TITANIC)
    assert site_rows(prod.site, ORBIT) == orbit_before, "the other competition's rows were not touched"
    # Each competition's sync runs: the sensor's batch started one for each, the operator one more.
    per_partition: dict[str, int] = {}
    for run in runs(api):
        if run["runId"] in first_syncs or run["runId"] == rerun_id:
            per_partition[run["tags"]["dagster/partition"]] = per_partition.get(run["tags"]["dagster/partition"], 0) + 1
    assert per_partition == {TITANIC: 2, ORBIT: 1}

    # Runs and events are in PostgreSQL: the Dagster database holds every run the UI lists.
    engine = create_engine(prod.site.sqlalchemy_url.set(database=prod.dagster_db.database))
    try:
        with engine.connect() as conn:
            stored = set(conn.execute(text("SELECT run_id FROM runs")).scalars())
    finally:
        engine.dispose()
    assert stored == {run["runId"] for run in runs(api)}

    # The lineage, and every asset check the Definitions declare, as the UI's API shows them.
    from kaggle_lb.definitions import defs

    nodes = {node["assetKey"]["path"][-1]: node for node in api(ASSET_GRAPH)["assetNodes"]}
    assert set(ASSETS) <= set(nodes)
    upstream = {name: sorted(key["path"][-1] for key in nodes[name]["dependencyKeys"]) for name in ASSETS}
    assert upstream == {
        "raw_leaderboard_csv": [],
        "validated_leaderboard": ["raw_leaderboard_csv"],
        "matched_entries": ["user_match_keys", "validated_leaderboard"],
    }
    assert nodes["user_match_keys"]["groupName"] == "users"
    assert all(nodes[name]["groupName"] == "leaderboard" and JOB in nodes[name]["jobNames"] for name in ASSETS)
    declared = {(key.asset_key.path[-1], key.name) for key in defs.resolve_asset_graph().asset_check_keys}
    shown = {
        (name, check["name"])
        for name, node in nodes.items()
        if node["assetChecksOrError"]["__typename"] == "AssetChecks"
        for check in node["assetChecksOrError"]["checks"]
    }
    assert shown == declared

    # The same in a real browser: the lineage graph and matched_entries' partitions. The UI greets
    # a new instance with a "Join the Dagster community" dialog over the graph; dismiss it the way
    # its Skip button does, so the screenshots show the pages.
    assert api("mutation { setNuxSeen }")["setNuxSeen"]
    lineage = f"/locations/{repo['repositoryLocationName']}/asset-groups/leaderboard"
    with chromium(tmp_path / "chromium-profile") as browser:
        show(browser, prod, "lineage", lineage, [*ASSETS, "100% filled", "5 / 5 Passed"], ASSETS)
        show(
            browser,
            prod,
            "matched_entries-partitions",
            "/assets/matched_entries?view=partitions",
            [TITANIC, ORBIT, "Materialized (2)"],
            ["matched_entries"],
        )

    # A bad board (a TeamId on two rows) for orbit: its blocking check fails on its partition, and
    # its standings stay as they were.
    header, first, *rest = prod.boards[ORBIT].decode("utf-8-sig").splitlines(keepends=True)
    prod.fake_kaggle.set_board(ORBIT, ("\ufeff" + header + first + first + "".join(rest)).encode())
    bad_id = launched(api(LAUNCH, params=execution_params(repo, {"dagster/partition": ORBIT}))["launchRun"])
    bad = wait_for(
        "the bad board's run",
        lambda: next((r for r in runs(api) if r["runId"] == bad_id and r["status"] in TERMINAL), None),
        120,
        diagnose=prod.logs,
    )
    assert bad["status"] == "FAILURE"
    assert check_statuses(api)[("validated_leaderboard", "unique_team_ids_check")]["failedPartitions"] == [ORBIT]
    assert site_rows(prod.site, ORBIT) == orbit_before
    prod.fake_kaggle.set_board(ORBIT, prod.boards[ORBIT])

    with chromium(tmp_path / "chromium-profile") as browser:
        show(
            browser,
            prod,
            "failing-check",
            "/assets/validated_leaderboard?view=checks&checkDetail=unique_team_ids_check",
            ["unique_team_ids_check", "Failed", "TeamId value(s) appear on more than one row"],
            ["validated_leaderboard"],
        )

    elapsed = time.monotonic() - started
    print(f"production end-to-end: {elapsed:.0f}s after the processes started")
