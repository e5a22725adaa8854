"""The shipped instance configurations: the laptop's root dagster.yaml, production's
deploy/dagster.yaml and the Celery deployment's deploy/celery/dagster.yaml share their run queue,
and production's storage resolves to PostgreSQL through psycopg2 from the environment; the
executor comes from the environment. Fast and database-free; test_production.py and
test_celery.py run them for real."""

import re
from urllib.parse import urlsplit

import pytest
import yaml
from dagster import in_process_executor
from dagster._config import process_config
from dagster._core.instance.config import dagster_instance_config
from dagster._core.instance.ref import InstanceRef
from dagster._serdes import serialize_value
from dagster_postgres import DagsterPostgresStorage
from dagster_postgres.utils import pg_url_from_config
from sqlalchemy.engine import make_url

from kaggle_lb.definitions import definitions
from kaggle_lb.errors import ConfigurationError
from kaggle_lb.jobs import executor_from_env
from kaggle_lb.resources.from_env import resources_from_env
from kaggle_lb_tests.e2e.production import REPO_ROOT

ROOT_YAML = REPO_ROOT / "dagster.yaml"
DEPLOY = REPO_ROOT / "deploy"
CELERY_YAML = DEPLOY / "celery" / "dagster.yaml"
# Everything but where the data lives must be the same on a laptop and in production.
SHARED_BLOCKS = ("concurrency", "run_monitoring", "telemetry")


def load(path) -> dict:
    return yaml.safe_load(path.read_text())


def env_vars(node) -> set[str]:
    """The variables a Dagster config reads through `env:`."""
    if isinstance(node, dict):
        found = {node["env"]} if set(node) == {"env"} else set()
        return found.union(*(env_vars(value) for value in node.values()))
    if isinstance(node, list):
        return set().union(*(env_vars(value) for value in node))
    return set()


def test_laptop_and_production_share_the_run_queue_and_settings():
    root, deploy, celery = load(ROOT_YAML), load(DEPLOY / "dagster.yaml"), load(CELERY_YAML)
    for block in SHARED_BLOCKS:
        assert deploy.get(block) == root.get(block), f"`{block}` differs between dagster.yaml and deploy/dagster.yaml"
        assert celery.get(block) == root.get(block), f"`{block}` differs between dagster.yaml and {CELERY_YAML}"
    assert celery["storage"] == deploy["storage"]
    concurrency = root["concurrency"]
    assert concurrency["runs"]["tag_concurrency_limits"] == [
        {"key": "dagster/partition", "value": {"applyLimitPerUniqueValue": True}, "limit": 1}
    ]
    assert concurrency["runs"]["max_concurrent_runs"] >= 1 and concurrency["pools"]["default_limit"] >= 1
    assert root["run_monitoring"]["enabled"] is True and root["telemetry"]["enabled"] is False
    # The laptop's instance is the embedded default: no storage block, so SQLite under DAGSTER_HOME.
    assert "storage" not in root


@pytest.mark.parametrize("directory", [DEPLOY, CELERY_YAML.parent], ids=["deploy", "celery"])
def test_production_storage_is_postgresql_through_psycopg2(monkeypatch, directory):
    config, _ = dagster_instance_config(str(directory))
    postgres = config["storage"]["postgres"]
    variables = {
        "DAGSTER_PG_HOST": "db.internal",
        "DAGSTER_PG_PORT": "6543",
        "DAGSTER_PG_USER": "dagster",
        "DAGSTER_PG_PASSWORD": "p@ss/word",
        "DAGSTER_PG_DB": "dagster",
    }
    for name, value in variables.items():
        monkeypatch.setenv(name, value)

    resolved = process_config(DagsterPostgresStorage.config_type(), postgres)
    assert resolved.success, resolved.errors
    url = make_url(pg_url_from_config(resolved.value))

    assert (url.drivername, url.host, url.port, url.username, url.password, url.database) == (
        "postgresql+psycopg2",
        "db.internal",
        6543,
        "dagster",
        "p@ss/word",
        "dagster",
    )
    # SQLAlchemy 2.1 maps a bare postgresql:// to psycopg 3, which is not installed; this driver is.
    url.get_dialect().import_dbapi()
    # The password is only ever read from the environment.
    assert "p@ss" not in (directory / "dagster.yaml").read_text()


def test_celery_workers_get_the_instance_unresolved_and_the_shared_directory_from_their_own_env(monkeypatch, tmp_path):
    # Every step sent to a worker carries the run's instance reference; the worker opens it.
    monkeypatch.setenv("DAGSTER_PG_PASSWORD", "pg-secret-marker")
    ref = InstanceRef.from_dir(str(CELERY_YAML.parent))
    assert "pg-secret-marker" not in serialize_value(ref)
    for data in (ref.local_artifact_storage_data, ref.compute_logs_data):
        assert yaml.safe_load(data.config_yaml) == {"base_dir": {"env": "DAGSTER_SHARED_DIR"}}
    # A worker resolves the directory where its machine mounts the shared volume.
    monkeypatch.setenv("DAGSTER_SHARED_DIR", str(tmp_path))
    assert ref.local_artifact_storage.storage_dir == str(tmp_path / "storage")


def test_env_example_names_every_variable_and_holds_no_secret():
    example = (DEPLOY / ".env.example").read_text()
    assigned = dict(re.findall(r"^#? ?([A-Z][A-Z0-9_]*)=(.*)$", example, flags=re.MULTILINE))
    assert env_vars(load(DEPLOY / "dagster.yaml")) | env_vars(load(CELERY_YAML)) <= set(assigned)
    for name in ("DAGSTER_HOME", "KAGGLE_LB_DATABASE_URL", "KAGGLE_LB_HOME", "KAGGLE_API_TOKEN", "KAGGLE_KEY"):
        assert name in assigned
    for name in ("DAGSTER_PG_PASSWORD", "KAGGLE_API_TOKEN", "KAGGLE_KEY"):
        assert assigned[name] == "change-me", f"{name} must be a placeholder"
    assert make_url(assigned["KAGGLE_LB_DATABASE_URL"]).password == "change-me"
    for name in ("CELERY_BROKER_URL", "CELERY_RESULT_BACKEND"):
        assert urlsplit(assigned[name]).password == "change-me", f"{name} must hold a placeholder password"
    # Every setting the product reads is listed (the quality thresholds may stay commented out).
    read = {
        name
        for path in (REPO_ROOT / "kaggle_lb").rglob("*.py")
        for name in re.findall(r"[\"']((?:KAGGLE|DAGSTER)_[A-Z0-9_]+)[\"']", path.read_text())
    }
    assert read <= set(assigned), f"missing from .env.example: {sorted(read - set(assigned))}"


def test_systemd_units_run_the_webserver_and_the_daemon_on_the_same_environment():
    units = {name: (DEPLOY / "systemd" / f"kaggle-lb-{name}.service").read_text() for name in ("webserver", "daemon")}
    commands = {name: re.search(r"^ExecStart=(.*)$", unit, re.MULTILINE).group(1) for name, unit in units.items()}
    assert commands["webserver"].split()[0].endswith("/.venv/bin/dagster-webserver")
    assert "-w workspace.yaml" in commands["webserver"]
    assert commands["daemon"].split()[0].endswith("/.venv/bin/dagster-daemon")
    assert commands["daemon"].split()[1:] == ["run", "-w", "workspace.yaml"]
    environment_files = {re.search(r"^EnvironmentFile=(.*)$", unit, re.MULTILINE).group(1) for unit in units.values()}
    assert len(environment_files) == 1


def test_celery_worker_unit_runs_the_dagster_celery_app_on_the_same_install_and_environment():
    systemd = DEPLOY / "systemd"
    units = {path.name: path.read_text() for path in systemd.glob("kaggle-lb-*.service")}
    worker = units["kaggle-lb-celery-worker@.service"]
    for setting in ("User", "WorkingDirectory", "EnvironmentFile"):
        values = {re.search(rf"^{setting}=(.*)$", unit, re.MULTILINE).group(1) for unit in units.values()}
        assert len(values) == 1, f"the units differ in {setting}: {values}"
    command = re.search(r"^ExecStart=(.*)$", worker, re.MULTILINE).group(1).split()
    assert command[0].endswith("/.venv/bin/celery")
    assert command[1:4] == ["--app", "dagster_celery.app", "worker"]
    assert command[command.index("--hostname") + 1] == "%i@%%h"  # one name per unit instance
    # A stop reaches the worker alone, which finishes its running steps.
    assert re.search(r"^KillMode=mixed$", worker, re.MULTILINE)


def executors() -> dict[str, str]:
    """The executor of each job that takes the Definitions' (the asset graph's own job too)."""
    defs = definitions(resources_from_env())
    jobs = [
        defs.resolve_job_def(name) for name in ("leaderboard_sync_job", "leaderboard_batch_job", "user_match_keys_job")
    ]
    return {job.name: job.executor_def.name for job in [*jobs, defs.resolve_implicit_global_asset_job_def()]}


def test_runs_execute_in_process_unless_the_deployment_chooses_celery(monkeypatch):
    for name in ("KAGGLE_LB_EXECUTOR", "CELERY_BROKER_URL", "CELERY_RESULT_BACKEND"):
        monkeypatch.delenv(name, raising=False)
    assert executor_from_env() is in_process_executor
    assert set(executors().values()) == {"in_process"}
    monkeypatch.setenv("KAGGLE_LB_EXECUTOR", "in_process")
    assert executor_from_env() is in_process_executor

    monkeypatch.setenv("KAGGLE_LB_EXECUTOR", "celery")
    with pytest.raises(ConfigurationError, match="needs CELERY_BROKER_URL and CELERY_RESULT_BACKEND"):
        executor_from_env()
    monkeypatch.setenv("CELERY_BROKER_URL", "redis://:change-me@redis.internal:6379/3")
    monkeypatch.setenv("CELERY_RESULT_BACKEND", "redis://:change-me@redis.internal:6379/3")
    assert set(executors().values()) == {"celery"}

    monkeypatch.setenv("KAGGLE_LB_EXECUTOR", "dask")
    with pytest.raises(ConfigurationError, match="KAGGLE_LB_EXECUTOR=dask: expected in_process"):
        executor_from_env()


def test_kubernetes_values_keep_the_run_queue_pool_and_settings_of_production():
    values, deploy = load(DEPLOY / "kubernetes" / "values.yaml"), load(DEPLOY / "dagster.yaml")
    runs, pools = deploy["concurrency"]["runs"], deploy["concurrency"]["pools"]
    assert values["concurrency"] == {
        "enabled": True,
        "runs": {
            "maxConcurrentRuns": runs["max_concurrent_runs"],
            "tagConcurrencyLimits": runs["tag_concurrency_limits"],
        },
        "pools": {"defaultLimit": pools["default_limit"], "granularity": pools["granularity"]},
    }
    assert values["dagsterDaemon"]["runMonitoring"]["enabled"] is deploy["run_monitoring"]["enabled"] is True
    assert values["telemetry"]["enabled"] is deploy["telemetry"]["enabled"] is False
    assert values["postgresql"]["postgresqlScheme"] == deploy["storage"]["postgres"]["postgres_db"]["scheme"]
    (code,) = values["dagster-user-deployments"]["deployments"]
    assert code["dagsterApiGrpcArgs"] == ["-m", "kaggle_lb.definitions"]
    assert values["runLauncher"]["type"] == "K8sRunLauncher"
    # Secrets only by the name of a Kubernetes Secret.
    assert values["generatePostgresqlPasswordSecret"] is False and "postgresqlPassword" not in values["postgresql"]
    assert code["envSecrets"] == values["runLauncher"]["config"]["k8sRunLauncher"]["envSecrets"]
