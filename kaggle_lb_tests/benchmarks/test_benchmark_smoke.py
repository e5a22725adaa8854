"""The benchmark's code path on a tiny board: every phase reported, and both per-row baselines
write exactly the entries the product writes (the check that they are fair re-implementations)."""

import json

from benchmarks.sync_benchmark import PHASES, main


def test_quick_benchmark_reports_every_phase_and_both_designs_agree(tmp_path):
    output = tmp_path / "bench.json"

    main(["--quick", "--databases", "sqlite", "--output", str(output)])

    (result,) = json.loads(output.read_text())["results"]
    assert set(result["product"]) == {*PHASES, "whole", "unchanged_poll", "keys_refresh"}
    for phase in result["product"].values():
        assert phase["seconds"] > 0 and phase["peak_rss_mb"] > 0
    assert result["keys_build_seconds"] > 0
    counts = result["counts"]
    assert counts["created"] > 0
    for lookup in ("index", "scan"):
        baseline = result["per_row_baseline"][lookup]
        assert not baseline["extrapolated"] and baseline["queries"] > 0
        assert counts[f"same_entries_{lookup}"] is True
    assert counts["unchanged_poll_skips"] is True and counts["unchanged_poll_writes"] == 0
