"""Each competition's health: its latest sync run and the latest result of each of its checks,
read from the Dagster instance through run records and each run's own events (public APIs, on
SQLite and PostgreSQL instances alike), and its freshness, judged from the last time kaggle-lb
checked its standings against Kaggle.

The alert sensor evaluates every competition each minute, 1,000s of them, so `evaluate` reads only
what changed since its last evaluation: the runs that ended since then (one query for all
competitions), the runs and checks of the competitions they belong to, and every competition's
freshness from its last check (read by the caller in one query). Only the first evaluations (no
cursor yet, or one of an earlier version) read every competition in full, a slice each. What the
sensor carries from one evaluation to the next is a `Memory`, kept in its cursor.
"""

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from dagster import (
    AssetCheckKey,
    DagsterEventType,
    DagsterInstance,
    DagsterRun,
    DagsterRunStatus,
    RunRecord,
    RunsFilter,
)

from kaggle_lb.quality.alerts import FAILING, HIGH, LOW, PASSING, UNKNOWN, Alert, Notice, Status
from kaggle_lb.quality.freshness import judge_freshness
from kaggle_lb.run_tags import STALE, TRIGGER_TAG
from kaggle_lb.storage.registry import Competition

FRESHNESS = "freshness_check"
SYNC_JOB = "leaderboard_sync_job"
PARTITION_TAG = "dagster/partition"
# matched_entries' materialization says so on the one sync that switched (assets/leaderboard.py).
SWITCHED_TO_PRIVATE = "switched_to_private_board"
_FINISHED = [DagsterRunStatus.SUCCESS, DagsterRunStatus.FAILURE, DagsterRunStatus.CANCELED]
# How many of a competition's latest runs are searched for a check that the newest did not run.
_RUNS_SEARCHED = 5
# How many competitions the first evaluation reads in full; the rest go to the next evaluations, a
# slice each, so that none nears the daemon's limit on a sensor evaluation (60 s) however many
# competitions there are.
_READ_IN_FULL = 200
# A run's end is stamped by the process that ends it and can be committed a moment later than a
# run that ended after it: each evaluation looks this far back again, skipping the runs it has seen.
_OVERLAP = timedelta(minutes=1)


def _latest_runs(instance: DagsterInstance, slug: str, job_name: str | None = None, limit: int = _RUNS_SEARCHED):
    return instance.get_runs(RunsFilter(tags={PARTITION_TAG: slug}, statuses=_FINISHED, job_name=job_name), limit=limit)


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
    """The latest finished sync; a run failed by an ERROR check is that check's alert, not a second one.
    A run of the freshness check alone (the alert sensor's, for a stale competition) syncs nothing,
    so it is no sync's outcome."""
    runs = [run for run in _latest_runs(instance, slug, SYNC_JOB) if run.tags.get(TRIGGER_TAG) != STALE]
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
    slug: str,
    last_checked: datetime | None,
    window_minutes: float,
    now: datetime,
    watched_since: datetime | None = None,
) -> Status:
    outcome = judge_freshness(last_checked, window_minutes, now, watched_since)
    return Status(slug, FRESHNESS, PASSING if outcome.passed else FAILING, HIGH, outcome.description)


def switched_to_private(instance: DagsterInstance, run_id: str) -> bool:
    """Whether the run's sync switched its competition's standings to Kaggle's private board."""
    for entry in instance.all_logs(run_id, of_type=DagsterEventType.ASSET_MATERIALIZATION):
        materialization = entry.asset_materialization
        switched = materialization.metadata.get(SWITCHED_TO_PRIVATE) if materialization else None
        if switched is not None and switched.value is True:
            return True
    return False


def _ended(record: RunRecord) -> datetime:
    # end_time is the run's end; update_timestamp moves on when tags are added to an ended run.
    return datetime.fromtimestamp(record.end_time, UTC) if record.end_time is not None else record.update_timestamp


@dataclass
class Memory:
    """What the alert sensor carries from one evaluation to the next, in its cursor. Its size grows
    with what is failing, not delivered or never synced, not with the number of competitions."""

    alerted: dict[str, str] = field(default_factory=dict)  # status key -> FAILING; absent means passing
    watched: dict[str, str] = field(default_factory=dict)  # a competition never checked -> since when (ISO)
    retry: set[str] = field(default_factory=set)  # competitions with an alert not delivered: read again
    notices: set[str] = field(default_factory=set)  # private-board notices not delivered yet
    following: bool = False  # False before the first evaluation
    reading: str | None = ""  # the competitions after this slug are still to be read in full; None: all read
    ended_until: datetime | None = None  # the latest run end seen
    seen: set[str] = field(default_factory=set)  # runs that ended within _OVERLAP before it, already read

    @classmethod
    def load(cls, cursor: str | None) -> "Memory":
        """From the cursor; after a cursor of an earlier version (no `runs`), the competitions are
        read in full again."""
        stored = json.loads(cursor) if cursor else {}
        runs = stored.get("runs")
        return cls(
            alerted={key: state for key, state in stored.get("alerted", {}).items() if state == FAILING},
            watched=stored.get("watched", {}),
            retry=set(stored.get("retry", [])),
            notices=set(stored.get("notices", [])),
            following=runs is not None,
            reading=stored.get("reading") if runs is not None else "",
            ended_until=datetime.fromisoformat(runs["until"]) if runs and runs["until"] else None,
            seen=set(runs["seen"]) if runs else set(),
        )

    def dump(self, registered: set[str]) -> str:
        """The cursor, forgetting the competitions no longer registered."""

        def kept(slugs):
            return sorted(slug for slug in slugs if slug in registered)

        alerted = {key: state for key, state in self.alerted.items() if state == FAILING}
        runs = {"until": self.ended_until.isoformat() if self.ended_until else None, "seen": sorted(self.seen)}
        return json.dumps(
            {
                "alerted": {key: alerted[key] for key in sorted(alerted) if key.split("|")[0] in registered},
                "watched": {slug: self.watched[slug] for slug in kept(self.watched)},
                "retry": kept(self.retry),
                "notices": kept(self.notices),
                "runs": runs,
                "reading": self.reading,
            },
            separators=(",", ":"),
        )

    def record(self, alert: Alert, delivered: bool) -> None:
        """What an alert changed; one not delivered is tried again by the next evaluation, which
        reads its competition again (freshness is judged anew by every evaluation anyway)."""
        if delivered:
            self.alerted[alert.status.key] = PASSING if alert.recovered else FAILING
        elif alert.status.name != FRESHNESS:
            self.retry.add(alert.status.competition)

    def notices_due(self, switched: set[str]) -> list[Notice]:
        return [Notice(slug) for slug in sorted(self.notices | switched)]

    def record_notice(self, notice: Notice, delivered: bool) -> None:
        (self.notices.discard if delivered else self.notices.add)(notice.competition)

    def to_read_in_full(self, slugs: set[str]) -> set[str]:
        """The next slice of the competitions the first evaluations read in full."""
        if self.reading is None:
            return set()
        rest = sorted(slug for slug in slugs if slug > self.reading)
        read = rest[:_READ_IN_FULL]
        self.reading = read[-1] if len(rest) > len(read) else None
        return set(read)

    def runs_ended_since(self, instance: DagsterInstance) -> list[RunRecord]:
        """The runs that ended since the last evaluation (one query), remembered as seen. The
        competitions are read in full at first (to_read_in_full): from then on, only the runs that
        end after the first evaluation are."""
        if not self.following:
            self.following = True
            newest = instance.get_run_records(RunsFilter(statuses=_FINISHED), limit=1, order_by="update_timestamp")
            if newest:
                self.ended_until = newest[0].update_timestamp
                self._remember(_ended_after(instance, self.ended_until - _OVERLAP))
            return []
        records = _ended_after(instance, self.ended_until - _OVERLAP if self.ended_until else None)
        new = [record for record in records if record.dagster_run.run_id not in self.seen]
        self._remember(records)
        return new

    def _remember(self, records: list[RunRecord]) -> None:
        ends = [_ended(record) for record in records] + ([self.ended_until] if self.ended_until else [])
        if ends:
            self.ended_until = max(ends)
            self.seen = {r.dagster_run.run_id for r in records if _ended(r) > self.ended_until - _OVERLAP}


def _ended_after(instance: DagsterInstance, since: datetime | None) -> list[RunRecord]:
    records = instance.get_run_records(RunsFilter(statuses=_FINISHED, updated_after=since))
    return [record for record in records if since is None or _ended(record) > since]


@dataclass(frozen=True)
class Evaluation:
    statuses: list[Status]
    stale: dict[str, datetime | None]  # a stale competition -> its last check (None: never)
    switched: set[str]  # competitions whose standings switched to the private board since the last evaluation
    read: int  # how many competitions' runs and checks were read


def evaluate(
    instance: DagsterInstance,
    memory: Memory,
    competitions: list[Competition],
    last_checked: dict[int, datetime],
    check_keys: list[AssetCheckKey],
    window_minutes: float,
    now: datetime,
) -> Evaluation:
    """The statuses that may have changed since the last evaluation, and every competition's
    freshness. `competitions` are the ones with a partition; `last_checked` is
    polls.last_checked. Updates `memory`'s runs, watch times and competitions to read again; its
    alerts are the caller's to send and `record`."""
    slugs = {c.slug for c in competitions}
    ended: dict[str, list[DagsterRun]] = {}
    for record in memory.runs_ended_since(instance):
        slug = record.dagster_run.tags.get(PARTITION_TAG)
        if slug is not None and slug in slugs:
            ended.setdefault(slug, []).append(record.dagster_run)
    read = set(ended) | (memory.retry & slugs) | memory.to_read_in_full(slugs)
    memory.retry = set()  # what is still not delivered after this evaluation is added again
    statuses = []
    for slug in sorted(read):
        checks = check_statuses(instance, slug, check_keys)
        statuses += [*checks, run_status(instance, slug, checks)]
    switched = {
        slug
        for slug, runs in ended.items()
        if any(run.job_name == SYNC_JOB and switched_to_private(instance, run.run_id) for run in runs)
    }

    never = {c.slug for c in competitions if c.id not in last_checked}
    memory.watched = {slug: memory.watched.get(slug, now.isoformat()) for slug in never}
    stale: dict[str, datetime | None] = {}
    for competition in (c for c in competitions if c.is_active):
        checked = last_checked.get(competition.id)
        since = memory.watched.get(competition.slug)
        freshness = freshness_status(
            competition.slug, checked, window_minutes, now, datetime.fromisoformat(since) if since else None
        )
        statuses.append(freshness)
        if freshness.state == FAILING:
            stale[competition.slug] = checked
    return Evaluation(statuses, stale, switched, len(read))
