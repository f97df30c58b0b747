"""Reading SQS event-source mappings: AWS's defaults, ranges and refusals."""

from __future__ import annotations

import warnings

import pytest

from lambdalab.errors import ConfigurationError, InvalidParameterValueException
from lambdalab.sources.sqs.config import SharedQueueWarning, VisibilityTimeoutWarning, parse_mapping
from tests.engine.apps import function
from tests.engine.sqs_apps import queue_app, queue_depth, seen, send

ARN = "arn:aws:sqs:us-east-1:123456789012:Jobs"


def parse(fifo: bool = False, **props: object):
    return parse_mapping("Map", {"EventSourceArn": ARN, "FunctionName": "Worker", **props},
                         queue_logical_id="Jobs", queue_url="http://q", fifo=fifo, function_name="Worker")


def test_defaults_are_awss():
    """[ESM-API],[SQS-a]: BatchSize 10, no batching window, enabled, no MaximumConcurrency."""
    config = parse()
    assert (config.BatchSize, config.MaximumBatchingWindowInSeconds, config.Enabled) == (10, 0, True)
    assert config.ScalingConfig.MaximumConcurrency is None and not config.report_batch_item_failures


@pytest.mark.parametrize("props,fifo,message", [
    ({"BatchSize": 11}, False,
     "Maximum batch window in seconds must be greater than 0 if maximum batch size is greater than 10"),
    ({"BatchSize": 10001, "MaximumBatchingWindowInSeconds": 1}, False, "less than or equal to 10000"),
    ({"BatchSize": 0}, False, "greater than or equal to 1"),
    ({"MaximumBatchingWindowInSeconds": 301}, False, "less than or equal to 300"),
    ({"MaximumBatchingWindowInSeconds": 1}, True, "Batching window is not supported for FIFO queues"),
    ({"BatchSize": 11}, True, "FIFO"),
    ({"ScalingConfig": {"MaximumConcurrency": 1}}, False,
     "Value '1' at 'scalingConfig.maximumConcurrency' failed to satisfy constraint: "
     "Member must have value greater than or equal to 2"),
    ({"ScalingConfig": {"MaximumConcurrency": 1001}}, False, "less than or equal to 1000"),
    ({"FunctionResponseTypes": ["ReportItemFailures"]}, False, "enum value set: [ReportBatchItemFailures]"),
    ({"FilterCriteria": {"Filters": [{"Pattern": "not json"}]}}, False, "Invalid filter pattern definition."),
    ({"StartingPosition": "LATEST"}, False, "StartingPosition"),
    ({"ProvisionedPollerConfig": {"MinimumPollers": 2}}, False, "ProvisionedPollerConfig"),
])
def test_out_of_range_or_unsupported_settings_are_refused(props, fifo, message):
    """[ESM-API],[SQS-a],[API-SC],[FILTER]: AWS's ranges and wording; unsupported settings named."""
    with pytest.raises(ConfigurationError, match="Map") as caught:
        parse(fifo=fifo, **props)
    assert message in str(caught.value)


def test_a_mapping_is_rejected_when_the_visibility_timeout_is_shorter_than_the_function_timeout(make_cloud):
    """[SQS-C]: Lambda rejects the mapping when the function timeout exceeds the queue's visibility timeout."""
    with pytest.raises(ConfigurationError, match="Queue visibility timeout: 10 seconds is less than "
                                                 "Function timeout: 30 seconds"):
        make_cloud(*queue_app(visibility=10, timeout=30))


def test_a_visibility_timeout_below_six_times_the_function_timeout_warns(make_cloud):
    """[SQS-C],[SQS-a]: AWS recommends a visibility timeout of at least 6 x the function timeout."""
    with pytest.warns(VisibilityTimeoutWarning, match="6 x the function timeout"):
        cloud = make_cloud(*queue_app(visibility=10, timeout=3))
    assert cloud.event_source_mapping("Worker").config.queue_name == "Jobs"


def test_update_event_source_mapping_changes_settings_with_the_same_checks(make_cloud):
    """[ESM-API]: UpdateEventSourceMapping changes a mapping's settings, checked as at creation."""
    cloud = make_cloud(*queue_app(events="BatchSize: 3\nFunctionResponseTypes: [ReportBatchItemFailures]"))
    poller = cloud.event_source_mapping("Worker")
    answer = poller.update(FunctionResponseTypes=[], ScalingConfig={"MaximumConcurrency": 3})
    assert answer["FunctionResponseTypes"] == [] and answer["ScalingConfig"] == {"MaximumConcurrency": 3}
    config = poller.config
    assert not config.report_batch_item_failures and config.BatchSize == 3 and poller.scaling.ceiling == 3
    with pytest.raises(InvalidParameterValueException, match="greater than 0 if maximum batch size"):
        poller.update(BatchSize=20)
    poller.update(Enabled=False)
    assert not poller.enabled


def test_sqs_mappings_are_served_by_the_lambda_api(make_cloud):
    """[ESM-API]: List/Get/UpdateEventSourceMapping through the stock boto3 client see SQS mappings;
    an out-of-range value gets AWS's error and leaves the mapping as it was."""
    cloud = make_cloud(*queue_app(events="BatchSize: 3"))
    lam = cloud.client("lambda")
    [mapping] = lam.list_event_source_mappings(FunctionName="Worker")["EventSourceMappings"]
    assert mapping["EventSourceArn"].endswith(":Jobs") and mapping["BatchSize"] == 3
    assert lam.get_event_source_mapping(UUID=mapping["UUID"])["State"] == "Enabled"
    changed = lam.update_event_source_mapping(UUID=mapping["UUID"], BatchSize=7, Enabled=False)
    assert changed["BatchSize"] == 7 and changed["State"] == "Disabled"
    assert cloud.event_source_mapping("Worker").config.BatchSize == 7
    with pytest.raises(lam.exceptions.InvalidParameterValueException):
        lam.update_event_source_mapping(UUID=mapping["UUID"], BatchSize=50)
    assert cloud.event_source_mapping("Worker").config.BatchSize == 7


FILTER_A = """\
FilterCriteria:
  Filters:
    - Pattern: '{"body": {"kind": ["a"]}}'
"""
SECOND_CONSUMER = "Events:\n  Jobs:\n    Type: SQS\n    Properties:\n      Queue: !GetAtt Jobs.Arn\n"


def shared_queue_app(events: str = FILTER_A) -> tuple[str, dict[str, str]]:
    """Queue ``Jobs`` read by ``Worker`` (mapping ``WorkerJobs``, with ``events``) and ``Zeta``."""
    resources, handlers = queue_app(events=events)
    return resources + function("Zeta", "worker.handler", extra=SECOND_CONSUMER, Timeout=3), handlers


def test_two_mappings_on_one_queue_with_a_filter_warn_and_the_filter_deletes(make_cloud):
    """[FILTER],[SQS-a]: a mapping deletes the messages its filter drops, so another mapping on the
    same queue never sees them: the engine warns at start, naming both mappings and the queue, and
    counts and logs what the filter deleted."""
    with pytest.warns(SharedQueueWarning) as caught:
        cloud = make_cloud(*shared_queue_app())
    [warning] = [str(w.message) for w in caught if w.category is SharedQueueWarning]
    assert "WorkerJobs (Worker)" in warning and "ZetaJobs (Zeta)" in warning and "queue Jobs" in warning
    send(cloud, {"id": 1, "kind": "a"}, {"id": 2, "kind": "b"}, {"id": 3, "kind": "b"})
    cloud.run_until_idle()
    assert sorted(e["id"] for e in seen(cloud)) == [1]  # Worker polls first and takes all three
    assert cloud.journal.invocations("Zeta") == [], "the filtered messages were deleted, not left for Zeta"
    assert cloud.event_source_mapping("WorkerJobs").stats.filtered == 2
    assert any("2 message(s) matched no filter of WorkerJobs and were deleted" in line
               for line in cloud.logs("Worker"))
    assert queue_depth(cloud, "Jobs") == 0


def test_two_mappings_on_one_queue_warn_when_a_filter_is_added_later(make_cloud):
    """[SQS-a],[FILTER]: two consumers of one queue without filters share its messages (no warning);
    UpdateEventSourceMapping adding a filter to one of them warns as at start."""
    with warnings.catch_warnings():
        warnings.simplefilter("error", SharedQueueWarning)
        cloud = make_cloud(*shared_queue_app(events=""))
    with pytest.warns(SharedQueueWarning, match="WorkerJobs has FilterCriteria"):
        cloud.event_source_mapping("WorkerJobs").update(FilterCriteria={"Filters": [{"Pattern": '{"body": {}}'}]})
