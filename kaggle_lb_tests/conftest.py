import os
import tempfile

# The kaggle client picks its endpoint when first imported: LOCALHOST makes it call http://localhost,
# which the fake_kaggle fixture intercepts as HTTP proxy. Set here, before any test imports kaggle.
os.environ["KAGGLE_API_ENVIRONMENT"] = "LOCALHOST"

import pytest  # noqa: E402

pytest_plugins = ["kaggle_lb_tests.databases", "kaggle_lb_tests.pipeline"]

from kaggle_lb.resources import kaggle_api  # noqa: E402
from kaggle_lb_tests.fake_kaggle import FakeKaggleServer  # noqa: E402


@pytest.fixture
def fake_kaggle(monkeypatch, tmp_path_factory):
    """A fake Kaggle API for this test, with the environment routing the kaggle client to it."""
    for name in ("NO_PROXY", "no_proxy", "KAGGLE_API_TOKEN", "KAGGLE_USERNAME", "KAGGLE_KEY"):
        monkeypatch.delenv(name, raising=False)
    # The client falls back to ~/.kaggle credentials and prefers KAGGLE_API_TOKEN over the
    # username/key it is given, so neither may leak in from the machine running the tests.
    monkeypatch.setenv("HOME", str(tmp_path_factory.mktemp("home")))
    with FakeKaggleServer() as server:
        monkeypatch.setenv("HTTP_PROXY", server.url)
        monkeypatch.setenv("http_proxy", server.url)
        yield server


@pytest.fixture(autouse=True)
def dagster_home(tmp_path_factory, monkeypatch):
    """A throwaway Dagster instance home with telemetry off, so no test touches a real one."""
    home = tmp_path_factory.mktemp("dagster_home")
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    return home


@pytest.fixture
def download_tmp(tmp_path, monkeypatch):
    """Temporary files and directories created during the test land here, so leftovers show."""
    directory = tmp_path / "tempdir"
    directory.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(directory))
    return directory


@pytest.fixture
def sleeps(monkeypatch):
    """Backoff waits, recorded instead of slept."""
    recorded = []
    monkeypatch.setattr(kaggle_api, "_sleep", recorded.append)
    return recorded


def pytest_sessionstart(session):
    """What the suite needs and does not find, said in one line before any test runs."""
    import shutil

    from sqlalchemy import create_engine, text

    from kaggle_lb.storage.database import resolve_database_url
    from kaggle_lb_tests.postgres import POSTGRES_URL_VAR

    url = os.environ.get(POSTGRES_URL_VAR)
    if not url:
        return
    try:
        engine = create_engine(resolve_database_url(url))
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        engine.dispose()
    except Exception as error:  # any cause: the message says which
        reason = str(getattr(error, "orig", error)).strip().splitlines()[0]
        pytest.exit(f"{POSTGRES_URL_VAR} is set but PostgreSQL cannot be reached ({reason}): start it, or unset it", 3)
    missing = [name for name in ("chromium", "chromedriver") if shutil.which(name) is None]
    if missing:
        pytest.exit(
            f"the end-to-end test (run when {POSTGRES_URL_VAR} is set) needs Debian's Chromium: "
            f"apt-get install chromium chromium-driver ({', '.join(missing)} not found)",
            3,
        )
