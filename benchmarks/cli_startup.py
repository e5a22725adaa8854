"""How long `kaggle-lb` takes to start, against Python itself.

    python -m benchmarks.cli_startup [--repeat 15]

Prints the median wall time of `python -c pass`, `kaggle-lb --help` and `kaggle-lb competitions
list` (on an initialised SQLite file with a few competitions), each a fresh process, and each
one's ratio to `python -c pass`. The aim: `--help` within 10x of Python's own start-up.
"""

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

KAGGLE_LB = str(Path(sys.executable).with_name("kaggle-lb"))


def _median_seconds(command: list[str], env: dict, repeat: int) -> float:
    walls = []
    for _ in range(repeat):
        start = time.perf_counter()
        subprocess.run(command, env=env, check=True, stdout=subprocess.DEVNULL)
        walls.append(time.perf_counter() - start)
    return statistics.median(walls)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=15)
    repeat = parser.parse_args().repeat
    with tempfile.TemporaryDirectory() as work:
        env = {**os.environ, "KAGGLE_LB_HOME": work, "KAGGLE_LB_DATABASE_URL": f"sqlite:///{work}/site.sqlite3"}
        subprocess.run([KAGGLE_LB, "init"], env=env, check=True, stdout=subprocess.DEVNULL)
        for slug in ("titanic", "orbit-wars", "house-prices-advanced-regression-techniques"):
            subprocess.run([KAGGLE_LB, "competitions", "add", slug], env=env, check=True, stdout=subprocess.DEVNULL)
        commands = {
            "python -c pass": [sys.executable, "-c", "pass"],
            "kaggle-lb --help": [KAGGLE_LB, "--help"],
            "kaggle-lb competitions list": [KAGGLE_LB, "competitions", "list"],
        }
        medians = {name: _median_seconds(command, env, repeat) for name, command in commands.items()}
    base = medians["python -c pass"]
    print(f"median of {repeat} runs")
    for name, seconds in medians.items():
        print(f"{name:30} {seconds * 1000:7.1f} ms  {seconds / base:5.1f}x")


if __name__ == "__main__":
    main()
