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


def test_daemon_capacity_runs_every_competition_through_the_daemon_twice(tmp_path):
    from benchmarks import daemon_capacity

    output = tmp_path / "capacity.json"

    # 1,744 rows: a shorter slice of the Titanic export has only top scores, which scores_vary_check
    # rightly blocks.
    daemon_capacity.main(
        ["--competitions", "2", "--rows", "1744", "--users", "1000", "--timeout", "300", "--output", str(output)]
    )

    rounds = json.loads(output.read_text())["rounds"]
    # Every run succeeded (main exits otherwise) and recorded its competition's standings.
    assert rounds["first sync"]["runs"] == rounds["first sync"]["runs_that_wrote"] == 2
    assert rounds["unchanged poll"]["runs"] == rounds["unchanged poll"]["runs_that_wrote"] == 2
    for measured in rounds.values():
        assert measured["wall_seconds"] > 0 and measured["competitions_per_5_minutes"] > 0
