"""The resources, configured from the environment in one place.

Values that may hold secrets (the database URL, Kaggle credentials) are passed as `EnvVar`, so
Dagster shows the variable's name in the UI and resolves the value only inside the run.
"""

import math
import os
from pathlib import Path

from dagster import EnvVar

from kaggle_lb.errors import ConfigurationError
from kaggle_lb.polling.pace import DEFAULT_REQUESTS_PER_MINUTE, KagglePaceResource
from kaggle_lb.resources.alerts import AlertsResource, DigestResource
from kaggle_lb.resources.csv_io_manager import CsvFileIOManager
from kaggle_lb.resources.database import DEFAULT_HOME, DatabaseResource
from kaggle_lb.resources.kaggle_api import KaggleApiResource
from kaggle_lb.resources.leaderboard_source import LeaderboardSource, LocalExportsResource
from kaggle_lb.resources.quality import QualitySettingsResource

KAGGLE_SOURCE = "kaggle"


def _env(name: str) -> EnvVar | None:
    return EnvVar(name) if os.environ.get(name) else None


def _env_str(name: str, default: str) -> str:
    return os.environ.get(name) or default


def database_from_env(database_url: str | None = None) -> DatabaseResource:
    """The database resource; an explicit URL (the CLI's --database-url) wins over the environment."""
    return DatabaseResource(
        url=database_url or _env("KAGGLE_LB_DATABASE_URL"),
        home=_env_str("KAGGLE_LB_HOME", DEFAULT_HOME),
        site_schema=os.environ.get("KAGGLE_LB_SITE_SCHEMA") or None,
    )


def leaderboard_source_from_env(source: str | None = None, database_url: str | None = None) -> LeaderboardSource:
    """`kaggle` (the default) downloads from Kaggle, at the pace shared through the database (see
    `database_from_env`); any other value is a directory of exports, read unpaced."""
    source = source or _env_str("KAGGLE_LB_SOURCE", KAGGLE_SOURCE)
    if source != KAGGLE_SOURCE:
        return LocalExportsResource(directory=str(Path(source).expanduser().resolve()))
    return KaggleApiResource(
        username=_env("KAGGLE_USERNAME"),
        key=_env("KAGGLE_KEY"),
        api_token=_env("KAGGLE_API_TOKEN"),
        pace=KagglePaceResource(database=database_from_env(database_url), requests_per_minute=_requests_per_minute()),
    )


def _requests_per_minute() -> float:
    name = "KAGGLE_LB_KAGGLE_REQUESTS_PER_MINUTE"
    value = os.environ.get(name)
    if not value:
        return DEFAULT_REQUESTS_PER_MINUTE
    try:
        rate = float(value)
    except ValueError:
        rate = math.nan
    if not (math.isfinite(rate) and rate > 0):
        raise ConfigurationError(f"{name}={value}: not a number of requests per minute above 0 (e.g. 600)")
    return rate


def quality_from_env() -> QualitySettingsResource:
    defaults = QualitySettingsResource()
    return QualitySettingsResource(
        max_row_drop_fraction=float(_env_str("KAGGLE_LB_MAX_ROW_DROP", str(defaults.max_row_drop_fraction))),
        max_match_drop_fraction=float(_env_str("KAGGLE_LB_MAX_MATCH_DROP", str(defaults.max_match_drop_fraction))),
        freshness_minutes=float(_env_str("KAGGLE_LB_FRESHNESS_MINUTES", str(defaults.freshness_minutes))),
    )


def alerts_from_env() -> AlertsResource:
    return AlertsResource(
        urls=_env("KAGGLE_LB_ALERT_URLS"),
        ui_url=_env_str("KAGGLE_LB_UI_URL", AlertsResource().ui_url),
    )


def digest_from_env() -> DigestResource:
    return DigestResource(
        urls=_env("KAGGLE_LB_DIGEST_URLS"), top=int(_env_str("KAGGLE_LB_DIGEST_TOP", str(DigestResource().top)))
    )


def resources_from_env(database_url: str | None = None, source: str | None = None) -> dict:
    home = _env_str("KAGGLE_LB_HOME", DEFAULT_HOME)
    return {
        "database": database_from_env(database_url),
        "leaderboard_source": leaderboard_source_from_env(source, database_url),
        "raw_csv_io_manager": CsvFileIOManager(base_dir=str(Path(home).expanduser().resolve() / "raw")),
        "quality": quality_from_env(),
        "alerts": alerts_from_env(),
        "digest": digest_from_env(),
    }
