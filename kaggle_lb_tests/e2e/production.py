"""Helpers for the end-to-end tests (production, Celery): fresh PostgreSQL databases, the Dagster
processes as production runs them, a GraphQL client for the webserver, and a headless Chromium.

Nothing here is mocked: the processes are the real `dagster-webserver`, `dagster-daemon run` (and
Redis and Celery workers), the storage is PostgreSQL, the browser is Debian's chromium driven by
its chromedriver.
"""

from __future__ import annotations

import csv
import ctypes
import io
import os
import signal
import socket
import subprocess
import sys
import time
import warnings
from collections.abc import Callable, Iterator, Mapping
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import requests
from sqlalchemy.engine import URL, make_url

from kaggle_lb_tests.postgres import fresh_postgres_url

if TYPE_CHECKING:
    from kaggle_lb.resources.database import DatabaseResource
    from kaggle_lb_tests.fake_kaggle import FakeKaggleServer

REPO_ROOT = Path(__file__).resolve().parents[2]
VENV_BIN = Path(sys.executable).parent
CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")

T = TypeVar("T")


@contextmanager
def postgres_database() -> Iterator[URL]:
    """A fresh, empty PostgreSQL database beside KAGGLE_LB_TEST_POSTGRES_URL's, dropped afterwards."""
    with fresh_postgres_url() as url:
        yield make_url(url)


def dagster_pg_env(url: URL) -> dict[str, str]:
    """The DAGSTER_PG_* variables deploy/dagster.yaml reads, for the database at `url`."""
    return {
        "DAGSTER_PG_HOST": url.host or "127.0.0.1",
        "DAGSTER_PG_PORT": str(url.port or 5432),
        "DAGSTER_PG_USER": url.username or "postgres",
        "DAGSTER_PG_PASSWORD": url.password or "",
        "DAGSTER_PG_DB": url.database,
    }


@dataclass
class Site:
    """A deployment's data before its processes start: the Dagster and site databases (PostgreSQL),
    the site's competitions and users registered, and the fake Kaggle serving their boards."""

    dagster_db: URL
    site: DatabaseResource
    url: str
    lb_home: Path
    fake_kaggle: FakeKaggleServer
    boards: dict[str, bytes]


def registered_site(
    stack: ExitStack, tmp_path: Path, boards: dict[str, bytes], titles: dict[str, str], users: list
) -> Site:
    """Fresh databases (dropped when `stack` closes), `kaggle-lb init` (the deployment's first
    step), the competitions and users registered and their keys indexed (as `kaggle-lb users
    import` does; each competition with its title in `titles`, if any), and the boards served by a
    fake Kaggle server."""
    from kaggle_lb.resources.database import DatabaseResource
    from kaggle_lb.storage import registry, user_keys
    from kaggle_lb_tests.fake_kaggle import FakeKaggleServer

    dagster_db = stack.enter_context(postgres_database())
    site_db = stack.enter_context(postgres_database())
    fake_kaggle = stack.enter_context(FakeKaggleServer())
    for slug, board in boards.items():
        fake_kaggle.set_board(slug, board)
    url = site_db.render_as_string(hide_password=False)
    lb_home = tmp_path / "kaggle_lb_home"
    site = DatabaseResource(url=url, home=str(lb_home))
    stack.callback(site.dispose)
    site.initialise()
    with site.begin() as conn:
        for slug in boards:
            registry.add_competition(conn, site.tables, slug, titles.get(slug))
        registry.import_users(conn, site.tables, users)
        user_keys.refresh(conn, site.tables)
    return Site(dagster_db, site, url, lb_home, fake_kaggle, boards)


def deployment_env(site: Site, dagster_home: Path, home: Path, **extra: str) -> dict[str, str]:
    """The environment of the webserver, the daemon and what they start: this process's, less any
    Kaggle, Dagster, Celery or proxy setting of the machine's, with the deployment's own."""
    env = {
        name: value
        for name, value in os.environ.items()
        if name.lower() not in ("no_proxy", "http_proxy", "https_proxy")
        and not name.startswith(("KAGGLE_", "DAGSTER_", "CELERY_"))
    }
    env.update(
        dagster_pg_env(site.dagster_db),
        HOME=str(home),
        DAGSTER_HOME=str(dagster_home),
        KAGGLE_LB_DATABASE_URL=site.url,
        KAGGLE_LB_HOME=str(site.lb_home),
        KAGGLE_USERNAME="lb-bot",
        KAGGLE_KEY="not-a-real-key",
        KAGGLE_API_ENVIRONMENT="LOCALHOST",
        HTTP_PROXY=site.fake_kaggle.url,
        http_proxy=site.fake_kaggle.url,
        **extra,
    )
    return env


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for(
    what: str, probe: Callable[[], T | None], timeout: float, interval: float = 1.0, diagnose: Callable[[], str] = str
) -> T:
    """Poll `probe` until it returns something truthy; fail with `what` (and a diagnosis) on timeout."""
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}\n{diagnose()}")
        time.sleep(interval)


def _die_with_parent() -> None:
    """In the child before exec: SIGKILL it when the test process dies, even by SIGKILL (Linux)."""
    if sys.platform.startswith("linux"):
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)


_PR_SET_PDEATHSIG = 1
_LIVE: list[Process] = []


class Process:
    """A command in its own session (so its process group is its whole tree), logging to a file."""

    def __init__(self, name: str, args: list[str], env: Mapping[str, str], log_dir: Path):
        self.name = name
        self.log_path = log_dir / f"{name}.log"
        self._log = self.log_path.open("wb")
        self.popen = subprocess.Popen(
            args,
            cwd=REPO_ROOT,
            env=dict(env),
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=_die_with_parent,
        )
        self.pgid = os.getpgid(self.popen.pid)
        _LIVE.append(self)

    def descendants(self) -> list[int]:
        """The live processes it started, and theirs (a Celery worker's pool, a code server's runs)."""
        return _descendants(self.popen.pid)

    def log_tail(self, lines: int = 40) -> str:
        self._log.flush()
        text_lines = self.log_path.read_text(errors="replace").splitlines()
        return f"--- last {lines} lines of {self.log_path} ---\n" + "\n".join(text_lines[-lines:])

    def kill(self) -> None:
        """SIGKILL the process group, and any descendant that left it (Dagster's children stay in it)."""
        escaped = [pid for pid in _descendants(self.popen.pid) if _pgid(pid) not in (None, self.pgid)]
        for kill, target in [(os.killpg, self.pgid), *((os.kill, pid) for pid in escaped)]:
            try:
                kill(target, signal.SIGKILL)
            except ProcessLookupError:
                pass
        if self in _LIVE:
            _LIVE.remove(self)
        self.popen.wait(timeout=30)
        self._log.close()
        wait_for(f"process group of {self.name} to exit", lambda: not _group_alive(self.pgid), timeout=30, interval=0.1)


@contextmanager
def killed_on_sigterm() -> Iterator[None]:
    """While inside, a SIGTERM to the test process (`timeout`, CI cancelling) first SIGKILLs every
    live Process group: without this Python would exit at once and leave them orphaned."""

    def handler(signum, frame):
        for process in list(_LIVE):
            try:
                os.killpg(process.pgid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        signal.signal(signal.SIGTERM, previous)
        os.kill(os.getpid(), signal.SIGTERM)

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _pgid(pid: int) -> int | None:
    try:
        return os.getpgid(pid)
    except ProcessLookupError:
        return None


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


def _descendants(root: int) -> list[int]:
    """Every live descendant of `root`, from /proc (Linux, like the CI)."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    found, todo = [], [root]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def expected_standings(board: bytes, users: list[tuple[str, str | None]]) -> dict[str, tuple[int, str]]:
    """From a current-format export itself, with the csv module: each user's best rank (Rank 0
    benchmark rows never count) and that row's team name, matching (site username, Kaggle username
    or None when it is the same) to the members case-insensitively."""
    best: dict[str, tuple[int, str]] = {}
    for row in csv.DictReader(io.StringIO(board.decode("utf-8-sig"))):
        members = {name.strip().lower() for name in row["TeamMemberUserNames"].split(",") if name.strip()}
        for username, kaggle_username in users:
            rank = int(row["Rank"])
            if rank > 0 and (kaggle_username or username).lower() in members:
                if username not in best or rank < best[username][0]:
                    best[username] = (rank, row["TeamName"])
    return best


def dagster_command(name: str, *args: str) -> list[str]:
    return [str(VENV_BIN / name), *args]


def webserver_and_daemon(env: Mapping[str, str], log_dir: Path, port: int) -> list[Process]:
    """`dagster-webserver` on 127.0.0.1:`port` and `dagster-daemon run`, as production runs them,
    both loading the code location from workspace.yaml."""
    webserver = dagster_command("dagster-webserver", "-h", "127.0.0.1", "-p", str(port), "-w", "workspace.yaml")
    return [
        Process("webserver", webserver, env, log_dir),
        Process("daemon", dagster_command("dagster-daemon", "run", "-w", "workspace.yaml"), env, log_dir),
    ]


class GraphQL:
    """The webserver's GraphQL API. The session ignores HTTP_PROXY: this test process points it at
    the fake Kaggle server for its children, and the webserver must be reached directly."""

    def __init__(self, base_url: str):
        self.base_url = base_url
        self.session = requests.Session()
        self.session.trust_env = False

    def __call__(self, query: str, **variables: Any) -> dict:
        response = self.session.post(
            f"{self.base_url}/graphql", json={"query": query, "variables": variables}, timeout=60
        )
        response.raise_for_status()
        payload = response.json()
        if payload.get("errors"):
            raise AssertionError(f"GraphQL errors: {payload['errors']}")
        return payload["data"]

    def up(self) -> bool:
        try:
            return self.session.get(f"{self.base_url}/server_info", timeout=5).ok
        except requests.RequestException:
            return False

    def close(self) -> None:
        self.session.close()


CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--no-proxy-server",
    "--window-size=1600,1000",
)


@contextmanager
def chromium(user_data_dir: Path) -> Iterator[Any]:
    """Debian's chromium through its chromedriver; never a downloaded browser, never the network."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    missing = [str(path) for path in (CHROMIUM, CHROMEDRIVER) if not os.access(path, os.X_OK)]
    if missing:
        raise AssertionError(
            f"{', '.join(missing)} missing: install Debian's browser with "
            "`apt-get install -y chromium chromium-driver` (.ci/run does)"
        )
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in CHROMIUM_FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={user_data_dir}")
    with warnings.catch_warnings():
        # Selenium talks to chromedriver on 127.0.0.1: never through a proxy from the environment.
        # (Deprecated in favour of a ClientConfig, which the Chrome constructor does not take yet.)
        warnings.simplefilter("ignore", DeprecationWarning)
        options.ignore_local_proxy_environment_variables()
    service = Service(str(CHROMEDRIVER), log_output=str(user_data_dir.parent / "chromedriver.log"))
    driver = webdriver.Chrome(options=options, service=service)
    try:
        yield driver
    finally:
        driver.quit()
        service.stop()


PARTITIONS = """
query($path: [String!]!) { assetNodes(assetKeys: [{path: $path}]) { partitionKeysByDimension { partitionKeys } } }
"""
CHECK_STATUSES = """
{ assetNodes {
    assetKey { path }
    assetChecksOrError { ... on AssetChecks { checks { name partitionStatuses {
      ... on AssetCheckDefaultPartitionStatuses { succeededPartitions failedPartitions skippedPartitions }
    } } } }
} }
"""


def partition_keys(api: GraphQL) -> set[str]:
    nodes = api(PARTITIONS, path=["matched_entries"])["assetNodes"]
    return {key for dimension in nodes[0]["partitionKeysByDimension"] for key in dimension["partitionKeys"]}


def check_statuses(api: GraphQL) -> dict[tuple[str, str], dict]:
    """(asset, check) -> its partitions by state, as the UI counts them ("6 / 6 Passed")."""
    return {
        (node["assetKey"]["path"][-1], check["name"]): {
            state: sorted(keys) for state, keys in check["partitionStatuses"].items()
        }
        for node in api(CHECK_STATUSES)["assetNodes"]
        for check in (node.get("assetChecksOrError") or {}).get("checks", [])
    }
