"""leaderboard_batch_job: many competitions per run, a sync run only for each board that needs one,
each competition's runs, materializations and checks its own."""

import pytest
from dagster import AssetKey, AssetRecordsFilter, DagsterEventType, DagsterRunStatus, RunsFilter
from sqlalchemy import select

from kaggle_lb.jobs import leaderboard_sync_job
from kaggle_lb.resources.kaggle_api import KaggleApiResource
from kaggle_lb.run_tags import BATCH_TAG
from kaggle_lb.storage import polls, registry
from kaggle_lb_tests.databases import dump_entries
from kaggle_lb_tests.fake_kaggle import DOWNLOAD_LEADERBOARD_PATH, GET_LEADERBOARD_PATH
from kaggle_lb_tests.pipeline import BAD_BOARDS, BOARD, Sync, board

RAW = AssetKey("raw_leaderboard_csv")
MATCHED = AssetKey("matched_entries")
OTHER = board(
    '1,201,"Erin Solo","2026-11-01 10:00:00",0.99,3,erin',
    '2,202,"Someone","2026-11-02 11:00:00",0.80,1,someone',
)
SLUGS = ("demo-comp", "second", "third")


@pytest.fixture
def three(sync, site, exports):
    """Three registered competitions with boards in the exports directory."""
    with site.begin() as conn:
        registry.add_competition(conn, site.tables, "second")
        registry.add_competition(conn, site.tables, "third")
    (exports / "demo-comp.csv").write_bytes(BOARD)
    (exports / "second.csv").write_bytes(OTHER)
    (exports / "third.csv").write_bytes(BOARD)
    sync.refresh_user_keys()
    return sync


def sync_runs(sync: Sync, batch) -> dict[str, DagsterRunStatus]:
    """The sync runs the batch started: competition -> status."""
    records = sync.instance.get_run_records(
        RunsFilter(job_name=leaderboard_sync_job.name, tags={BATCH_TAG: batch.run_id})
    )
    return {r.dagster_run.tags["dagster/partition"]: r.dagster_run.status for r in records}


def observed(sync: Sync, slug: str) -> int:
    records = sync.instance.fetch_observations(AssetRecordsFilter(asset_key=RAW, asset_partitions=[slug]), limit=100)
    return len(records.records)


def materialized(sync: Sync, slug: str) -> int:
    records = sync.instance.fetch_materializations(
        AssetRecordsFilter(asset_key=MATCHED, asset_partitions=[slug]), limit=100
    )
    return len(records.records)


def metadata(result, op: str) -> dict:
    (output,) = [e for e in result.all_events if e.is_successful_output and e.step_key == op]
    return {key: value.value for key, value in output.step_output_data.metadata.items()}


def test_a_first_batch_syncs_every_competition_in_a_run_of_its_own(three):
    batch = three.batch(*SLUGS)

    assert batch.success
    assert sync_runs(three, batch) == {slug: DagsterRunStatus.SUCCESS for slug in SLUGS}
    assert {slug: materialized(three, slug) for slug in SLUGS} == {slug: 1 for slug in SLUGS}
    assert three.entries("demo-comp") == {
        "alice": (1, "Team Alpha"),
        "bob": (1, "Team Alpha"),
        "carol_site": (2, "carol"),
    }
    assert three.entries("second") == {"erin": (1, "Erin Solo")}
    assert metadata(batch, "poll_leaderboards")["to_sync"] == 3
    assert metadata(batch, "sync_changed_leaderboards")["synced"] == 3


def test_unchanged_boards_start_no_run_and_are_observed_and_confirmed(three, site):
    three.batch(*SLUGS)
    before = dump_entries(site)

    again = three.batch(*SLUGS)

    assert again.success
    assert sync_runs(three, again) == {}
    assert {slug: materialized(three, slug) for slug in SLUGS} == {slug: 1 for slug in SLUGS}
    assert {slug: observed(three, slug) for slug in SLUGS} == {slug: 1 for slug in SLUGS}
    assert dump_entries(site) == before
    poll = metadata(again, "poll_leaderboards")
    assert (poll["polled"], poll["unchanged"], poll["to_sync"]) == (3, 3, 0)
    with site.begin() as conn:
        ids = [registry.get_competition(conn, site.tables, slug).id for slug in SLUGS]
        confirmed = polls.confirmations(conn, site.tables, ids)
        checked = polls.last_checked(conn, site.tables)
    assert sorted(confirmed) == sorted(ids)
    assert all(checked[i] == confirmed[i].confirmed_at for i in ids)


def test_only_the_changed_board_is_synced(three, exports):
    three.batch(*SLUGS)
    (exports / "second.csv").write_bytes(OTHER.replace(b"0.99", b"0.995"))

    again = three.batch(*SLUGS)

    assert sync_runs(three, again) == {"second": DagsterRunStatus.SUCCESS}
    assert metadata(again, "poll_leaderboards")["unchanged"] == 2


def test_a_failing_board_fails_its_own_run_and_the_others_are_written(three, exports, site):
    three.batch(*SLUGS)
    standings_before = three.entries("demo-comp")
    (exports / "demo-comp.csv").write_bytes(BOARD + BOARD.split(b"\n", 1)[1])  # every TeamId twice
    (exports / "second.csv").write_bytes(OTHER.replace(b"0.99", b"0.995"))
    (exports / "third.csv").unlink()  # its download fails

    failing = three.batch(*SLUGS)

    assert failing.success, "the batch goes on and reports the failures by name"
    assert sync_runs(three, failing) == {
        "demo-comp": DagsterRunStatus.FAILURE,
        "second": DagsterRunStatus.SUCCESS,
        "third": DagsterRunStatus.FAILURE,
    }
    assert three.entries("demo-comp") == standings_before
    sync_meta = metadata(failing, "sync_changed_leaderboards")
    assert (sync_meta["synced"], sync_meta["failed"]) == (1, 2)
    listed = sync_meta["failed_runs"].replace("\\", "")  # Markdown, escaped
    assert (
        "demo-comp | unique_team_ids_check" in listed and "third | competition 'third': no leaderboard export" in listed
    )

    # The good board is back: its standings are still from it, but its last run failed, so it
    # runs once more, and its checks and alerts recover; the missing board fails again, by name.
    (exports / "demo-comp.csv").write_bytes(BOARD)
    recovered = three.batch(*SLUGS)
    assert sync_runs(three, recovered) == {"demo-comp": DagsterRunStatus.SUCCESS, "third": DagsterRunStatus.FAILURE}
    assert sync_runs(three, three.batch(*SLUGS)) == {"third": DagsterRunStatus.FAILURE}


@pytest.mark.parametrize("check", ["unique_team_ids_check", "scores_vary_check", "required_columns_check"])
def test_a_board_failing_a_blocking_check_is_not_written(titanic_site, exports, check):
    """The checks of a batch's sync run are the same blocking checks as ever."""
    before = titanic_site.entries()
    (exports / "demo-comp.csv").write_bytes(BAD_BOARDS[check]())

    result = titanic_site.batch("demo-comp")

    assert sync_runs(titanic_site, result) == {"demo-comp": DagsterRunStatus.FAILURE}
    evaluations = [
        entry.asset_check_evaluation
        for record in titanic_site.instance.get_run_records(RunsFilter(tags={BATCH_TAG: result.run_id}))
        for entry in titanic_site.instance.all_logs(
            record.dagster_run.run_id, of_type=DagsterEventType.ASSET_CHECK_EVALUATION
        )
    ]
    assert [(e.check_name, e.passed, e.partition) for e in evaluations if not e.passed] == [(check, False, "demo-comp")]
    assert titanic_site.entries() == before


def test_a_user_the_board_names_is_credited_at_the_next_batch_after_the_keys_refresh(three, site):
    three.batch(*SLUGS)
    with site.begin() as conn:
        # "someone" is on the second board; "nobody" on no board.
        registry.import_users(conn, site.tables, [("someone", None), ("nobody", None)])
    three.refresh_user_keys()

    after = three.batch(*SLUGS)

    assert sync_runs(three, after) == {"second": DagsterRunStatus.SUCCESS}
    assert three.entries("second") == {"erin": (1, "Erin Solo"), "someone": (2, "Someone")}
    # Confirmed at the new key version: the next batch does not look again.
    assert sync_runs(three, three.batch(*SLUGS)) == {}


def test_a_user_who_changes_their_kaggle_name_is_dropped_from_the_boards_that_credited_them(three, site):
    three.batch(*SLUGS)
    with site.begin() as conn:
        registry.import_users(conn, site.tables, [("carol_site", "carol-renamed")])
    three.refresh_user_keys()

    after = three.batch(*SLUGS)

    assert sync_runs(three, after) == {"demo-comp": DagsterRunStatus.SUCCESS, "third": DagsterRunStatus.SUCCESS}
    assert "carol_site" not in three.entries("demo-comp")


def test_a_row_the_site_deleted_comes_back_at_the_next_batch(three, site):
    three.batch(*SLUGS)
    before = three.entries("second")
    with site.begin() as conn:
        conn.execute(site.tables.entries.delete().where(site.tables.entries.c.user_id.in_(select(site.tables.user_id))))

    after = three.batch("second")

    assert sync_runs(three, after) == {"second": DagsterRunStatus.SUCCESS}
    assert three.entries("second") == before


def test_a_competition_with_a_sync_run_in_flight_is_left_to_it(three, exports):
    """One run at a time per competition: a sync run of it going on (from the UI, say) syncs it."""
    three.batch(*SLUGS)
    (exports / "second.csv").write_bytes(OTHER.replace(b"0.99", b"0.995"))
    three.instance.create_run_for_job(
        three.defs.resolve_job_def(leaderboard_sync_job.name),
        status=DagsterRunStatus.STARTED,
        tags={"dagster/partition": "second"},
    )

    result = three.batch(*SLUGS)

    assert sync_runs(three, result) == {}
    poll = metadata(result, "poll_leaderboards")
    assert poll["polled"] == 2 and poll["skipped"] == 1 and "second" in poll["skipped_by_reason"]


def test_kaggle_is_asked_once_per_board_and_batch(instance, site, fake_kaggle, tmp_path):
    with site.begin() as conn:
        registry.add_competition(conn, site.tables, "second")
    fake_kaggle.set_board("demo-comp", BOARD)
    fake_kaggle.set_board("second", OTHER)
    sync = Sync(instance, site, KaggleApiResource(username="lb-bot", key="not-a-real-key"), tmp_path)
    sync.refresh_user_keys()

    first = sync.batch("demo-comp", "second")
    asked_first = [(r.path, r.body["competitionName"]) for r in fake_kaggle.requests]
    fake_kaggle.requests.clear()
    again = sync.batch("demo-comp", "second")

    assert sync_runs(sync, first) == {"demo-comp": DagsterRunStatus.SUCCESS, "second": DagsterRunStatus.SUCCESS}
    expected = [
        (path, slug) for slug in ("demo-comp", "second") for path in (DOWNLOAD_LEADERBOARD_PATH, GET_LEADERBOARD_PATH)
    ]
    # The sync runs read the polled board: no second download.
    assert asked_first == expected
    assert sync_runs(sync, again) == {}
    assert [(r.path, r.body["competitionName"]) for r in fake_kaggle.requests] == expected
