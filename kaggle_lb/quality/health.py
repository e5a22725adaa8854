"""Each competition's health, read from the Dagster instance: its latest run, the latest result of
each check for its partition, and when its standings were last confirmed current.

Only run records and asset-keyed queries are used (no event-log cursor over other event types),
so this works on SQLite and PostgreSQL instances alike.
"""

from datetime import datetime, timezone

from dagster import AssetCheckKey, AssetKey, AssetRecordsFilter, DagsterEventType, DagsterInstance, DagsterRunStatus, RunsFilter
from dagster._core.event_api import PartitionKeyFilter
from dagster._core.storage.asset_check_execution_record import AssetCheckExecutionRecordStatus

from kaggle_lb.quality.alerts import FAILING, HIGH, LOW, PASSING, UNKNOWN, Status

MATCHED = AssetKey("matched_entries")
FRESHNESS = "freshness_check"
_FINISHED = [DagsterRunStatus.SUCCESS, DagsterRunStatus.FAILURE, DagsterRunStatus.CANCELED]
_DECIDED = {AssetCheckExecutionRecordStatus.SUCCEEDED, AssetCheckExecutionRecordStatus.FAILED}


def _latest_decided(instance: DagsterInstance, key: AssetCheckKey, slug: str):
    """The newest evaluation of a check on one partition, passing over planned or skipped ones."""
    partition = PartitionKeyFilter(key=slug)
    record = instance.event_log_storage.get_latest_asset_check_execution_by_key([key], partition).get(key)
    if record is not None and record.status not in _DECIDED:
        history = instance.event_log_storage.get_asset_check_execution_history(
            key, limit=1, status=_DECIDED, partition_filter=partition
        )
        record = history[0] if history else None
    return record


def check_statuses(instance: DagsterInstance, slug: str, check_keys: list[AssetCheckKey]) -> list[Status]:
    statuses = []
    for key in check_keys:
        if key.name == FRESHNESS:
            continue  # judged from the sync history by `freshness_status`, not from its own results
        record = _latest_decided(instance, key, slug)
        if record is None or record.event is None:
            statuses.append(Status(slug, key.name, UNKNOWN, HIGH, "not evaluated yet"))
            continue
        evaluation = record.event.dagster_event.event_specific_data
        priority = HIGH if evaluation.severity.value == "ERROR" else LOW
        state = PASSING if evaluation.passed else FAILING
        statuses.append(Status(slug, key.name, state, priority, evaluation.description or "", record.run_id))
    return statuses


def run_status(instance: DagsterInstance, slug: str, checks: list[Status]) -> Status:
    """The latest finished run; a run failed by an ERROR check is that check's alert, not a second one."""
    runs = instance.get_runs(RunsFilter(tags={"dagster/partition": slug}, statuses=_FINISHED), limit=1)
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
        data = failures[0].dagster_event.step_failure_data
        user = data.user_failure_data
        cause = (user.description if user and user.description else data.error.message).strip()
    return Status(slug, "run", FAILING, HIGH, cause, run.run_id)


def last_confirmed(instance: DagsterInstance, slug: str) -> datetime | None:
    """When the standings were last written, or last confirmed unchanged by a scheduled poll."""
    records_filter = AssetRecordsFilter(asset_key=MATCHED, asset_partitions=[slug])
    # Observations also carry the freshness reports of the alert sensor, a few per stale spell.
    confirmations = [
        record
        for record in instance.fetch_observations(records_filter, limit=20).records
        if "confirmed_unchanged" in record.asset_observation.metadata
    ]
    records = [*instance.fetch_materializations(records_filter, limit=1).records, *confirmations[:1]]
    if not records:
        return None
    return datetime.fromtimestamp(max(r.timestamp for r in records), tz=timezone.utc)


def freshness_status(
    instance: DagsterInstance, slug: str, window_minutes: float, now: datetime, watched_since: datetime | None = None
) -> Status:
    """Stale when not confirmed current within the window; a never-synced competition is stale
    once it has been watched for a whole window (immediately when `watched_since` is unknown)."""
    last = last_confirmed(instance, slug)
    reference = last or watched_since
    age_minutes = (now - reference).total_seconds() / 60 if reference else None
    if age_minutes is not None and age_minutes <= window_minutes:
        detail = f"last synced {age_minutes:.0f} min ago" if last else "not synced yet, within the window"
        return Status(slug, FRESHNESS, PASSING, HIGH, detail)
    detail = (
        f"stale: last synced {age_minutes:.0f} min ago ({last:%Y-%m-%d %H:%M} UTC), "
        f"more than the {window_minutes:g} min allowed"
        if last
        else f"stale: never synced in the {window_minutes:g} min allowed"
    )
    return Status(slug, FRESHNESS, FAILING, HIGH, detail)
