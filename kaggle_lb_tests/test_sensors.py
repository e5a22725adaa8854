"""The partitions sensor keeps one partition per registered competition."""

from dagster import DagsterInstance, SkipReason, build_sensor_context

from kaggle_lb.ops.leaderboard_batch import BATCH_JOB
from kaggle_lb.partitions import competitions_partitions
from kaggle_lb.run_tags import NEW_COMPETITION, TRIGGER_TAG
from kaggle_lb.sensors import competition_partitions_sensor
from kaggle_lb.storage import registry


def tick(instance, database):
    """Evaluate the sensor and apply its partition requests, as the daemon does."""
    with build_sensor_context(instance=instance, resources={"database": database}) as context:
        result = competition_partitions_sensor(context)
    if isinstance(result, SkipReason):
        return result
    for request in result.dynamic_partitions_requests:
        if request.partition_keys and type(request).__name__ == "AddDynamicPartitionsRequest":
            instance.add_dynamic_partitions(request.partitions_def_name, list(request.partition_keys))
        elif request.partition_keys:
            for key in request.partition_keys:
                instance.delete_dynamic_partition(request.partitions_def_name, key)
    return result


def partitions(instance):
    return sorted(instance.get_dynamic_partitions(competitions_partitions.name))


def test_adds_new_competitions_and_deletes_removed_ones(database):
    with database.begin() as conn:
        registry.add_competition(conn, database.tables, "alpha")
        registry.add_competition(conn, database.tables, "beta")
        registry.set_competition_active(conn, database.tables, "beta", False)
    with DagsterInstance.ephemeral() as instance:
        instance.add_dynamic_partitions(competitions_partitions.name, ["gone"])

        result = tick(instance, database)

        assert partitions(instance) == ["alpha", "beta"]
        # A new active competition is synced at once, by a batch run like the schedule's; an
        # inactive one only gets its partition.
        (request,) = result.run_requests
        assert request.job_name == BATCH_JOB
        assert request.run_config["ops"]["poll_leaderboards"]["config"]["competitions"] == ["alpha"]
        assert request.tags[TRIGGER_TAG] == NEW_COMPETITION

        assert isinstance(tick(instance, database), SkipReason)

        with database.begin() as conn:
            registry.remove_competition(conn, database.tables, "alpha")
        tick(instance, database)
        assert partitions(instance) == ["beta"]
