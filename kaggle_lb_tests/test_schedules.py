"""The 5-minute schedule: every active competition that has a partition, in batch runs."""

import uuid
from datetime import UTC, datetime

import pytest
from dagster import (
    DagsterRun,
    DagsterRunStatus,
    RunRequest,
    SkipReason,
    build_schedule_context,
    instance_for_test,
)

from kaggle_lb.digest_schedule import standings_digest_schedule
from kaggle_lb.errors import ConfigurationError
from kaggle_lb.ops.batches import BATCH_SIZE_VAR
from kaggle_lb.ops.digest_batch import DIGEST_BATCH_JOB, POST_DIGESTS
from kaggle_lb.ops.leaderboard_batch import BATCH_JOB
from kaggle_lb.partitions import competitions_partitions
from kaggle_lb.run_tags import SCHEDULED, TRIGGER_TAG
from kaggle_lb.schedules import leaderboard_sync_schedule
from kaggle_lb.storage import registry

TICK = datetime(2026, 11, 28, 10, 5, tzinfo=UTC)


def evaluate(instance, database):
    with build_schedule_context(
        instance=instance, scheduled_execution_time=TICK, resources={"database": database}
    ) as context:
        return leaderboard_sync_schedule(context)


def batches(requests: list[RunRequest]) -> list[list[str]]:
    return [request.run_config["ops"]["poll_leaderboards"]["config"]["competitions"] for request in requests]


def test_requests_batches_of_the_active_partitioned_competitions(database, monkeypatch):
    monkeypatch.setenv(BATCH_SIZE_VAR, "2")
    with database.begin() as conn:
        for slug in ("alpha", "beta", "gamma", "delta", "epsilon", "zeta"):
            registry.add_competition(conn, database.tables, slug)
        registry.set_competition_active(conn, database.tables, "beta", False)
    with instance_for_test() as instance:
        # "delta" is registered but its partition does not exist yet: it must not fail the tick.
        instance.add_dynamic_partitions(
            competitions_partitions.name, ["alpha", "beta", "gamma", "epsilon", "zeta", "stale"]
        )

        requests = evaluate(instance, database)

    assert all(isinstance(r, RunRequest) and r.job_name == BATCH_JOB for r in requests)
    assert batches(requests) == [["alpha", "epsilon"], ["gamma", "zeta"]]
    assert len({r.run_key for r in requests}) == 2
    assert all(TICK.isoformat() in r.run_key for r in requests)
    assert all(r.tags[TRIGGER_TAG] == SCHEDULED for r in requests)


def test_skips_when_nothing_is_active(database):
    with instance_for_test() as instance:
        assert isinstance(evaluate(instance, database), SkipReason)


def _origin(job_name: str):
    """Where a queued run was launched from, as the daemon records it (Dagster keeps no public
    constructor for it: only the webserver and the daemon queue runs)."""
    from dagster._core.remote_origin import RegisteredCodeLocationOrigin, RemoteJobOrigin, RemoteRepositoryOrigin

    repository = RemoteRepositoryOrigin(RegisteredCodeLocationOrigin("kaggle_lb"), "__repository__")
    return RemoteJobOrigin(repository, job_name)


def test_skips_a_tick_while_an_earlier_ticks_batch_is_still_queued(database):
    """Over capacity the queue would only grow: the tick says so instead."""
    with database.begin() as conn:
        registry.add_competition(conn, database.tables, "alpha")
    with instance_for_test() as instance:
        instance.add_dynamic_partitions(competitions_partitions.name, ["alpha"])
        assert isinstance(evaluate(instance, database), list)
        instance.add_run(
            DagsterRun(
                job_name=BATCH_JOB,
                run_id=str(uuid.uuid4()),
                status=DagsterRunStatus.QUEUED,
                remote_job_origin=_origin(BATCH_JOB),
            )
        )

        result = evaluate(instance, database)

    assert isinstance(result, SkipReason)
    assert "1 batch run(s) of an earlier tick are still queued" in (result.skip_message or "")


@pytest.mark.parametrize("value", ["0", "ten", "1001"])
def test_a_bad_batch_size_is_a_clear_error(database, monkeypatch, value):
    monkeypatch.setenv(BATCH_SIZE_VAR, value)
    with database.begin() as conn:
        registry.add_competition(conn, database.tables, "alpha")
    with instance_for_test() as instance:
        instance.add_dynamic_partitions(competitions_partitions.name, ["alpha"])
        with pytest.raises(ConfigurationError, match=f"{BATCH_SIZE_VAR}={value}: give a whole number from 1 to"):
            evaluate(instance, database)


def test_the_daily_digest_is_requested_in_batches_too(database, monkeypatch):
    monkeypatch.setenv(BATCH_SIZE_VAR, "2")
    with database.begin() as conn:
        for slug in ("alpha", "beta", "gamma"):
            registry.add_competition(conn, database.tables, slug)
    with instance_for_test() as instance:
        instance.add_dynamic_partitions(competitions_partitions.name, ["alpha", "beta", "gamma"])
        with build_schedule_context(
            instance=instance, scheduled_execution_time=TICK, resources={"database": database}
        ) as context:
            requests = standings_digest_schedule(context)

    assert [r.job_name for r in requests] == [DIGEST_BATCH_JOB, DIGEST_BATCH_JOB]
    assert [r.run_config["ops"][POST_DIGESTS]["config"]["competitions"] for r in requests] == [
        ["alpha", "beta"],
        ["gamma"],
    ]
