"""The asset checks through the real pipeline: a bad board fails its check on its competition,
never reaches the table, and leaves the standings byte for byte as they were."""

import pytest
from dagster import AssetCheckKey, AssetKey
from dagster._core.event_api import PartitionKeyFilter

from kaggle_lb.storage import registry
from kaggle_lb_tests.databases import dump_entries
from kaggle_lb_tests.fixtures import fixture_path
from kaggle_lb_tests.pipeline import BAD_BOARDS, BOARD, ROWS


def latest_check(instance, name: str, slug: str = "demo-comp"):
    asset = (
        "raw_leaderboard_csv"
        if name == "required_columns_check"
        else "validated_leaderboard"
        if name in BAD_BOARDS
        else "matched_entries"
    )
    key = AssetCheckKey(AssetKey(asset), name)
    record = instance.event_log_storage.get_latest_asset_check_execution_by_key(
        [key], partition_filter=PartitionKeyFilter(key=slug)
    )[key]
    return record.event.dagster_event.event_specific_data


@pytest.mark.parametrize("check", sorted(BAD_BOARDS))
def test_each_blocking_check_stops_a_bad_board(check, titanic_site, exports):
    before = dump_entries(titanic_site.database)
    (exports / "demo-comp.csv").write_bytes(BAD_BOARDS[check]())

    result = titanic_site(raise_on_error=False)

    assert not result.success
    assert not result.asset_materializations_for_node("matched_entries")
    assert dump_entries(titanic_site.database) == before
    evaluation = latest_check(titanic_site.instance, check)
    assert not evaluation.passed
    assert evaluation.severity.value == "ERROR"
    assert evaluation.metadata["competition"].value == "demo-comp"
    assert evaluation.description
    # Every other check that ran on this board passed: one problem, one failing check.
    failing = [e.check_name for e in result.get_asset_check_evaluations() if not e.passed]
    assert failing == [check]


def test_failing_rows_are_shown_in_the_check_metadata(titanic_site, exports):
    (exports / "demo-comp.csv").write_bytes(BAD_BOARDS["unique_team_ids_check"]())

    titanic_site(raise_on_error=False)

    table = latest_check(titanic_site.instance, "unique_team_ids_check").metadata["offending_rows"].value
    team_id = ROWS[5].split(",")[1]
    assert table.count(team_id) == 2


def test_the_registry_sets_the_score_direction(titanic_site, site):
    # Titanic is accuracy (higher is better); a registry saying "lower" makes the real board fail.
    with site.begin() as conn:
        registry.set_score_direction(conn, site.tables, "demo-comp", "lower")

    titanic_site(raise_on_error=False)

    evaluation = latest_check(titanic_site.instance, "ranks_follow_scores_check")
    assert not evaluation.passed
    assert evaluation.metadata["direction_source"].value == "registry"


def test_healthy_boards_pass_every_check(sync, exports):
    for name in (
        "orbit-wars-publicleaderboard-2026-05-05T15_36_33.csv",
        "sberbank-russian-housing-market-publicleaderboard-2017.csv",
    ):
        (exports / "demo-comp.csv").write_bytes(fixture_path(name).read_bytes())
        result = sync()
        evaluations = result.get_asset_check_evaluations()
        assert len(evaluations) == 10
        assert all(e.passed for e in evaluations), [e.description for e in evaluations if not e.passed]


def test_match_rate_warns_when_most_users_vanish(titanic_site, site, exports):
    with site.begin() as conn:
        # Every matched user renames their Kaggle account on the site but one.
        users = registry.load_users(conn, site.tables)
        registry.import_users(conn, site.tables, [(u, f"renamed-{u}") for u in users["username"][1:]])

    result = titanic_site()

    assert result.success  # a WARN check never stops the write
    evaluation = latest_check(titanic_site.instance, "match_rate_check")
    assert not evaluation.passed and evaluation.severity.value == "WARN"


def test_a_name_several_site_users_claim_credits_none_of_them_and_warns_by_name(sync, site, exports):
    (exports / "demo-comp.csv").write_bytes(BOARD)
    with site.begin() as conn:
        # Anyone can type a top Kaggler's name: alice's own account and three claims of it.
        registry.import_users(conn, site.tables, [("Alice", None), (" alice ", None), ("mallory", "ALICE")])

    result = sync()

    assert result.success  # a WARN check never stops the write
    assert sync.entries() == {"bob": (1, "Team Alpha"), "carol_site": (2, "carol")}
    evaluation = latest_check(sync.instance, "claims_check")
    assert not evaluation.passed and evaluation.severity.value == "WARN"
    assert "'alice' by 'alice', 'Alice', ' alice ', 'mallory'" in evaluation.description
    assert evaluation.metadata["claims"].value == {"alice": ["alice", "Alice", " alice ", "mallory"]}
    (materialization,) = result.asset_materializations_for_node("matched_entries")
    assert materialization.metadata["contested_names"].value == 1
    assert materialization.metadata["claims"].value == {"alice": ["alice", "Alice", " alice ", "mallory"]}

    with site.begin() as conn:  # the site resolves it: the others give the name up
        registry.import_users(conn, site.tables, [("Alice", "alice2"), (" alice ", "alice3"), ("mallory", "mallory")])
    assert sync().success
    assert sync.entries()["alice"] == (1, "Team Alpha")
    assert latest_check(sync.instance, "claims_check").passed
