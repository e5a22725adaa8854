"""The 5-minute schedule: one run request per active competition that has a partition."""

from datetime import UTC, datetime

from dagster import RunRequest, SkipReason, build_schedule_context, instance_for_test

from kaggle_lb.assets.leaderboard import SCHEDULED, TRIGGER_TAG
from kaggle_lb.partitions import competitions_partitions
from kaggle_lb.schedules import leaderboard_sync_schedule
from kaggle_lb.storage import registry

TICK = datetime(2026, 11, 28, 10, 5, tzinfo=UTC)


def evaluate(instance, database):
    with build_schedule_context(
        instance=instance, scheduled_execution_time=TICK, resources={"database": database}
    ) as context:
        return leaderboard_sync_schedule(context)


def test_requests_one_run_per_active_partitioned_competition(database):
    with database.begin() as conn:
        for slug in ("alpha", "beta", "gamma", "delta"):
            registry.add_competition(conn, database.tables, slug)
        registry.set_competition_active(conn, database.tables, "beta", False)
    with instance_for_test() as instance:
        # "delta" is registered but its partition does not exist yet: it must not fail the tick.
        instance.add_dynamic_partitions(competitions_partitions.name, ["alpha", "beta", "gamma", "stale"])

        requests = evaluate(instance, database)

    assert all(isinstance(r, RunRequest) for r in requests)
    assert sorted(r.partition_key for r in requests) == ["alpha", "gamma"]
    assert len({r.run_key for r in requests}) == 2
    assert all(TICK.isoformat() in r.run_key for r in requests)
    assert all(r.tags[TRIGGER_TAG] == SCHEDULED for r in requests)


def test_skips_when_nothing_is_active(database):
    with instance_for_test() as instance:
        assert isinstance(evaluate(instance, database), SkipReason)
