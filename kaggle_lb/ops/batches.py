"""What the batch jobs share: their configuration and run requests, and running a competition's own
run of another job inside the batch's process.

A run launched by the daemon costs a new Python process that imports Dagster and the code before
it does any work, far more than most competitions' work (benchmarks/README.md). So the 5-minute
poll and the daily digest each run as batch runs of many competitions, and each competition
still gets its own run of the usual job, started in the batch's process: its own materializations,
check results and failure, as when the UI runs it, without a launch of its own.
"""

import os
import weakref

import pandas as pd
from dagster import (
    Config,
    DagsterInstance,
    Definitions,
    ExecuteInProcessResult,
    JobDefinition,
    MetadataValue,
    OpExecutionContext,
    ResourceDefinition,
    RunConfig,
    RunRequest,
)
from pydantic import Field

from kaggle_lb.errors import ConfigurationError
from kaggle_lb.quality.markdown import markdown_table
from kaggle_lb.run_tags import BATCH_TAG, SCHEDULED, TRIGGER_TAG
from kaggle_lb.sync import QUIET

BATCH_SIZE_VAR = "KAGGLE_LB_BATCH_SIZE"
DEFAULT_BATCH_SIZE = 50
MAX_BATCH_SIZE = 1000
# Dagster's run monitoring fails a run still going after this long: a batch whose process died,
# or a competition's run it left behind, which would otherwise hold its competition's place.
MAX_RUNTIME_SECONDS = 3600
_MAX_RUNTIME_TAG = "dagster/max_runtime"
# How many of a batch's competitions its metadata tables list by name.
_LISTED = 50


class BatchConfig(Config):
    competitions: list[str] = Field(description="The competitions (Kaggle slugs) of this batch, in order.")


def batch_size() -> int:
    """KAGGLE_LB_BATCH_SIZE: competitions per batch run."""
    value = os.environ.get(BATCH_SIZE_VAR) or str(DEFAULT_BATCH_SIZE)
    try:
        size = int(value)
    except ValueError:
        size = 0
    if not 1 <= size <= MAX_BATCH_SIZE:
        raise ConfigurationError(f"{BATCH_SIZE_VAR}={value}: give a whole number from 1 to {MAX_BATCH_SIZE}")
    return size


def batch_run_requests(job: str, op: str, slugs: list[str], run_key: str, tags: dict[str, str]) -> list[RunRequest]:
    """A run of the batch job `job` per batch of `slugs` (the config of its first op, `op`), keyed
    `run_key` and the batch's number."""
    size = batch_size()
    return [
        RunRequest(
            job_name=job,
            run_key=f"{run_key}:batch-{start // size}",
            run_config=RunConfig(ops={op: BatchConfig(competitions=slugs[start : start + size])}),
            tags={**tags, _MAX_RUNTIME_TAG: str(MAX_RUNTIME_SECONDS)},
        )
        for start in range(0, len(slugs), size)
    ]


def hold_connections(instance: DagsterInstance) -> None:
    """A batch process writes the events of many runs: PostgreSQL instance storage would otherwise
    open a connection for each event (benchmarks/README.md, "Capacity"). Dagster's own pooling for
    a long-lived process; no statement timeout (0), a run's own limits apply; nothing for SQLite.
    Once per instance: each call builds new engines, and a batch's steps may share a process."""
    if instance in _holding:
        return
    instance.optimize_for_webserver(statement_timeout=0, pool_recycle=3600, max_overflow=4)
    _holding.add(instance)


_holding: weakref.WeakSet[DagsterInstance] = weakref.WeakSet()


def job_in_process(definitions: dict, job_name: str, resources: dict) -> JobDefinition:
    """`job_name` from Definitions of `definitions` (assets, asset_checks, jobs) with the batch's
    own resource objects, shared by every run it starts (no engine or site schema read per run);
    an IO manager as given, since Dagster takes no IO manager as a plain object."""
    return Definitions(
        **definitions,
        resources={
            key: value if key.endswith("io_manager") else ResourceDefinition.hardcoded_resource(value)
            for key, value in resources.items()
        },
    ).resolve_job_def(job_name)


def run_in_batch(context: OpExecutionContext, job: JobDefinition, slug: str) -> ExecuteInProcessResult:
    """The competition's own run of `job`, in this process, tagged with the batch's run id."""
    tags = {
        TRIGGER_TAG: context.run.tags.get(TRIGGER_TAG, SCHEDULED),
        BATCH_TAG: context.run_id,
        _MAX_RUNTIME_TAG: str(MAX_RUNTIME_SECONDS),
    }
    return job.execute_in_process(
        partition_key=slug, instance=context.instance, tags=tags, raise_on_error=False, run_config=QUIET
    )


def listed(rows: list[tuple], columns: list[str]) -> MetadataValue:
    """The first rows, as a Markdown table for the batch's metadata."""
    shown = pd.DataFrame(rows[:_LISTED], columns=columns)
    more = f"\n\n… and {len(rows) - _LISTED} more" if len(rows) > _LISTED else ""
    return MetadataValue.md(markdown_table(shown) + more if rows else "_none_")
