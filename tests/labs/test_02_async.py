"""Lab 02 graded checks: the document-intake pipeline (S3 -> intake -> DynamoDB + SNS -> notifier).

Each check drives the learner's code through the local engine: uploads to the documents bucket,
scripted faults (an OCR outage, duplicate S3 deliveries, a crash after the work was done, reserved
concurrency), then reads back the journal, the documents table, the audit copy of every SNS
message, the notifications table and the on-failure queue. Virtual time: minutes of retries and
hours of throttle backoff take a fraction of a second. Every check needs the engine (faults, the
journal, the virtual clock), so all are local only on a deployed stack. The checks share one cloud
(warm functions, one start): each uploads documents of its own and reads back only those, and what
it changes (the OCR status, the intake function's retry settings and reserved concurrency) is put
back after it.
"""

from __future__ import annotations

import json
from itertools import pairwise

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


def documents(cloud, keys, status="DONE"):
    """The uploads among ``keys`` whose item has ``status`` (checks share a cloud: each reads back
    only its own documents)."""
    items = cloud.client("dynamodb").scan(TableName=cloud.resource("DocumentsTable"))["Items"]
    return sorted(key for key in (key_of(i["docId"]["S"]) for i in items if i.get("status", {}).get("S") == status)
                  if key in keys)


def drain(cloud, queue):
    sqs, found = cloud.client("sqs"), []
    while batch := sqs.receive_message(QueueUrl=cloud.resource(queue), MaxNumberOfMessages=10,
                                       VisibilityTimeout=600).get("Messages", []):
        found += [json.loads(m["Body"]) for m in batch]
    return found


def failed_events(cloud, keys):
    """The on-failure records of uploads among ``keys``."""
    return [r for r in drain(cloud, "IntakeFailuresQueue")
            if r["requestPayload"]["Records"][0]["s3"]["object"]["key"] in keys]


def published(cloud, keys):
    """Every "document processed" message about ``keys``, as the audit queue subscribed to the
    topic got it."""
    return sorted(key for key in (key_of(m["docId"]) for m in drain(cloud, "DocumentEventsAudit")) if key in keys)


def notified(cloud, keys):
    items = cloud.client("dynamodb").scan(TableName=cloud.resource("NotificationsTable"))["Items"]
    return sum(key_of(i["docId"]["S"]) in keys for i in items)


def runs(cloud):
    return cloud.journal.invocations(INTAKE)


def waits(invocations):
    """Whole seconds between one attempt's end and the next one's start: Lambda's wait between
    attempts, whatever the handler's own run took on this machine."""
    return [round(later.start - earlier.end) for earlier, later in pairwise(invocations)]


def reconfigure(cloud, configure):
    """Forget the template's settings, then apply the learner's configure()."""
    lam = cloud.client("lambda")
    lam.delete_function_event_invoke_config(FunctionName=INTAKE)
    configure(lam, INTAKE, cloud.attribute("IntakeFailuresQueue", "Arn"))


# ---- retries -----------------------------------------------------------------------------------

@pytest.mark.points(3, hint="A failure that will pass (documents.DependencyUnavailable) must propagate out of the "
                            "handler so Lambda retries the event a minute later; release your claim first, so "
                            "the retry can do the work; never catch and return")
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
    assert documents(cloud, mine) == ["incoming/report.json"]
    assert published(cloud, mine) == ["incoming/report.json"] and notified(cloud, mine) == 1


@pytest.mark.points(3, hint="configure() must call put_function_event_invoke_config with MaximumRetryAttempts=1, "
                            "MaximumEventAgeInSeconds=14400 and DestinationConfig OnFailure = the queue ARN; a "
                            "corrupt file must raise (documents.CorruptDocument) without writing a DONE item or "
                            "publishing")
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
    assert documents(cloud, mine) == [] and published(cloud, mine) == []


# ---- idempotency -------------------------------------------------------------------------------

@pytest.mark.points(3, hint="Key the claim on the upload's identity (bucket, decoded key, versionId or eTag) with "
                            "a conditional put (attribute_not_exists); a second delivery of the same event must "
                            "find it DONE, or raise AlreadyInProgress while the first is still working")
@pytest.mark.local_only(reason="scripts a duplicate S3 delivery with cloud.faults")
def test_a_duplicate_s3_delivery_makes_one_item_and_one_message(cloud):
    cloud.faults.duplicate_delivery(BUCKET)
    upload(cloud, "memo with spaces.json", {"title": "Memo", "pages": 1})
    cloud.run_until_idle()
    assert len({i.request_id for i in runs(cloud)}) == 2, cloud.journal.table()
    mine = {"incoming/memo with spaces.json"}
    assert documents(cloud, mine) == ["incoming/memo with spaces.json"]
    assert published(cloud, mine) == ["incoming/memo with spaces.json"] and notified(cloud, mine) == 1


@pytest.mark.points(3, hint="A retry carries the same request id as the attempt that failed: when the claim is "
                            "yours, carry on; when the item is DONE, do nothing (no second publish)")
@pytest.mark.local_only(reason="scripts a crash after the work with cloud.faults")
def test_a_retry_after_the_work_was_done_publishes_nothing_twice(cloud):
    cloud.faults.crash(INTAKE)  # the first attempt does everything, then its process dies
    upload(cloud, "invoice.json", {"title": "Invoice", "pages": 2})
    cloud.run_until_idle()
    attempts = runs(cloud)
    assert [(i.attempt, i.outcome) for i in attempts] == [(1, "Error"), (2, "Success")], cloud.journal.table()
    mine = {"incoming/invoice.json"}
    assert documents(cloud, mine) == ["incoming/invoice.json"]
    assert published(cloud, mine) == ["incoming/invoice.json"] and notified(cloud, mine) == 1


# ---- concurrency limits ------------------------------------------------------------------------

@pytest.mark.points(3, hint="With reserved concurrency 1, Lambda throttles most of a burst and requeues it for "
                            "hours: every document must still be processed exactly once, so keep "
                            "MaximumEventAgeInSeconds long enough (configure()) and the processing idempotent")
@pytest.mark.local_only(reason="needs hours of throttle backoff on the virtual clock, and the journal")
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
    assert documents(cloud, mine) == sorted(mine)
    assert published(cloud, mine) == sorted(mine)
    assert failed_events(cloud, mine) == []


@pytest.mark.points(2, hint="configure() must set the OnFailure destination: with reserved concurrency 0, Lambda "
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
    assert documents(cloud, mine) == [] and published(cloud, mine) == []
