import pytest
from click.testing import CliRunner

from kaggle_lb.cli import main
from kaggle_lb_tests.cli.support import BOARD


@pytest.fixture
def invoke(database_url, monkeypatch, tmp_path):
    """Runs `kaggle-lb ARGS --database-url URL` (after `kaggle-lb init`, the README's first step)
    and returns click's result, having checked its exit code."""
    monkeypatch.setenv("KAGGLE_LB_HOME", str(tmp_path / "home"))
    runner = CliRunner()

    def run(*args: str, expect: int = 0):
        result = runner.invoke(main, [*args, "--database-url", database_url], catch_exceptions=False)
        assert result.exit_code == expect, result.output
        return result

    run("init")
    return run


@pytest.fixture
def cli(invoke):
    """As `invoke`, returning the command's stdout."""
    return lambda *args, expect=0: invoke(*args, expect=expect).stdout


@pytest.fixture
def exports(tmp_path):
    directory = tmp_path / "exports"
    directory.mkdir()
    (directory / "comp-a.csv").write_text(BOARD)
    return directory
