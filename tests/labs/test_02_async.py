"""Lab 02 graded checks: the document-intake pipeline (S3 -> intake -> SNS -> notifier).

Each check drives the learner's code through the local engine: uploads to the documents bucket,
scripted faults (an OCR outage, a failed or crashed publish, a crash right after the claim, a lost
answer after the work was done, duplicate S3 deliveries that really overlap, reserved concurrency),
then reads back what the pipeline shows outside: the journal of attempts, every "document processed"
message as a queue subscribed to the topic got it, the notifier's notifications and the on-failure
queue. Virtual time: minutes of retries and of throttle backoff take a fraction of a second.
Every check needs the engine (faults, the journal, the virtual clock), so all are local only. The
checks share one cloud (warm functions, one start): each uploads documents of its own and reads back
only those, and what it changes (the OCR status, the intake function's retry settings and reserved
concurrency) is put back after it.
"""

from __future__ import annotations

import json
from collections import defaultdict
from itertools import pairwise
from urllib.parse import unquote_plus

import pytest

from lambdalab_course import load_module

INTAKE = "IntakeFunction"
BUCKET = "DocumentsBucket"


@pytest.fixture
def cloud(lab_shared_cloud):
    """The module's cloud; after the check, the OCR service is available again and the intake
    function has the template's retry settings and no reserved concurrency."""
    lam, ssm = lab_shared_cloud.client("lambda"), lab_shared_cloud.client("ssm")
    settings = lam.get_function_event_invoke_config(FunctionName=INTAKE)
    yield lab_shared_cloud
    ssm.put_parameter(Name=lab_shared_cloud.resource("OcrStatusParameter"), Value="available", Type="String",
                      Overwrite=True)
    lam.delete_function_concurrency(FunctionName=INTAKE)
    lam.put_function_event_invoke_config(FunctionName=INTAKE, **{
        key: settings[key] for key in ("MaximumRetryAttempts", "MaximumEventAgeInSeconds", "DestinationConfig")
        if key in settings})


@pytest.fixture
def configure(lab_root):
    return load_module(lab_root / "02_async" / "ops" / "configure.py").configure


def upload(cloud, name, body):
    document = body if isinstance(body, bytes) else json.dumps(body).encode()
    cloud.client("s3").put_object(Bucket=cloud.resource(BUCKET), Key=f"incoming/{name}", Body=document)


def key_of(doc_id):
    """``bucket/incoming/a.json#version`` -> ``incoming/a.json`` (whatever the learner's id adds after '#')."""
    return doc_id.split("/", 1)[1].split("#", 1)[0] if "/" in doc_id else doc_id


def drain(cloud, queue):
    """Every message waiting in ``queue``, received and deleted (what earlier checks left there is
    filtered out by the callers)."""
    sqs, url, found = cloud.client("sqs"), cloud.resource(queue), []
    while batch := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", []):
        sqs.delete_message_batch(QueueUrl=url, Entries=[
            {"Id": str(n), "ReceiptHandle": m["ReceiptHandle"]} for n, m in enumerate(batch)])
        found += [json.loads(m["Body"]) for m in batch]
    return found


def failed_events(cloud, keys):
    """The on-failure records of uploads among ``keys``."""
    return [r for r in drain(cloud, "IntakeFailuresQueue")
            if unquote_plus(r["requestPayload"]["Records"][0]["s3"]["object"]["key"]) in keys]


def messages(cloud, keys):
    """Every "document processed" message about ``keys``, as the audit queue subscribed to the
    topic got it."""
    return [m for m in drain(cloud, "DocumentEventsAudit") if key_of(m["docId"]) in keys]


def published(cloud, keys):
    return sorted(key_of(m["docId"]) for m in messages(cloud, keys))


def notified(cloud, keys):
    """How many notifications the notifier made for ``keys`` (one per document, whatever the
    number of messages)."""
    items = cloud.client("dynamodb").scan(TableName=cloud.resource("NotificationsTable"))["Items"]
    return sum(key_of(i["docId"]["S"]) in keys for i in items)


def runs(cloud):
    return cloud.journal.invocations(INTAKE)


def settled(cloud):
    """Whether every event's last attempt succeeded: none failed for good."""
    last = defaultdict(str)
    for attempt in runs(cloud):
        last[attempt.request_id] = attempt.outcome
    return bool(last) and set(last.values()) == {"Success"}


def waits(invocations):
    """Whole seconds between one attempt's end and the next one's start: Lambda's wait between
    attempts, whatever the handler's own run took on this machine."""
    return [round(later.start - earlier.end) for earlier, later in pairwise(invocations)]


def reconfigure(cloud, configure):
    """Forget the template's settings, then apply the learner's configure()."""
    lam = cloud.client("lambda")
    lam.delete_function_event_invoke_config(FunctionName=INTAKE)
    configure(lam, INTAKE, cloud.attribute("IntakeFailuresQueue", "Arn"))


def s3_event_of(cloud, name, body):
    """The event S3 sends for an upload, to deliver it again by hand: with reserved concurrency 0,
    Lambda hands the event to the on-failure queue without running the function."""
    lam = cloud.client("lambda")
    lam.put_function_concurrency(FunctionName=INTAKE, ReservedConcurrentExecutions=0)
    upload(cloud, name, body)
    cloud.run_until_idle()
    lam.delete_function_concurrency(FunctionName=INTAKE)
    [record] = failed_events(cloud, {f"incoming/{name}"})
    cloud.journal.clear()
    return record["requestPayload"]


# ---- retries -----------------------------------------------------------------------------------

@pytest.mark.points(2, hint="A failure that will pass (the OCR service is down) must propagate out of the handler "
                            "so Lambda retries the event a minute later, and the retry must be free to do the "
                            "work: never catch it and return")
@pytest.mark.local_only(reason="moves the virtual clock and reads attempt times from the journal")
def test_a_document_uploaded_during_an_outage_is_processed_by_the_retry(cloud):
    ssm = cloud.client("ssm")
    ssm.put_parameter(Name=cloud.resource("OcrStatusParameter"), Value="down", Type="String", Overwrite=True)
    upload(cloud, "report.json", {"title": "Quarterly report", "pages": 12})
    cloud.advance(30)  # the first attempt fails while the OCR service is down...
    ssm.put_parameter(Name=cloud.resource("OcrStatusParameter"), Value="available", Type="String", Overwrite=True)
    cloud.run_until_idle()  # ...and the retry, one minute later, finds it back
    attempts = runs(cloud)
    assert [(i.attempt, i.outcome) for i in attempts] == [(1, "Error"), (2, "Success")], cloud.journal.table()
    assert waits(attempts) == [60]
    mine = {"incoming/report.json"}
    assert published(cloud, mine) == ["incoming/report.json"] and notified(cloud, mine) == 1


@pytest.mark.points(2, hint="A publish to SNS that fails must fail the invocation (raise, after giving up your "
                            "claim), so Lambda's retry publishes the message: catching the error and returning "
                            "loses the document")
@pytest.mark.local_only(reason="fails a call of the function with cloud.faults and reads the journal")
def test_a_failed_publish_is_retried_and_published_once(cloud):
    cloud.faults.fail_call(INTAKE, "sns:Publish", error="InternalError")
    upload(cloud, "agenda.json", {"title": "Agenda", "pages": 2})
    cloud.run_until_idle()
    attempts = runs(cloud)
    assert [(i.attempt, i.outcome) for i in attempts] == [(1, "Error"), (2, "Success")], cloud.journal.table()
    assert waits(attempts) == [60]
    mine = {"incoming/agenda.json"}
    assert published(cloud, mine) == ["incoming/agenda.json"] and notified(cloud, mine) == 1


@pytest.mark.points(2, hint="configure() must call put_function_event_invoke_config with MaximumRetryAttempts=1, "
                            "MaximumEventAgeInSeconds=14400 and DestinationConfig OnFailure = the queue ARN; a "
                            "corrupt file must raise (documents.CorruptDocument) without publishing")
@pytest.mark.local_only(reason="waits out async retries with run_until_idle; reads attempt times from the journal")
def test_a_corrupt_document_ends_in_the_on_failure_queue_after_the_configured_attempts(cloud, configure):
    reconfigure(cloud, configure)
    config = cloud.client("lambda").get_function_event_invoke_config(FunctionName=INTAKE)
    assert (config["MaximumRetryAttempts"], config["MaximumEventAgeInSeconds"]) == (1, 14400)
    upload(cloud, "scan.pdf", b"%PDF-1.7 \x00\x01 not a document")
    cloud.run_until_idle()
    attempts = runs(cloud)
    assert waits(attempts) == [60], cloud.journal.table()
    assert [i.outcome for i in attempts] == ["Error", "Error"] and attempts[-1].stop_reason == "RetriesExhausted"
    mine = {"incoming/scan.pdf"}
    [record] = failed_events(cloud, mine)
    assert record["requestContext"]["condition"] == "RetriesExhausted"
    assert record["requestContext"]["approximateInvokeCount"] == 2
    assert published(cloud, mine) == []


# ---- partial failures: the retry finishes the work ---------------------------------------------

@pytest.mark.points(2, hint="A retry carries the same request id as the attempt that crashed right after writing "
                            "its claim: the claim must recognise its own owner and carry on, not wait for itself "
                            "until the retries run out")
@pytest.mark.local_only(reason="crashes the function at a call with cloud.faults")
def test_a_crash_right_after_the_claim_lets_the_retry_finish_the_document(cloud):
    cloud.faults.crash(INTAKE, after="dynamodb:PutItem")
    upload(cloud, "receipt.json", {"title": "Receipt", "pages": 1})
    cloud.run_until_idle()
    mine = {"incoming/receipt.json"}
    assert settled(cloud), cloud.journal.table()
    assert failed_events(cloud, mine) == []
    assert published(cloud, mine) == ["incoming/receipt.json"] and notified(cloud, mine) == 1


@pytest.mark.points(2, hint="Mark a document done only after its message was published: a crash between the two "
                            "must leave the retry a document to publish, not one already marked done")
@pytest.mark.local_only(reason="crashes the function at a call with cloud.faults")
def test_a_crash_before_the_publish_lets_the_retry_publish(cloud):
    cloud.faults.crash(INTAKE, before="sns:Publish")
    upload(cloud, "letter.json", {"title": "Letter", "pages": 1})
    cloud.run_until_idle()
    attempts = runs(cloud)
    assert [(i.attempt, i.outcome) for i in attempts] == [(1, "Error"), (2, "Success")], cloud.journal.table()
    mine = {"incoming/letter.json"}
    assert published(cloud, mine) == ["incoming/letter.json"] and notified(cloud, mine) == 1


@pytest.mark.points(2, hint="When the work was done and the attempt still failed (a crash at the end, a lost "
                            "answer from the write that marks it done), the retry must find the document done and "
                            "publish nothing again: on failure, give up only a claim that is still in progress")
@pytest.mark.local_only(reason="crashes the function and loses a call's answer with cloud.faults")
def test_a_retry_after_the_work_was_done_publishes_nothing_twice(cloud):
    cloud.faults.crash(INTAKE)  # the first attempt does everything, then its process dies
    upload(cloud, "invoice.json", {"title": "Invoice", "pages": 2})
    cloud.run_until_idle()
    cloud.faults.lose_response(INTAKE, "dynamodb:UpdateItem")  # the write happens, its answer is lost
    upload(cloud, "statement.json", {"title": "Statement", "pages": 3})
    cloud.run_until_idle()
    mine = {"incoming/invoice.json", "incoming/statement.json"}
    assert settled(cloud), cloud.journal.table()
    assert published(cloud, mine) == sorted(mine) and notified(cloud, mine) == 2


# ---- duplicates --------------------------------------------------------------------------------

@pytest.mark.points(2, hint="Two deliveries of one upload ran at once and both found it unclaimed: the claim must "
                            "be one conditional write (attribute_not_exists) keyed on the upload, not a read "
                            "followed by a put")
@pytest.mark.local_only(reason="scripts a duplicate S3 delivery and the reads-first schedule with cloud.faults")
def test_a_duplicate_s3_delivery_publishes_once_even_when_both_read_first(cloud):
    cloud.faults.schedule("reads-first")
    cloud.faults.duplicate_delivery(BUCKET)
    upload(cloud, "memo with spaces.json", {"title": "Memo", "pages": 1})
    cloud.run_until_idle()
    assert len({i.request_id for i in runs(cloud)}) == 2, cloud.journal.table()
    mine = {"incoming/memo with spaces.json"}
    assert settled(cloud), cloud.journal.table()
    assert published(cloud, mine) == ["incoming/memo with spaces.json"] and notified(cloud, mine) == 1


@pytest.mark.points(2, hint="The same event delivered again while its first delivery was still working (5 s in, "
                            "well within the function timeout) published it too: a claim must not be taken over "
                            "before its owner can no longer be running; the duplicate should fail and retry later")
@pytest.mark.local_only(reason="holds an invocation with cloud.faults.pause and moves the virtual clock")
def test_a_redelivery_while_the_first_delivery_is_working_waits_for_it(cloud):
    event = s3_event_of(cloud, "minutes.json", {"title": "Minutes", "pages": 3})
    mine = {"incoming/minutes.json"}
    held = cloud.faults.pause(INTAKE, before="sns:Publish")  # only the claim's owner gets there
    cloud.invoke(INTAKE, event, invocation_type="Event")
    cloud.run_until_idle()
    try:
        assert held.reached, cloud.journal.table()
        cloud.advance(5)
        cloud.invoke(INTAKE, event, invocation_type="Event")
        cloud.advance(1)
        early = published(cloud, mine)
    finally:
        if held.reached:
            held.resume()
    cloud.run_until_idle()
    assert early == [], "the redelivery published while the first delivery held the claim"
    assert settled(cloud), cloud.journal.table()
    assert published(cloud, mine) == ["incoming/minutes.json"] and notified(cloud, mine) == 1


@pytest.mark.points(2, hint="A second upload of the same key with new content is a new document: key the claim on "
                            "the bucket, the key and the object's version (versionId, else its eTag or the event's "
                            "sequencer), not on the key alone")
@pytest.mark.local_only(reason="reads the journal")
def test_a_new_version_of_the_same_key_is_processed_as_a_new_document(cloud):
    upload(cloud, "contract.json", {"title": "Contract, first draft", "pages": 4})
    cloud.run_until_idle()
    upload(cloud, "contract.json", {"title": "Contract, signed", "pages": 5})
    cloud.run_until_idle()
    mine = {"incoming/contract.json"}
    assert settled(cloud), cloud.journal.table()
    assert sorted(m["title"] for m in messages(cloud, mine)) == ["Contract, first draft", "Contract, signed"]
    assert notified(cloud, mine) == 2


# ---- concurrency limits ------------------------------------------------------------------------

@pytest.mark.points(1, hint="With reserved concurrency 1, Lambda throttles most of a burst and keeps it in its "
                            "queue: every document must still be processed exactly once, so keep the "
                            "processing idempotent and MaximumEventAgeInSeconds long enough (configure())")
@pytest.mark.local_only(reason="throttles a burst and counts runs in the journal")
def test_a_burst_of_50_uploads_against_reserved_concurrency_1_is_absorbed(cloud, configure):
    reconfigure(cloud, configure)
    cloud.client("lambda").put_function_concurrency(FunctionName=INTAKE, ReservedConcurrentExecutions=1)
    names = [f"page-{n:02d}.json" for n in range(50)]
    for name in names:
        upload(cloud, name, {"title": name, "pages": 1})
    cloud.run_until_idle()
    attempts = runs(cloud)
    throttled = [i for i in attempts if i.outcome == "Throttled"]
    assert throttled and {i.detail for i in throttled} == {"ReservedFunctionConcurrentInvocationLimitExceeded"}
    assert sum(i.outcome == "Success" for i in attempts) == 50, cloud.journal.counts(INTAKE)
    mine = {f"incoming/{n}" for n in names}
    assert published(cloud, mine) == sorted(mine)
    assert failed_events(cloud, mine) == []


@pytest.mark.points(1, hint="configure() must set the OnFailure destination: with reserved concurrency 0, Lambda "
                            "sends every new event straight there, without running the function")
@pytest.mark.local_only(reason="waits with run_until_idle and reads the throttle from the journal")
def test_reserved_concurrency_0_sends_uploads_straight_to_the_failure_queue(cloud, configure):
    reconfigure(cloud, configure)
    cloud.client("lambda").put_function_concurrency(FunctionName=INTAKE, ReservedConcurrentExecutions=0)
    upload(cloud, "paused.json", {"title": "Paused", "pages": 1})
    cloud.run_until_idle()
    [attempt] = runs(cloud)
    assert (attempt.outcome, attempt.stop_reason) == ("Throttled", "ZeroReservedConcurrency")
    mine = {"incoming/paused.json"}
    [record] = failed_events(cloud, mine)
    assert record["requestContext"]["condition"] == "ZeroReservedConcurrency"
    assert record["requestContext"]["approximateInvokeCount"] == 0
    assert published(cloud, mine) == []
