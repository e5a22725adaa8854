"""The three assets end to end: real Dagster execution, real databases, the real kaggle client."""

import pytest
from dagster import Definitions, execute_job, instance_for_test, reconstructable
from sqlalchemy import Engine, create_engine, event, func, select

from kaggle_lb.assets import leaderboard_assets, leaderboard_checks
from kaggle_lb.jobs import leaderboard_sync_job
from kaggle_lb.polling.fingerprint import board_fingerprint
from kaggle_lb.resources.from_env import resources_from_env
from kaggle_lb.resources.kaggle_api import KaggleApiResource
from kaggle_lb.storage import registry, user_keys
from kaggle_lb_tests.databases import dump_entries
from kaggle_lb_tests.fixtures import fixture_path
from kaggle_lb_tests.pipeline import BOARD, Sync, board, counts


def test_kaggle_download_to_standings_end_to_end(instance, site, fake_kaggle, tmp_path):
    fake_kaggle.set_board("demo-comp", BOARD)
    sync = Sync(instance, site, KaggleApiResource(username="lb-bot", key="not-a-real-key"), tmp_path)

    result = sync()

    assert result.success
    # The download, then the first page of the view, which asks whether a private board exists.
    assert [r.path for r in fake_kaggle.requests] == [
        "/api/v1/competitions.CompetitionApiService/DownloadLeaderboard",
        "/api/v1/competitions.CompetitionApiService/GetLeaderboard",
    ]
    # Every team member credited, matching ignores case, kaggle_username wins over username,
    # the benchmark row never matches.
    assert sync.entries() == {
        "alice": (1, "Team Alpha"),
        "bob": (1, "Team Alpha"),
        "carol_site": (2, "carol"),
    }
    assert counts(result) == {"created": 3, "updated": 0, "unchanged": 0, "removed": 0, "skipped": 2}
    raw = result.asset_materializations_for_node("raw_leaderboard_csv")[0]
    validated = result.asset_materializations_for_node("validated_leaderboard")[0]
    assert validated.metadata["dagster/row_count"].value == 4
    assert result.dagster_run.job_name == "leaderboard_sync_job"
    assert raw.metadata["file_name"].value.startswith("demo-comp-publicleaderboard-")
    # The raw board is stored byte for byte as a readable CSV file.
    assert (tmp_path / "raw" / "raw_leaderboard_csv" / "demo-comp.csv").read_bytes() == BOARD


def test_second_identical_sync_changes_nothing(sync, exports):
    (exports / "demo-comp.csv").write_bytes(BOARD)
    sync()
    before = dump_entries(sync.database)

    result = sync()

    assert counts(result) == {"created": 0, "updated": 0, "unchanged": 3, "removed": 0, "skipped": 2}
    assert dump_entries(sync.database) == before


def test_changed_board_updates_and_removes_stale_entries(sync, exports):
    (exports / "demo-comp.csv").write_bytes(BOARD)
    sync()
    (exports / "demo-comp.csv").write_bytes(
        board(
            '1,102,carol,"2026-11-05 11:00:00",0.97,3,carol',
            '2,104,"Dave Solo","2026-11-03 12:00:00",0.85,7,dave',
            '3,105,"Erin","2026-11-04 09:00:00",0.80,1,erin',
        )
    )

    result = sync()

    assert sync.entries() == {"carol_site": (1, "carol"), "erin": (3, "Erin")}
    assert counts(result) == {"created": 1, "updated": 1, "unchanged": 0, "removed": 2, "skipped": 1}


def test_bad_board_fails_and_leaves_entries_exactly_as_they_were(sync, exports):
    (exports / "demo-comp.csv").write_bytes(BOARD)
    sync()
    before = dump_entries(sync.database)
    (exports / "demo-comp.csv").write_bytes(
        board('1,101,"Team Alpha","2026-11-01 10:00:00",not-a-score,4,alice', '2,102,b,"2026-11-01",0.1,1,bob')
    )

    result = sync(raise_on_error=False)

    assert not result.success
    failure = next(e for e in result.all_events if e.event_type_value == "STEP_FAILURE")
    assert failure.step_key == "validated_leaderboard"
    assert "competition 'demo-comp'" in failure.step_failure_data.user_failure_data.description
    assert not result.asset_materializations_for_node("matched_entries")
    assert dump_entries(sync.database) == before


def test_legacy_export_falls_back_to_team_names(sync, exports, site):
    (exports / "demo-comp.csv").write_bytes(
        fixture_path("sberbank-russian-housing-market-publicleaderboard-2017.csv").read_bytes()
    )
    with site.begin() as conn:
        registry.import_users(conn, site.tables, [("gus", "gustavo"), ("sher", "SHER DIL")])

    sync()

    assert sync.entries() == {"sher": (2, "Sher Dil"), "gus": (3, "Gustavo")}


def test_a_scheduled_poll_of_an_unchanged_board_writes_nothing_and_every_check_passes(sync, exports):
    (exports / "demo-comp.csv").write_bytes(BOARD)
    sync()
    before = dump_entries(sync.database)

    poll = sync(scheduled=True)

    assert counts(poll) == {"created": 0, "updated": 0, "unchanged": 3, "removed": 0, "skipped": 2}
    assert dump_entries(sync.database) == before
    evaluations = poll.get_asset_check_evaluations()
    assert len(evaluations) == 10 and all(e.passed for e in evaluations)  # none left "Skipped"


def test_entries_deleted_from_the_sites_table_come_back_on_the_next_scheduled_poll(sync, exports, site):
    (exports / "demo-comp.csv").write_bytes(BOARD)
    sync()
    before = sync.entries()
    with site.begin() as conn:
        conn.execute(site.tables.entries.delete())

    sync(scheduled=True)

    assert sync.entries() == before
    assert len(dump_entries(site)) == 3


def test_a_removed_and_re_added_competition_starts_with_no_history(sync, exports, site):
    rows = [f'{i},{100 + i},"T{i}","2026-11-01 10:00:00",{1 - i / 100},1,u{i}' for i in range(1, 41)]
    (exports / "demo-comp.csv").write_bytes(board(*rows))
    sync()
    with site.begin() as conn:
        registry.remove_competition(conn, site.tables, "demo-comp")
        registry.add_competition(conn, site.tables, "demo-comp")
    (exports / "demo-comp.csv").write_bytes(BOARD)  # a tenth of the rows: no truncation, a new start

    result = sync()

    assert result.success, [e.description for e in result.get_asset_check_evaluations() if not e.passed]
    assert counts(result)["created"] == 3


def test_a_scheduled_run_credits_a_new_user_once_the_keys_are_refreshed(sync, exports, site):
    (exports / "demo-comp.csv").write_bytes(BOARD)
    sync()
    with site.begin() as conn:
        registry.import_users(conn, site.tables, [("dave_the_second", "dave")])

    before_refresh = sync(scheduled=True)
    refresh = sync.refresh_user_keys()
    after_refresh = sync(scheduled=True)

    assert counts(before_refresh)["created"] == 0
    assert refresh.asset_materializations_for_node("user_match_keys")[0].metadata["added"].value == 1
    assert counts(after_refresh)["created"] == 1
    assert sync.entries()["dave_the_second"] == (3, "Dave Solo")


def test_each_asset_reports_only_itself(sync, exports):
    (exports / "demo-comp.csv").write_bytes(BOARD)
    result = sync()
    keys = {event.asset_key.path[-1] for event in result.all_events if event.asset_key is not None}
    for node in ("raw_leaderboard_csv", "validated_leaderboard", "matched_entries"):
        assert {m.asset_key.path[-1] for m in result.asset_materializations_for_node(node)} == {node}
    assert "user_match_keys" not in keys and not result.asset_observations_for_node("raw_leaderboard_csv")


def test_run_for_a_removed_competition_does_nothing_and_says_so(sync, exports, site):
    (exports / "demo-comp.csv").write_bytes(BOARD)
    with site.begin() as conn:
        registry.remove_competition(conn, site.tables, "demo-comp")

    result = sync()

    assert result.success
    assert not result.asset_materializations_for_node("raw_leaderboard_csv")
    assert not result.asset_materializations_for_node("matched_entries")
    messages = [entry.user_message for entry in sync.instance.all_logs(result.run_id)]
    assert any("competition 'demo-comp' is no longer registered" in m for m in messages)


@pytest.mark.parametrize("when", ["after the download", "before the write"])
def test_a_competition_removed_during_its_sync_ends_it_cleanly(sync, exports, site, tmp_path, when):
    (exports / "demo-comp.csv").write_bytes(BOARD)
    raw_csv = tmp_path / "raw" / "raw_leaderboard_csv" / "demo-comp.csv"
    removed = []

    def remove_the_competition(conn, cursor, statement, parameters, context, executemany):
        if removed or conn.engine.url.database != site.sqlalchemy_url.database:
            return
        # matched_entries' look-up of its competition, the first once the download is stored; or
        # the write's first statement, which takes the competition's lock.
        if (
            statement.lstrip().startswith("INSERT INTO kaggle_lb_syncs")
            if when == "before the write"
            else (raw_csv.exists() and "FROM competitions" in statement)
        ):
            removed.append(statement)
            other = create_engine(site.sqlalchemy_url)  # the operator, on a connection of their own
            try:
                with other.begin() as admin:
                    registry.remove_competition(admin, site.tables, "demo-comp")
            finally:
                other.dispose()

    event.listen(Engine, "before_cursor_execute", remove_the_competition)
    try:
        result = sync(raise_on_error=False)
    finally:
        event.remove(Engine, "before_cursor_execute", remove_the_competition)

    assert removed, "the sync never reached that point"
    assert result.asset_materializations_for_node("raw_leaderboard_csv")
    assert not result.asset_materializations_for_node("matched_entries")
    # A failure that says what happened: an asset with checks cannot end without reporting them.
    assert not result.success
    failure = next(e for e in result.all_events if e.event_type_value == "STEP_FAILURE")
    assert failure.step_key == "matched_entries"
    assert failure.step_failure_data.user_failure_data.description == (
        "competition 'demo-comp' was removed during its sync; nothing written"
    )
    assert not raw_csv.exists()
    assert dump_entries(site) == []
    with site.begin() as conn:
        for table in (site.tables.standings, site.tables.syncs):
            assert conn.execute(select(func.count()).select_from(table)).scalar_one() == 0


def leaderboard_sync_job_from_env():
    """The job as a launched run builds it: resources from the environment, in a fresh process."""
    return Definitions(
        assets=leaderboard_assets,
        asset_checks=leaderboard_checks,
        jobs=[leaderboard_sync_job],
        resources=resources_from_env(),
    ).resolve_job_def(leaderboard_sync_job.name)


def test_launched_run_for_a_deleted_partition_does_nothing_and_says_so(site, exports, monkeypatch, tmp_path):
    # The competition is still registered, but its partition was deleted after the run was queued.
    (exports / "demo-comp.csv").write_bytes(BOARD)
    monkeypatch.setenv("KAGGLE_LB_DATABASE_URL", site.url)
    monkeypatch.setenv("KAGGLE_LB_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("KAGGLE_LB_SOURCE", str(exports))
    with instance_for_test() as instance:
        result = execute_job(
            reconstructable(leaderboard_sync_job_from_env),
            instance=instance,
            tags={"dagster/partition": "demo-comp"},
        )
        messages = [entry.user_message for entry in instance.all_logs(result.run_id)]

    assert result.success
    assert not result.asset_materializations_for_node("raw_leaderboard_csv")
    assert any("competition 'demo-comp' no longer has a partition" in m for m in messages)
    assert dump_entries(site) == []


def test_each_board_is_read_once_per_run(sync, exports, monkeypatch):
    """One reading of the bytes for the whole run: the checks judge the frame the reader built."""
    import pandas as pd
    import pyarrow.csv

    from kaggle_lb.leaderboard import parsing

    readings = []
    for module, name in (
        (parsing, "read_clean_export"),
        (parsing, "parse_text"),
        (pd, "read_csv"),
        (pyarrow.csv, "read_csv"),
    ):
        real = getattr(module, name)
        monkeypatch.setattr(
            module, name, lambda *a, _real=real, _name=name, **k: readings.append(_name) or _real(*a, **k)
        )
    (exports / "demo-comp.csv").write_bytes(BOARD)

    assert sync().success
    assert readings == ["read_clean_export", "read_csv"]  # Arrow's reader, once


def test_a_legacy_board_sorted_by_team_id_syncs_with_the_ranks_kaggle_showed(sync, exports, site):
    header, *rows = (
        fixture_path("sberbank-russian-housing-market-publicleaderboard-2017.csv")
        .read_text(encoding="utf-8-sig")
        .splitlines(keepends=True)
    )
    with site.begin() as conn:
        registry.set_score_direction(conn, site.tables, "demo-comp", "lower")
        registry.import_users(conn, site.tables, [("sherdil", "Sher Dil"), ("gus", "Gustavo")])
    (exports / "demo-comp.csv").write_text(header + "".join(sorted(rows, key=lambda r: int(r.split(",")[0]))))

    assert sync().success
    assert sync.entries()["sherdil"] == (2, "Sher Dil") and sync.entries()["gus"] == (3, "Gustavo")


def test_a_sync_records_what_its_standings_were_computed_from(sync, exports, site):
    """The fingerprint of the board it wrote and the users' key version it matched against, in the
    standings' transaction: what the next batch poll compares its download with."""
    (exports / "demo-comp.csv").write_bytes(BOARD)
    sync()
    changed = BOARD.replace(b"0.95", b"0.96")
    (exports / "demo-comp.csv").write_bytes(changed)
    with site.begin() as conn:
        registry.import_users(conn, site.tables, [("frank", None)])
    sync()

    with site.begin() as conn:
        competition = registry.get_competition(conn, site.tables, "demo-comp")
        recorded = conn.execute(
            select(site.tables.syncs.c.fingerprint, site.tables.syncs.c.key_version).where(
                site.tables.syncs.c.competition_id == competition.id
            )
        ).one()
        key_version = user_keys.read_state(conn, site.tables).version
    assert tuple(recorded) == (board_fingerprint(changed, None, None, site.tables.schema), key_version)
    assert recorded.fingerprint != board_fingerprint(BOARD, None, None, site.tables.schema)
