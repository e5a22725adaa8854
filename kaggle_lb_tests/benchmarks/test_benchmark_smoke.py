"""The benchmark's code path on a tiny board: every phase reported, and both per-row baselines
write exactly the entries the product writes (the check that they are fair re-implementations)."""

import json

from benchmarks.sync_benchmark import PHASES, main


def test_quick_benchmark_reports_every_phase_and_both_designs_agree(tmp_path):
    output = tmp_path / "bench.json"

    main(["--quick", "--databases", "sqlite", "--output", str(output)])

    (result,) = json.loads(output.read_text())["results"]
    assert set(result["product"]) == {*PHASES, "whole", "keys_refresh"}
    for phase in result["product"].values():
        assert phase["seconds"] > 0 and phase["peak_rss_mb"] > 0
    assert result["keys_build_seconds"] > 0
    counts = result["counts"]
    assert counts["created"] > 0
    for lookup in ("index", "scan"):
        baseline = result["per_row_baseline"][lookup]
        assert not baseline["extrapolated"] and baseline["queries"] > 0
        assert counts[f"same_entries_{lookup}"] is True


def test_daemon_capacity_measures_both_paths_through_the_daemon(tmp_path):
    """Three competitions: the batched first sync writes every one in its own sync run, the batched
    tick syncs only the changed board, the per-competition tick runs one process per competition."""
    import os

    import pytest

    from benchmarks import daemon_capacity
    from kaggle_lb_tests.postgres import POSTGRES_URL_VAR

    if not os.environ.get(POSTGRES_URL_VAR):
        pytest.skip(f"{POSTGRES_URL_VAR} is not set: the capacity benchmark runs on PostgreSQL only")
    output = tmp_path / "capacity.json"

    daemon_capacity.main(["--competitions", "3", "--users", "500", "--window", "240", "--output", str(output)])

    rounds = json.loads(output.read_text())["by_competitions"]["3"]
    # Every run succeeded (main exits otherwise).
    first, tick, per_competition = (
        rounds["batched, first sync"],
        rounds["batched, tick"],
        rounds["per competition, tick"],
    )
    assert (first["runs_launched"], first["sync_runs"], first["competitions_fresh"]) == (1, 3, 3)
    assert (tick["runs_launched"], tick["sync_runs"], tick["competitions_fresh"]) == (1, 1, 3)
    # What the UI shows was read for the changed board and both unchanged ones (main exits otherwise).
    assert tick["ui_sample"]["changed"] == 1 and tick["ui_sample"]["unchanged"] == 2
    assert tick["ui_sample"]["checks"] > 0
    assert per_competition["runs_launched"] == per_competition["sync_runs"] == 3
    assert not per_competition["stopped_at_window"]
    for measured in rounds.values():
        assert measured["wall_seconds"] > 0 and measured["cpu_seconds_per_competition"] > 0
