"""standings_digest_batch_job: the daily digest of many competitions, one run per batch of them,
each competition's digest its own standings_digest_job run inside it (see ops.batches)."""

from dagster import OpExecutionContext, Output, job, op

from kaggle_lb.assets.digest import standings_digest
from kaggle_lb.jobs import standings_digest_job
from kaggle_lb.ops.batches import BatchConfig, hold_connections, job_in_process, listed, run_in_batch
from kaggle_lb.resources.alerts import DigestResource
from kaggle_lb.resources.database import DatabaseResource
from kaggle_lb.sync import failure_message

DIGEST_BATCH_JOB = "standings_digest_batch_job"
POST_DIGESTS = "post_digests"


@op(name=POST_DIGESTS)
def post_digests(
    context: OpExecutionContext, config: BatchConfig, database: DatabaseResource, digest: DigestResource
) -> Output[None]:
    """Each competition's standings_digest_job run, one after the other in this process; one that
    fails (an unreachable destination) is reported by name and the next one goes on."""
    hold_connections(context.instance)
    digest_job = job_in_process(
        {"assets": [standings_digest], "jobs": [standings_digest_job]},
        standings_digest_job.name,
        {"database": database, "digest": digest},
    )
    sent, quiet, failed = [], [], []
    for slug in config.competitions:
        result = run_in_batch(context, digest_job, slug)
        if not result.success:
            cause = failure_message(result)
            failed.append((slug, cause, result.run_id))
            context.log.warning(f"competition '{slug}': its digest run {result.run_id} failed: {cause}")
            continue
        (materialization,) = result.asset_materializations_for_node(standings_digest.key.path[-1])
        if materialization.metadata["sent"].value:
            sent.append((slug, result.run_id))
        else:
            quiet.append((slug, str(materialization.metadata["why"].value), result.run_id))
    context.log.info(f"{len(sent)} digest(s) sent, {len(quiet)} with nothing to send, {len(failed)} failed")
    return Output(
        None,
        metadata={
            "sent": len(sent),
            "nothing_to_send": len(quiet),
            "failed": len(failed),
            "failed_runs": listed(failed, ["competition", "cause", "run"]),
            "sent_runs": listed(sent, ["competition", "run"]),
        },
    )


@job(name=DIGEST_BATCH_JOB, description="Post the daily standings digest of a batch of competitions.")
def standings_digest_batch_job():
    post_digests()
