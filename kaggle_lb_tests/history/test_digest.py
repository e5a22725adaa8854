"""standings_digest through real Dagster runs, posting with Apprise to a local JSON receiver:
once a period, with the movers, and nothing when nothing changed."""

import pytest
from dagster import RunConfig, RunsFilter

from kaggle_lb.assets import digest as digest_asset
from kaggle_lb.ops.batches import BatchConfig
from kaggle_lb.ops.digest_batch import DIGEST_BATCH_JOB, POST_DIGESTS
from kaggle_lb.quality.digest import build_digest
from kaggle_lb.resources.alerts import DigestResource
from kaggle_lb.resources.leaderboard_source import LocalExportsResource
from kaggle_lb.run_tags import BATCH_TAG
from kaggle_lb.storage import registry
from kaggle_lb.sync import QUIET
from kaggle_lb_tests.history.test_history import BOARDS
from kaggle_lb_tests.pipeline import Sync
from kaggle_lb_tests.quality.test_alerts import receiver  # noqa: F401 (a fixture)


@pytest.fixture
def digest_sync(instance, site, exports, tmp_path, receiver, monkeypatch):  # noqa: F811
    sync = Sync(
        instance,
        site,
        LocalExportsResource(directory=str(exports)),
        tmp_path,
        digest=DigestResource(urls=receiver.apprise_url, top=3),
    )
    day = {"period": "2026-12-01"}
    monkeypatch.setattr(digest_asset, "period_of", lambda moment: day["period"])
    sync.day = day
    return sync


def undeliverable(sync, exports):
    """The same site and instance with a digest destination that refuses every post."""
    return Sync(
        sync.instance,
        sync.database,
        sync.source,
        exports.parent,
        digest=DigestResource(urls="json://127.0.0.1:9/nowhere"),
    )


def post_digest(sync):
    """A standings_digest_job run, as the daily schedule asks for one."""
    result = sync.defs.resolve_job_def("standings_digest_job").execute_in_process(
        partition_key="demo-comp", instance=sync.instance
    )
    assert result.success
    (materialization,) = result.asset_materializations_for_node("standings_digest")
    return materialization.metadata


def test_the_digest_is_sent_once_a_period_with_the_movers_and_not_when_nothing_changed(
    digest_sync,
    exports,
    receiver,  # noqa: F811
):
    (exports / "demo-comp.csv").write_bytes(BOARDS[0])
    digest_sync()
    assert post_digest(digest_sync)["sent"].value is True
    (first,) = receiver.take()
    assert first["title"] == "Demo: standings, 2026-12-01"
    message = first["message"]
    assert "## Top 3" in message and "1\\. alice — 0\\.95" in message
    assert "## New on the board" in message and "- carol\\_site at 2" in message
    assert "Biggest movers" not in message

    # The same day again, after another sync that changed nothing: nothing is sent.
    digest_sync()
    assert post_digest(digest_sync)["why"].value == "already sent for 2026-12-01"
    digest_sync.day["period"] = "2026-12-02"
    assert post_digest(digest_sync)["why"].value == "nothing changed"
    assert receiver.take() == []

    (exports / "demo-comp.csv").write_bytes(BOARDS[1])
    digest_sync()
    (exports / "demo-comp.csv").write_bytes(BOARDS[2])
    digest_sync()
    # A fresh set of definitions, as after a daemon restart: the state is in kaggle_lb_digests.
    restarted = Sync(
        digest_sync.instance,
        digest_sync.database,
        digest_sync.source,
        exports.parent,
        digest=DigestResource(urls=receiver.apprise_url, top=3),
    )
    assert post_digest(restarted)["sent"].value is True
    (second,) = receiver.take()
    assert second["title"] == "Demo: standings, 2026-12-02"
    movers = second["message"].split("## Biggest movers")[1].split("##")[0]
    # Over the two syncs: carol up from 2 to 1, the team down from 1 to 2, erin gone.
    assert movers.strip().splitlines() == ["- alice ▼1 (1 → 2)", "- bob ▼1 (1 → 2)", "- carol\\_site ▲1 (2 → 1)"]
    assert "## Dropped out" in second["message"] and "- erin (was 3)" in second["message"]
    assert "New on the board" not in second["message"]
    assert post_digest(restarted)["why"].value == "already sent for 2026-12-02"
    assert receiver.take() == []


def test_an_undelivered_digest_is_sent_by_the_next_run(digest_sync, exports, receiver):  # noqa: F811
    (exports / "demo-comp.csv").write_bytes(BOARDS[0])
    digest_sync()
    unreachable = undeliverable(digest_sync, exports)
    failed = unreachable.defs.resolve_job_def("standings_digest_job").execute_in_process(
        partition_key="demo-comp", instance=unreachable.instance, raise_on_error=False
    )
    assert not failed.success
    assert post_digest(digest_sync)["sent"].value is True
    assert len(receiver.take()) == 1


def test_board_text_is_escaped_and_the_private_board_is_announced():
    standings = [{"rank": 1, "username": "[x](http://evil)", "score": 0.5}]
    changes = [{"username": "[x](http://evil)", "change": "moved", "old_rank": 2, "new_rank": 1, "board": "private"}]
    digest = build_digest("*Comp*", "2026-12-01", standings, changes, top=10, previous_board="public")
    assert "\\[x\\]\\(http://evil\\)" in digest.body and "](http" not in digest.body
    assert digest.body.startswith("# \\*Comp\\*: standings")
    assert "Final standings: Kaggle's private board" in digest.body
    again = build_digest("Comp", "2026-12-02", standings, changes, top=10, previous_board="private")
    assert "Final standings" not in again.body


def digest_batch(sync, *slugs: str):
    """A standings_digest_batch_job run, as the daily schedule asks for one per batch."""
    return sync.defs.resolve_job_def(DIGEST_BATCH_JOB).execute_in_process(
        instance=sync.instance,
        run_config=RunConfig(ops={POST_DIGESTS: BatchConfig(competitions=list(slugs))}, loggers=QUIET["loggers"]),
    )


def test_the_daily_batch_posts_each_competitions_digest_in_a_run_of_its_own(
    digest_sync,
    site,
    exports,
    receiver,  # noqa: F811
):
    with site.begin() as conn:
        registry.add_competition(conn, site.tables, "second", "Second")
    for slug in ("demo-comp", "second"):
        (exports / f"{slug}.csv").write_bytes(BOARDS[0])
    digest_sync.refresh_user_keys()
    digest_sync.batch("demo-comp", "second")

    batch = digest_batch(digest_sync, "demo-comp", "second")

    assert batch.success
    runs = digest_sync.instance.get_run_records(RunsFilter(tags={BATCH_TAG: batch.run_id}))
    assert sorted((r.dagster_run.job_name, r.dagster_run.tags["dagster/partition"]) for r in runs) == [
        ("standings_digest_job", "demo-comp"),
        ("standings_digest_job", "second"),
    ]
    assert sorted(message["title"] for message in receiver.take()) == [
        "Demo: standings, 2026-12-01",
        "Second: standings, 2026-12-01",
    ]
    (output,) = [e for e in batch.all_events if e.is_successful_output]
    assert output.step_output_data.metadata["sent"].value == 2
    # The same day again: each run says why nothing is sent, and the batch counts them.
    again = digest_batch(digest_sync, "demo-comp", "second")
    (output,) = [e for e in again.all_events if e.is_successful_output]
    counted = output.step_output_data.metadata
    assert (counted["sent"].value, counted["nothing_to_send"].value) == (0, 2)
    assert receiver.take() == []


def test_a_digest_that_cannot_be_delivered_fails_its_own_run_and_the_batch_goes_on(
    digest_sync,
    site,
    exports,
    receiver,  # noqa: F811
):
    (exports / "demo-comp.csv").write_bytes(BOARDS[0])
    digest_sync()
    unreachable = undeliverable(digest_sync, exports)

    batch = digest_batch(unreachable, "demo-comp")

    assert batch.success
    (output,) = [e for e in batch.all_events if e.is_successful_output]
    assert output.step_output_data.metadata["failed"].value == 1
    assert "could not be delivered" in output.step_output_data.metadata["failed_runs"].value.replace("\\", "")
