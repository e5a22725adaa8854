"""The asset jobs: sync one competition's partition through the whole lineage and its checks,
refresh the users' match keys every competition reads, post one competition's digest; and the
executor their runs use."""

import os

from dagster import AssetSelection, ExecutorDefinition, define_asset_job, in_process_executor

from kaggle_lb.assets.digest import STANDINGS_DIGEST
from kaggle_lb.assets.leaderboard import GROUP
from kaggle_lb.assets.users import USER_MATCH_KEYS
from kaggle_lb.errors import ConfigurationError

EXECUTOR_VAR = "KAGGLE_LB_EXECUTOR"
IN_PROCESS, CELERY = "in_process", "celery"
# Celery's own variables: Celery reads them in every process (the workers too), so the URLs, a
# Redis password with them, are never written to a config file or shown in the UI.
CELERY_URL_VARS = ("CELERY_BROKER_URL", "CELERY_RESULT_BACKEND")


def executor_from_env() -> ExecutorDefinition:
    """How every run executes its steps, from KAGGLE_LB_EXECUTOR: `in_process` (the default), one
    process per run, since a fresh Python per step costs more than the step (benchmarks/run_cost.py);
    or `celery`, each step a task for the long-lived `dagster-celery worker` processes
    (docs/scale-out.md). `execute_in_process` (`kaggle-lb sync`) runs in process either way."""
    kind = os.environ.get(EXECUTOR_VAR) or IN_PROCESS
    if kind == IN_PROCESS:
        return in_process_executor
    if kind != CELERY:
        raise ConfigurationError(f"{EXECUTOR_VAR}={kind}: expected {IN_PROCESS} (the default) or {CELERY}")
    missing = [name for name in CELERY_URL_VARS if not os.environ.get(name)]
    if missing:
        raise ConfigurationError(
            f"{EXECUTOR_VAR}={CELERY} needs {' and '.join(missing)} (e.g. redis://:PASSWORD@HOST:6379/3)"
        )
    try:
        # Only here: celery is a heavy import, and an optional extra.
        from dagster_celery import celery_executor
    except ImportError as error:
        raise ConfigurationError(
            f"{EXECUTOR_VAR}={CELERY} needs dagster-celery: install kaggle-lb[celery] ({error})"
        ) from error
    broker, backend = ({"env": name} for name in CELERY_URL_VARS)
    return celery_executor.configured({"broker": broker, "backend": backend}, name=CELERY)


leaderboard_sync_job = define_asset_job(
    "leaderboard_sync_job",
    selection=AssetSelection.groups(GROUP),
    description="Download, validate, match and write one competition's leaderboard.",
)

standings_digest_job = define_asset_job(
    "standings_digest_job",
    selection=AssetSelection.assets(STANDINGS_DIGEST),
    description="Post one competition's standings digest to the community (KAGGLE_LB_DIGEST_URLS).",
)

user_match_keys_job = define_asset_job(
    "user_match_keys_job",
    selection=AssetSelection.assets(USER_MATCH_KEYS),
    description="Copy changed users' match keys into kaggle-lb's index and log which keys changed.",
)
