"""The one Definitions object: what `dagster dev` and the daemon load from workspace.yaml."""

import subprocess
import sys
from pathlib import Path

from dagster import AssetKey, DefaultScheduleStatus, DefaultSensorStatus

from kaggle_lb.definitions import defs

REPO = Path(__file__).resolve().parents[1]


def test_lineage_is_raw_then_validated_then_matched_with_the_user_keys():
    graph = defs.resolve_asset_graph()
    assert graph.get(AssetKey("validated_leaderboard")).parent_keys == {AssetKey("raw_leaderboard_csv")}
    assert graph.get(AssetKey("matched_entries")).parent_keys == {
        AssetKey("validated_leaderboard"),
        AssetKey("user_match_keys"),
    }
    for key in ("raw_leaderboard_csv", "validated_leaderboard", "matched_entries"):
        assert graph.get(AssetKey(key)).partitions_def.name == "competitions"
    assert graph.get(AssetKey("user_match_keys")).partitions_def is None


def test_download_runs_in_the_kaggle_api_pool():
    assert defs.resolve_assets_def("raw_leaderboard_csv").op.pool == "kaggle_api"


def test_schedules_and_sensor_run_by_default():
    for name in ("leaderboard_sync_schedule", "user_match_keys_schedule"):
        schedule = defs.resolve_schedule_def(name)
        assert schedule.cron_schedule == "*/5 * * * *"
        assert schedule.default_status == DefaultScheduleStatus.RUNNING
    assert defs.resolve_schedule_def("user_match_keys_schedule").job_name == "user_match_keys_job"
    assert defs.resolve_sensor_def("competition_partitions_sensor").default_status == DefaultSensorStatus.RUNNING


def test_validated_leaderboard_shows_its_schema_in_the_ui():
    spec = defs.resolve_assets_def("validated_leaderboard").specs_by_key[AssetKey("validated_leaderboard")]
    columns = [column.name for column in spec.metadata["dagster/column_schema"].columns]
    assert columns[:3] == ["rank", "team_id", "team_name"]


def test_dagster_cli_validates_the_workspace(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "dagster", "definitions", "validate", "-w", "workspace.yaml"],
        cwd=REPO,
        capture_output=True,
        text=True,
        env={"PATH": "", "DAGSTER_HOME": str(tmp_path), "HOME": str(tmp_path)},
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    assert "Validation successful for code location kaggle_lb" in result.stderr + result.stdout


def test_dg_checks_the_same_definitions(tmp_path):
    (tmp_path / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    result = subprocess.run(
        [str(Path(sys.executable).parent / "dg"), "check", "defs"],
        cwd=REPO,
        capture_output=True,
        text=True,
        env={"PATH": str(Path(sys.executable).parent), "DAGSTER_HOME": str(tmp_path), "HOME": str(tmp_path)},
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "All definitions loaded successfully" in result.stdout + result.stderr


def test_the_product_uses_only_dagsters_public_api():
    private = [
        f"{path.relative_to(REPO)}:{number}"
        for path in (REPO / "kaggle_lb").rglob("*.py")
        for number, line in enumerate(path.read_text().splitlines(), start=1)
        if "dagster._" in line or "dagster_postgres._" in line
    ]
    assert private == []
