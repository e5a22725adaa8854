"""Each competition's health: its latest sync run and the latest result of each of its checks,
read from the Dagster instance through run records and each run's own events (public APIs, on
SQLite and PostgreSQL instances alike), and its freshness, judged from kaggle-lb's own record of
its last sync."""

from datetime import datetime

from dagster import AssetCheckKey, DagsterEventType, DagsterInstance, DagsterRunStatus, RunsFilter

from kaggle_lb.quality.alerts import FAILING, HIGH, LOW, PASSING, UNKNOWN, Status
from kaggle_lb.quality.freshness import judge_freshness

FRESHNESS = "freshness_check"
SYNC_JOB = "leaderboard_sync_job"
_FINISHED = [DagsterRunStatus.SUCCESS, DagsterRunStatus.FAILURE, DagsterRunStatus.CANCELED]
# How many of a competition's latest runs are searched for a check that the newest did not run.
_RUNS_SEARCHED = 5


def _latest_runs(instance: DagsterInstance, slug: str, job_name: str | None = None, limit: int = _RUNS_SEARCHED):
    return instance.get_runs(
        RunsFilter(tags={"dagster/partition": slug}, statuses=_FINISHED, job_name=job_name), limit=limit
    )


def check_statuses(instance: DagsterInstance, slug: str, check_keys: list[AssetCheckKey]) -> list[Status]:
    """The newest result of each check on the competition's partition."""
    wanted = [key for key in check_keys if key.name != FRESHNESS]  # see freshness_status
    found: dict[AssetCheckKey, tuple] = {}
    for run in _latest_runs(instance, slug):
        for entry in instance.all_logs(run.run_id, of_type=DagsterEventType.ASSET_CHECK_EVALUATION):
            evaluation = entry.asset_check_evaluation
            if evaluation is not None:
                found.setdefault(evaluation.asset_check_key, (evaluation, run.run_id))
        if all(key in found for key in wanted):
            break
    statuses = []
    for key in wanted:
        if key not in found:
            statuses.append(Status(slug, key.name, UNKNOWN, HIGH, "not evaluated yet"))
            continue
        evaluation, run_id = found[key]
        priority = HIGH if evaluation.severity.value == "ERROR" else LOW
        state = PASSING if evaluation.passed else FAILING
        statuses.append(Status(slug, key.name, state, priority, evaluation.description or "", run_id))
    return statuses


def run_status(instance: DagsterInstance, slug: str, checks: list[Status]) -> Status:
    """The latest finished sync; a run failed by an ERROR check is that check's alert, not a second one."""
    runs = _latest_runs(instance, slug, SYNC_JOB, limit=1)
    if not runs:
        return Status(slug, "run", UNKNOWN, HIGH, "no run yet")
    run = runs[0]
    if run.status == DagsterRunStatus.SUCCESS:
        return Status(slug, "run", PASSING, HIGH, "the latest run succeeded", run.run_id)
    if any(c.state == FAILING and c.run_id == run.run_id and c.priority == HIGH for c in checks):
        return Status(slug, "run", UNKNOWN, HIGH, "failed on a blocking check", run.run_id)
    failures = instance.all_logs(run.run_id, of_type=DagsterEventType.STEP_FAILURE)
    cause = "the run was canceled" if run.status == DagsterRunStatus.CANCELED else "the run failed"
    if failures:
        event = failures[0].dagster_event
        assert event is not None  # a STEP_FAILURE entry is a Dagster event
        data = event.step_failure_data
        user = data.user_failure_data
        error = data.error.message if data.error else cause
        cause = (user.description if user and user.description else error).strip()
    return Status(slug, "run", FAILING, HIGH, cause, run.run_id)


def freshness_status(
    slug: str, last_synced: datetime | None, window_minutes: float, now: datetime, watched_since: datetime | None = None
) -> Status:
    outcome = judge_freshness(last_synced, window_minutes, now, watched_since)
    return Status(slug, FRESHNESS, PASSING if outcome.passed else FAILING, HIGH, outcome.description)
