"""Lab 04 graded checks: the export API and its SQS worker (idempotency lock, partial batches).

Each check drives the learner's code through the local engine: export requests through the local
HTTP API or straight onto the queue (the API's message, ``{"jobId", "params"}``), scripted faults
(duplicate deliveries, an adversarial schedule, a worker held before its upload, crashes, a refused
upload), then reads back what the lab exposes: ``GET /exports/{jobId}``, the versions of the CSV
objects in S3 (the bucket keeps every write), the dead-letter queue and the journal. How the worker
stores its lock is the learner's choice: no check reads or writes it.

Every check needs the engine (faults, the journal, the virtual clock), so all are local only on a
stack. The checks share one cloud (warm workers, one start): each uses job ids of its own and reads
back only those, and what it changes (reserved concurrency) it puts back.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request

import pytest

from lambdalab import RESERVED_LIMIT

WORKER = "ExportWorkerFunction"
QUEUE = "ExportJobsQueue"
VISIBILITY_TIMEOUT = 60  # the queue's; a failed message is received again exactly this long after
LOCK_SECONDS = 10  # the worker's LOCK_SECONDS (its timeout): how long a claim protects a job


def request_export(cloud, params):
    request = urllib.request.Request(cloud.api_url("ServerlessHttpApi") + "/exports",
                                     data=json.dumps(params).encode(), method="POST",
                                     headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=30) as reply:
            return reply.status, json.loads(reply.read())
    except urllib.error.HTTPError as err:
        return err.code, None


def get_export(cloud, job_id):
    try:
        with urllib.request.urlopen(cloud.api_url("ServerlessHttpApi") + f"/exports/{job_id}", timeout=30) as reply:
            return reply.status, json.loads(reply.read())
    except urllib.error.HTTPError as err:
        return err.code, None


def exported(cloud, job_id):
    """Whether GET /exports/{jobId} reports the job COMPLETED with its CSV's key."""
    status, body = get_export(cloud, job_id)
    return (status == 200 and body.get("status") == "COMPLETED"
            and (body.get("result") or {}).get("key") == f"exports/{job_id}.csv")


def all_exported(cloud, ids):
    return {job_id for job_id in ids if exported(cloud, job_id)}


def enqueue(cloud, *jobs):
    """Put jobs on the queue as the API does: {"jobId": ..., "params": ...}."""
    entries = [{"Id": str(n), "MessageBody": json.dumps({"jobId": job_id, "params": params})}
               for n, (job_id, params) in enumerate(jobs)]
    for start in range(0, len(entries), 10):
        cloud.client("sqs").send_message_batch(QueueUrl=cloud.resource(QUEUE), Entries=entries[start:start + 10])


def csv_writes(cloud, ids):
    """How many times the CSV of each job in ``ids`` was written (the bucket keeps every version)."""
    keys = {f"exports/{job_id}.csv" for job_id in ids}
    versions = cloud.client("s3").list_object_versions(Bucket=cloud.resource("ExportsBucket")).get("Versions", [])
    counts: dict[str, int] = {}
    for v in versions:
        if v["Key"] in keys:
            counts[v["Key"]] = counts.get(v["Key"], 0) + 1
    return counts


def writes_of(cloud, job_id):
    return csv_writes(cloud, {job_id}).get(f"exports/{job_id}.csv", 0)


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


def starts(cloud):
    """The worker's invocations' start times, in seconds after the first one, in order."""
    times = sorted(i.start for i in cloud.journal.invocations(WORKER))
    return [round(t - times[0]) for t in times]


def hold_before_upload(cloud, job_id):
    """Hold the worker that exports ``job_id`` right before its CSV upload: it has claimed the job
    (however it claims it) and is still working on it."""
    key = f"exports/{job_id}.csv"
    return cloud.faults.pause(WORKER, before="s3:PutObject", where=lambda params: params.get("Key") == key)


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
    assert all_exported(cloud, {job_id, other_id}) == {job_id, other_id}
    assert writes_of(cloud, job_id) == 1, "the same job was exported twice"


# ---- retries ----------------------------------------------------------------------------------

@pytest.mark.points(2, hint="a job that fails must be reported in batchItemFailures (and its claim released), "
                            "so the message comes back after the visibility timeout and succeeds then")
@pytest.mark.local_only(reason="reads receive times from the journal (visibility timeouts on the virtual clock)")
def test_a_transiently_failing_job_succeeds_on_a_later_receive(cloud):
    enqueue(cloud, ("flaky", {"report": "orders", "chaos": "transient-3"}))
    cloud.run_until_idle()
    assert exported(cloud, "flaky"), f"the job never completed: {cloud.journal.table(WORKER)}"
    assert starts(cloud) == [0, VISIBILITY_TIMEOUT, 2 * VISIBILITY_TIMEOUT], cloud.journal.table(WORKER)
    assert writes_of(cloud, "flaky") == 1 and dead_letters(cloud, {"flaky"}) == []


@pytest.mark.points(2, hint="report only the failing job in batchItemFailures: the poison job must reach the "
                            "DLQ after maxReceiveCount (5) receives while the other jobs of its batch run once")
@pytest.mark.local_only(reason="counts receives in the journal after run_until_idle")
def test_a_poison_job_reaches_the_dlq_and_its_batch_mates_run_once(cloud):
    ids = {"mate-a", "poison", "mate-b"}
    enqueue(cloud, ("mate-a", {"report": "a"}), ("poison", {"report": "p", "chaos": "poison"}),
            ("mate-b", {"report": "b"}))
    cloud.run_until_idle()
    assert dead_letters(cloud, ids) == ["poison"]
    assert starts(cloud) == [n * VISIBILITY_TIMEOUT for n in range(5)], \
        "the poison job must be received exactly 5 times, one visibility timeout apart"
    assert all_exported(cloud, ids) == {"mate-a", "mate-b"}
    assert csv_writes(cloud, ids) == {"exports/mate-a.csv": 1, "exports/mate-b.csv": 1}


@pytest.mark.points(2, hint="when an export fails, release the job's claim before reporting the failure: "
                            "the next delivery of the same job must be able to redo it at once")
@pytest.mark.local_only(reason="fails the worker's upload with cloud.faults")
def test_a_failed_job_releases_its_claim_so_the_next_delivery_redoes_it(cloud):
    cloud.faults.fail_call(WORKER, "s3:PutObject", error="AccessDenied",
                           where=lambda params: params.get("Key") == "exports/refused.csv")
    enqueue(cloud, ("refused", {"report": "orders"}))
    cloud.advance(1)
    assert writes_of(cloud, "refused") == 0 and not exported(cloud, "refused")
    cloud.advance(2)  # well within the claim's lifetime: the same job is requested again
    enqueue(cloud, ("refused", {"report": "orders"}))
    cloud.advance(1)
    assert writes_of(cloud, "refused") == 1 and exported(cloud, "refused"), \
        "a job whose export failed was still claimed: the next delivery could not redo it"
    cloud.run_until_idle()  # the failed message comes back and finds the job done
    assert writes_of(cloud, "refused") == 1 and dead_letters(cloud, {"refused"}) == []


# ---- idempotency ------------------------------------------------------------------------------

@pytest.mark.points(2, hint="claim the job with one conditional write (not a read, then a write): when two "
                            "deliveries of one message run at once, only one may export, the other reports a "
                            "batch item failure")
@pytest.mark.local_only(reason="scripts a duplicate delivery and an adversarial schedule with cloud.faults")
def test_concurrent_duplicate_deliveries_export_once(cloud):
    cloud.faults.duplicate_delivery(QUEUE)
    cloud.faults.schedule("reads-first")  # both deliveries read before either writes
    enqueue(cloud, ("dup", {"report": "orders", "rows": 50}))
    cloud.run_until_idle()
    assert max_concurrency(cloud.journal.invocations(WORKER)) == 2, "both deliveries should run at once"
    assert exported(cloud, "dup"), f"the job never completed: {cloud.journal.table(WORKER)}"
    assert writes_of(cloud, "dup") == 1, "two deliveries of the same job both exported it"
    assert dead_letters(cloud, {"dup"}) == []


@pytest.mark.points(2, hint="while another worker holds a live claim (younger than LOCK_SECONDS), a duplicate "
                            "must not export and must report a batch item failure, so it comes back after the "
                            "visibility timeout")
@pytest.mark.local_only(reason="holds a worker mid-export with cloud.faults and moves the virtual clock")
def test_a_duplicate_within_the_claims_lifetime_waits_for_its_owner(cloud):
    held = hold_before_upload(cloud, "busy")
    enqueue(cloud, ("busy", {"report": "orders"}))
    cloud.advance(1)
    assert held.reached, f"the worker never started to export: {cloud.journal.table(WORKER)}"
    try:
        for _ in range(2):  # duplicates 4 s and 6 s after the claim: well within its lifetime
            cloud.advance(2)
            enqueue(cloud, ("busy", {"report": "orders"}))
            cloud.advance(1)
            assert writes_of(cloud, "busy") == 0, \
                "a duplicate exported a job that another worker had claimed moments before"
    finally:
        held.resume()
    cloud.advance(1)
    assert writes_of(cloud, "busy") == 1 and exported(cloud, "busy"), "the claim's owner could not finish its job"
    cloud.run_until_idle()
    times = starts(cloud)
    assert times[3:] == [times[1] + VISIBILITY_TIMEOUT, times[2] + VISIBILITY_TIMEOUT], \
        f"each duplicate must come back once, after the visibility timeout: {cloud.journal.table(WORKER)}"
    assert writes_of(cloud, "busy") == 1 and dead_letters(cloud, {"busy"}) == []


@pytest.mark.points(2, hint="a claim older than LOCK_SECONDS belongs to a worker that has stopped (its timeout is "
                            "over): a later delivery must take it over, so compare the expiry with the time in "
                            "the unit it was written in (epoch seconds)")
@pytest.mark.local_only(reason="holds a worker past its timeout with cloud.faults and moves the virtual clock")
def test_a_claim_past_its_lifetime_is_taken_over_and_the_job_exported_once(cloud):
    held = hold_before_upload(cloud, "stalled")
    enqueue(cloud, ("stalled", {"report": "orders"}))
    cloud.advance(1)
    assert held.reached, f"the worker never started to export: {cloud.journal.table(WORKER)}"
    try:
        cloud.advance(3 * LOCK_SECONDS)  # its owner is past its timeout; the message is still in flight
        enqueue(cloud, ("stalled", {"report": "orders"}))
        cloud.advance(1)
        assert writes_of(cloud, "stalled") == 1 and exported(cloud, "stalled"), \
            "a claim older than its lifetime still blocked the job"
    finally:
        held.resume()  # held past its timeout: Lambda stopped it, it never uploads
    cloud.run_until_idle()
    assert writes_of(cloud, "stalled") == 1 and dead_letters(cloud, {"stalled"}) == []


@pytest.mark.points(2, hint="record COMPLETED only after the CSV is uploaded, and let the claim of a worker that "
                            "crashed expire: its redelivery must redo the export")
@pytest.mark.local_only(reason="crashes the worker before its upload with cloud.faults")
def test_a_crash_before_the_upload_is_redone_on_redelivery(cloud):
    cloud.faults.crash(WORKER, before="s3:PutObject")
    enqueue(cloud, ("crash-early", {"report": "orders"}))
    cloud.run_until_idle()
    runs = sorted(cloud.journal.invocations(WORKER), key=lambda i: i.start)
    assert [i.detail for i in runs] == ["Runtime.ExitError", None], cloud.journal.table(WORKER)
    assert starts(cloud) == [0, VISIBILITY_TIMEOUT], cloud.journal.table(WORKER)
    assert writes_of(cloud, "crash-early") == 1, "the job was never exported after its worker crashed"
    assert exported(cloud, "crash-early")


@pytest.mark.points(1, hint="a redelivered message whose job is COMPLETED must not export again: the stored "
                            "result is kept, with the same key")
@pytest.mark.local_only(reason="scripts a crash with cloud.faults")
def test_redelivery_after_a_crash_exports_once(cloud):
    cloud.faults.crash(WORKER)  # the worker finishes, then dies before answering: the batch comes back
    enqueue(cloud, ("crash", {"report": "orders"}))
    cloud.run_until_idle()
    runs = sorted(cloud.journal.invocations(WORKER), key=lambda i: i.start)
    assert [i.detail for i in runs] == ["Runtime.ExitError", None], cloud.journal.table(WORKER)
    assert starts(cloud) == [0, VISIBILITY_TIMEOUT], cloud.journal.table(WORKER)
    assert writes_of(cloud, "crash") == 1 and exported(cloud, "crash")


# ---- concurrency limits ---------------------------------------------------------------------

@pytest.mark.points(1, hint="with MaximumConcurrency 2 the worker never runs more than twice at once; every "
                            "job must still complete, each exported once")
@pytest.mark.local_only(reason="measures concurrency from the journal")
def test_maximum_concurrency_two_runs_at_most_two_batches(cloud):
    ids = {f"bounded{n}" for n in range(20)}
    enqueue(cloud, *((f"bounded{n}", {"report": "orders", "rows": n}) for n in range(20)))
    cloud.run_until_idle()
    runs = cloud.journal.invocations(WORKER)
    assert max_concurrency(runs) == 2, cloud.journal.table(WORKER)
    assert csv_writes(cloud, ids) == {f"exports/{job_id}.csv": 1 for job_id in ids}
    assert all_exported(cloud, {"bounded0", "bounded19"}) == {"bounded0", "bounded19"}


@pytest.mark.points(1, hint="reserved concurrency 1 below MaximumConcurrency 2 throttles batches; Lambda retries "
                            "them while their visibility timeout lasts, and every job must still complete once, "
                            "none in the DLQ")
@pytest.mark.local_only(reason="reads throttles from the journal and the queue mapping's stats")
def test_reserved_concurrency_below_maximum_concurrency_throttles_but_loses_nothing(cloud):
    """A throttled batch stays in flight and is invoked again after a backoff: each job completes at its
    first delivery, once, and nothing returns to the queue or reaches the DLQ."""
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
    after = mapping_stats(cloud)
    assert after["throttled_batches"] - before["throttled_batches"] == len(throttled)
    assert after["returned"] == before["returned"], "a job's message went back to the queue"
    assert csv_writes(cloud, ids) == {f"exports/{job_id}.csv": 1 for job_id in ids}
    assert all_exported(cloud, {"reserved0", "reserved9"}) == {"reserved0", "reserved9"}
    assert dead_letters(cloud, ids) == []
