"""The shipped instance configurations: the laptop's root dagster.yaml and production's
deploy/dagster.yaml share their run queue, and production's storage resolves to PostgreSQL through
psycopg2 from the environment. Fast and database-free; test_production.py runs them for real."""

import re

import yaml
from dagster._config import process_config
from dagster._core.instance.config import dagster_instance_config
from dagster_postgres import DagsterPostgresStorage
from dagster_postgres.utils import pg_url_from_config
from sqlalchemy.engine import make_url

from kaggle_lb_tests.e2e.production import REPO_ROOT

ROOT_YAML = REPO_ROOT / "dagster.yaml"
DEPLOY = REPO_ROOT / "deploy"
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
    root, deploy = load(ROOT_YAML), load(DEPLOY / "dagster.yaml")
    for block in SHARED_BLOCKS:
        assert deploy.get(block) == root.get(block), f"`{block}` differs between dagster.yaml and deploy/dagster.yaml"
    concurrency = root["concurrency"]
    assert concurrency["runs"]["tag_concurrency_limits"] == [
        {"key": "dagster/partition", "value": {"applyLimitPerUniqueValue": True}, "limit": 1}
    ]
    assert concurrency["runs"]["max_concurrent_runs"] >= 1 and concurrency["pools"]["default_limit"] >= 1
    assert root["run_monitoring"]["enabled"] is True and root["telemetry"]["enabled"] is False
    # The laptop's instance is the embedded default: no storage block, so SQLite under DAGSTER_HOME.
    assert "storage" not in root


def test_production_storage_is_postgresql_through_psycopg2(monkeypatch):
    config, _ = dagster_instance_config(str(DEPLOY))
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
    assert "p@ss" not in (DEPLOY / "dagster.yaml").read_text()


def test_env_example_names_every_variable_and_holds_no_secret():
    example = (DEPLOY / ".env.example").read_text()
    assigned = dict(re.findall(r"^#? ?([A-Z][A-Z0-9_]*)=(.*)$", example, flags=re.MULTILINE))
    assert env_vars(load(DEPLOY / "dagster.yaml")) <= set(assigned)
    for name in ("DAGSTER_HOME", "KAGGLE_LB_DATABASE_URL", "KAGGLE_LB_HOME", "KAGGLE_API_TOKEN", "KAGGLE_KEY"):
        assert name in assigned
    for name in ("DAGSTER_PG_PASSWORD", "KAGGLE_API_TOKEN", "KAGGLE_KEY"):
        assert assigned[name] == "change-me", f"{name} must be a placeholder"
    assert make_url(assigned["KAGGLE_LB_DATABASE_URL"]).password == "change-me"
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
