"""Lab 04 graded checks: the export API and its SQS worker (idempotency lock, partial batches).

Each check drives the learner's code through the local engine: export requests through the local
HTTP API or straight onto the queue, scripted faults (duplicates, crashes), then the journal, the
job table, the versions of the CSV objects in S3 and the dead-letter queue are read back. Every
check needs the engine (faults, the journal, the virtual clock), so all are local only on a stack.
The checks share one cloud (warm workers, one start): each uses job ids of its own and reads back
only those, and what it changes (reserved concurrency) it puts back.
"""

from __future__ import annotations

import json
import urllib.request

import pytest

from lambdalab import RESERVED_LIMIT

WORKER = "ExportWorkerFunction"
QUEUE = "ExportJobsQueue"


def request_export(cloud, params):
    request = urllib.request.Request(cloud.api_url("ServerlessHttpApi") + "/exports",
                                     data=json.dumps(params).encode(), method="POST",
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as reply:
        return reply.status, json.loads(reply.read())


def get_export(cloud, job_id):
    try:
        with urllib.request.urlopen(cloud.api_url("ServerlessHttpApi") + f"/exports/{job_id}", timeout=30) as reply:
            return reply.status, json.loads(reply.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read() or b"null")


def enqueue(cloud, *jobs):
    """Put jobs on the queue as the API does: {"jobId": ..., "params": ...}."""
    entries = [{"Id": str(n), "MessageBody": json.dumps({"jobId": job_id, "params": params})}
               for n, (job_id, params) in enumerate(jobs)]
    for start in range(0, len(entries), 10):
        cloud.client("sqs").send_message_batch(QueueUrl=cloud.resource(QUEUE), Entries=entries[start:start + 10])


def jobs(cloud, ids):
    """The job table's items for ``ids`` (checks share one cloud: each reads back only its own jobs)."""
    items = cloud.client("dynamodb").scan(TableName=cloud.resource("ExportJobsTable"))["Items"]
    return {i["jobId"]["S"]: i for i in items if i["jobId"]["S"] in ids}


def completed(cloud, ids):
    return {jid for jid, item in jobs(cloud, ids).items() if item["status"]["S"] == "COMPLETED"}


def csv_writes(cloud, ids):
    """How many times the CSV of each job in ``ids`` was written (the bucket keeps every version)."""
    keys = {f"exports/{job_id}.csv" for job_id in ids}
    versions = cloud.client("s3").list_object_versions(Bucket=cloud.resource("ExportsBucket")).get("Versions", [])
    counts: dict[str, int] = {}
    for v in versions:
        if v["Key"] in keys:
            counts[v["Key"]] = counts.get(v["Key"], 0) + 1
    return counts


def dead_letters(cloud, ids):
    """Which jobs of ``ids`` are in the dead-letter queue; every message there is visible again
    afterwards, for the next check's read."""
    sqs, url, found = cloud.client("sqs"), cloud.resource("ExportJobsDlq"), []
    while True:
        messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=600).get("Messages", [])
        if not messages:
            break
        found += messages
    for start in range(0, len(found), 10):
        sqs.change_message_visibility_batch(QueueUrl=url, Entries=[
            {"Id": str(n), "ReceiptHandle": m["ReceiptHandle"], "VisibilityTimeout": 0}
            for n, m in enumerate(found[start:start + 10])])
    return [job for job in (json.loads(m["Body"])["jobId"] for m in found) if job in ids]


def max_concurrency(invocations):
    edges = sorted([(i.start, 1) for i in invocations if i.env_id] + [(i.end, -1) for i in invocations if i.env_id])
    running = peak = 0
    for _, step in edges:
        running += step
        peak = max(peak, running)
    return peak


def put_lock(cloud, job_id, expires_at):
    """A claim left by another worker: INPROGRESS until ``expires_at`` (epoch seconds)."""
    cloud.client("dynamodb").put_item(TableName=cloud.resource("ExportJobsTable"), Item={
        "jobId": {"S": job_id}, "status": {"S": "INPROGRESS"}, "expiresAt": {"N": str(int(expires_at))}})


@pytest.fixture
def cloud(lab_shared_cloud):
    """One cloud for the module's checks (warm workers); each check uses job ids of its own."""
    return lab_shared_cloud


def mapping_stats(cloud):
    """The worker's queue mapping's counters so far, as a plain dict (checks on a shared cloud
    compare what changed)."""
    return dict(vars(cloud.event_source_mapping(WORKER).stats))


# ---- the API: one job per distinct request ------------------------------------------------

@pytest.mark.points(2, hint="job_id must hash the *normalised* parameters (keys and strings stripped and "
                            "lowercased, JSON with sorted keys): the same request twice is one job, one CSV")
@pytest.mark.local_only(reason="waits for the worker with run_until_idle")
def test_the_same_request_twice_is_one_job_with_one_csv(cloud):
    first = request_export(cloud, {"report": "Orders", "rows": 5})
    second = request_export(cloud, {" ROWS": 5, "report": " orders "})
    other = request_export(cloud, {"report": "orders", "rows": 6})
    assert first[0] == 202 and first == second, f"got {first} and {second}"
    assert other[1]["jobId"] != first[1]["jobId"], "different parameters must make a different job"
    cloud.run_until_idle()
    job_id, other_id = first[1]["jobId"], other[1]["jobId"]
    assert completed(cloud, {job_id, other_id}) == {job_id, other_id}
    assert csv_writes(cloud, {job_id})[f"exports/{job_id}.csv"] == 1, "the same job was exported twice"
    status, body = get_export(cloud, job_id)
    assert status == 200 and body["status"] == "COMPLETED" and body["result"]["key"] == f"exports/{job_id}.csv"


# ---- retries ----------------------------------------------------------------------------------

@pytest.mark.points(2, hint="a job that fails must be reported in batchItemFailures (and its lock released), "
                            "so the message comes back after the visibility timeout and succeeds then")
@pytest.mark.local_only(reason="reads receive times from the journal (visibility timeouts on the virtual clock)")
def test_a_transiently_failing_job_succeeds_on_a_later_receive(cloud):
    enqueue(cloud, ("flaky", {"report": "orders", "chaos": "transient-3"}))
    cloud.run_until_idle()
    runs = cloud.journal.invocations(WORKER)
    assert "flaky" in completed(cloud, {"flaky"}), f"the job never completed: {cloud.journal.table(WORKER)}"
    assert [round(i.start - runs[0].start) for i in runs] == [0, 60, 120], cloud.journal.table(WORKER)
    assert csv_writes(cloud, {"flaky"}) == {"exports/flaky.csv": 1} and dead_letters(cloud, {"flaky"}) == []


@pytest.mark.points(2, hint="report only the failing job in batchItemFailures: the poison job must reach the "
                            "DLQ after maxReceiveCount (5) receives while the other jobs of its batch run once")
@pytest.mark.local_only(reason="counts receives in the journal after run_until_idle")
def test_a_poison_job_reaches_the_dlq_and_its_batch_mates_run_once(cloud):
    ids = {"mate-a", "poison", "mate-b"}
    enqueue(cloud, ("mate-a", {"report": "a"}), ("poison", {"report": "p", "chaos": "poison"}),
            ("mate-b", {"report": "b"}))
    cloud.run_until_idle()
    assert dead_letters(cloud, ids) == ["poison"]
    assert len(cloud.journal.invocations(WORKER)) == 5, "the poison job must be received exactly 5 times"
    assert completed(cloud, ids) == {"mate-a", "mate-b"}
    assert csv_writes(cloud, ids) == {"exports/mate-a.csv": 1, "exports/mate-b.csv": 1}
    assert "poison" not in jobs(cloud, ids), "a failed job must release its lock"


# ---- idempotency ------------------------------------------------------------------------------

@pytest.mark.points(2, hint="take the DynamoDB lock before exporting: when two deliveries of one message run "
                            "at once, one gets INPROGRESS (AlreadyInProgress -> batch item failure) and the "
                            "job is exported once")
@pytest.mark.local_only(reason="scripts a duplicate delivery with cloud.faults")
def test_concurrent_duplicate_deliveries_export_once(cloud):
    cloud.faults.duplicate_delivery(QUEUE)
    enqueue(cloud, ("dup", {"report": "orders", "rows": 50}))
    cloud.run_until_idle()
    assert max_concurrency(cloud.journal.invocations(WORKER)) == 2, "both deliveries should run at once"
    assert completed(cloud, {"dup"}) == {"dup"}
    assert csv_writes(cloud, {"dup"}) == {"exports/dup.csv": 1}
    assert dead_letters(cloud, {"dup"}) == []


@pytest.mark.points(2, hint="a redelivered message whose job is COMPLETED must not export again: acquire() "
                            "returns the stored result, and the worker keeps the same key and URL")
@pytest.mark.local_only(reason="scripts a crash with cloud.faults")
def test_redelivery_after_a_crash_exports_once(cloud):
    cloud.faults.crash(WORKER)  # the worker finishes, then dies before answering: the batch comes back
    enqueue(cloud, ("crash", {"report": "orders"}))
    cloud.run_until_idle()
    runs = cloud.journal.invocations(WORKER)
    assert [i.detail for i in runs] == ["Runtime.ExitError", None], cloud.journal.table(WORKER)
    assert completed(cloud, {"crash"}) == {"crash"} and csv_writes(cloud, {"crash"}) == {"exports/crash.csv": 1}
    assert jobs(cloud, {"crash"})["crash"]["result"]["M"]["key"]["S"] == "exports/crash.csv"


@pytest.mark.points(1, hint="a claim whose expiresAt has passed belongs to a crashed worker: the condition "
                            "must let a new worker take it over (status INPROGRESS AND expiresAt < now)")
@pytest.mark.local_only(reason="waits with run_until_idle and counts invocations in the journal")
def test_a_lock_left_by_a_crashed_worker_expires_and_the_job_is_redone_once(cloud):
    put_lock(cloud, "orphan", cloud.now() - 3600)  # functions read the engine's clock
    enqueue(cloud, ("orphan", {"report": "orders"}))
    cloud.run_until_idle()
    assert completed(cloud, {"orphan"}) == {"orphan"} and csv_writes(cloud, {"orphan"}) == {"exports/orphan.csv": 1}
    assert len(cloud.journal.invocations(WORKER)) == 1


@pytest.mark.points(1, hint="while another worker holds a live INPROGRESS claim, report the message as a batch "
                            "item failure (do not export, do not delete the claim): it comes back later")
@pytest.mark.local_only(reason="moves the virtual clock and reads the queue mapping's stats")
def test_a_duplicate_while_in_progress_is_retried_later(cloud):
    before = mapping_stats(cloud)
    put_lock(cloud, "busy", cloud.now() + 3600)
    enqueue(cloud, ("busy", {"report": "orders"}))
    cloud.advance(1)
    assert csv_writes(cloud, {"busy"}) == {} and jobs(cloud, {"busy"})["busy"]["status"]["S"] == "INPROGRESS"
    assert mapping_stats(cloud)["returned"] - before["returned"] == 1, "the message must return to the queue"
    cloud.client("dynamodb").put_item(TableName=cloud.resource("ExportJobsTable"), Item={
        "jobId": {"S": "busy"}, "status": {"S": "COMPLETED"},
        "result": {"M": {"key": {"S": "exports/busy.csv"}}}})  # the other worker finished
    cloud.run_until_idle()
    runs = cloud.journal.invocations(WORKER)
    assert [round(i.start - runs[0].start) for i in runs] == [0, 60] and csv_writes(cloud, {"busy"}) == {}
    assert dead_letters(cloud, {"busy"}) == [] and mapping_stats(cloud)["deleted"] - before["deleted"] == 1


# ---- concurrency limits ---------------------------------------------------------------------

@pytest.mark.points(2, hint="with MaximumConcurrency 2 the worker never runs more than twice at once; every "
                            "job must still complete, each exported once")
@pytest.mark.local_only(reason="measures concurrency from the journal")
def test_maximum_concurrency_two_runs_at_most_two_batches(cloud):
    ids = {f"bounded{n}" for n in range(20)}
    enqueue(cloud, *((f"bounded{n}", {"report": "orders", "rows": n}) for n in range(20)))
    cloud.run_until_idle()
    runs = cloud.journal.invocations(WORKER)
    assert max_concurrency(runs) == 2, cloud.journal.table(WORKER)
    assert completed(cloud, ids) == ids and set(csv_writes(cloud, ids).values()) == {1}


@pytest.mark.points(2, hint="reserved concurrency 1 below MaximumConcurrency 2 throttles batches; they return "
                            "after the visibility timeout, and every job must still complete, none in the DLQ")
@pytest.mark.local_only(reason="reads throttles from the journal and the queue mapping's stats")
def test_reserved_concurrency_below_maximum_concurrency_throttles_but_loses_nothing(cloud):
    ids, before = {f"reserved{n}" for n in range(10)}, mapping_stats(cloud)
    lam = cloud.client("lambda")
    lam.put_function_concurrency(FunctionName=WORKER, ReservedConcurrentExecutions=1)
    try:
        enqueue(cloud, *((f"reserved{n}", {"report": "orders", "rows": n}) for n in range(10)))
        cloud.run_until_idle()
    finally:
        lam.delete_function_concurrency(FunctionName=WORKER)
    throttled = cloud.journal.invocations(WORKER, outcome="Throttled")
    assert throttled and {i.detail for i in throttled} == {RESERVED_LIMIT}
    assert mapping_stats(cloud)["throttled_batches"] - before["throttled_batches"] == len(throttled)
    assert completed(cloud, ids) == ids and dead_letters(cloud, ids) == []
