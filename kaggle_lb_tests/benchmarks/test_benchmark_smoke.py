"""The benchmark's code path on a tiny board: every phase reported, and the per-row baseline
writes exactly the entries the product writes (the check that it is a fair re-implementation)."""

import json

from benchmarks.sync_benchmark import PHASES, main


def test_quick_benchmark_reports_every_phase_and_both_designs_agree(tmp_path):
    output = tmp_path / "bench.json"

    main(["--quick", "--databases", "sqlite", "--output", str(output)])

    (result,) = json.loads(output.read_text())["results"]
    assert set(result["product"]) == {*PHASES, "whole", "unchanged_poll"}
    for phase in result["product"].values():
        assert phase["seconds"] > 0 and phase["peak_rss_mb"] > 0
    baseline = result["per_row_baseline"]
    assert not baseline["extrapolated"] and baseline["queries"] > 0
    counts = result["counts"]
    assert counts["created"] > 0
    assert counts["same_entries"] is True
    assert counts["unchanged_poll_skips"] is True and counts["unchanged_poll_writes"] == 0
