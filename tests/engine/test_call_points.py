"""AWS calls and sleeps as points on the virtual clock: a handler reads the engine's time, a sleep
costs no wall time, every call is journaled, and faults fire at a named call (fail it, lose its
answer, crash or pause there). Invocations due together take turns call by call, so a schedule can
provoke a check-then-put race on purpose, the same way every run."""

from __future__ import annotations

import json
import threading
from datetime import datetime, timezone
from typing import Any

import pytest

from lambdalab import LocalCloud
from lambdalab.errors import LambdaLabError
from lambdalab.service.points import CALL_COST_S, INIT_COST_S, INVOKE_COST_S
from tests.engine.apps import ITEMS_TABLE

TABLE = ITEMS_TABLE + """\
Jobs:
  Type: AWS::SQS::Queue
  Properties:
    QueueName: Jobs
    VisibilityTimeout: 60
"""

APP = '''
import datetime, json, time
import boto3
from botocore.exceptions import ClientError, ReadTimeoutError

ddb = boto3.client("dynamodb")

def readings(context):
    return {"time": time.time(), "now": datetime.datetime.now().timestamp(),
            "utcnow": datetime.datetime.utcnow().replace(tzinfo=datetime.timezone.utc).timestamp(),
            "monotonic": time.monotonic(), "left_ms": context.get_remaining_time_in_millis()}

def clock(event, context):
    before = readings(context)
    time.sleep(event.get("sleep", 0))
    return {"before": before, "after": readings(context)}

def put(key, **extra):
    ddb.put_item(TableName="Items", Item={"id": {"S": key}}, **extra)

def writer(event, context):
    """Puts each key in turn; reports how the first failing call failed."""
    try:
        for key in event["keys"]:
            put(key)
    except ClientError as error:
        return {"raised": type(error).__name__, "code": error.response["Error"]["Code"],
                "client_error": True}
    except ReadTimeoutError as error:
        return {"raised": type(error).__name__}
    return {"raised": None}

def claim(key, conditional, request_id):
    """Check, then put: the work is done by whoever finds the key absent."""
    found = ddb.get_item(TableName="Items", Key={"id": {"S": key}}, ConsistentRead=True).get("Item")
    if found is not None:
        return False
    extra = {"ConditionExpression": "attribute_not_exists(id)"} if conditional else {}
    try:
        ddb.put_item(TableName="Items", Item={"id": {"S": key}, "winner": {"S": request_id}}, **extra)
    except ddb.exceptions.ConditionalCheckFailedException:
        return False
    return True

def racer(event, context):
    for record in event["Records"]:
        body = json.loads(record["body"])
        if claim(body["key"], body.get("conditional", False), context.aws_request_id):
            print(json.dumps({"won": body["key"]}))
'''

FUNCTIONS = """\
Clock:
  Type: AWS::Serverless::Function
  Properties: {CodeUri: src/, Handler: app.clock, Timeout: 90}
ShortClock:
  Type: AWS::Serverless::Function
  Properties: {CodeUri: src/, Handler: app.clock, Timeout: 3}
Writer:
  Type: AWS::Serverless::Function
  Properties:
    {CodeUri: src/, Handler: app.writer, Timeout: 10, Policies: [{DynamoDBCrudPolicy: {TableName: !Ref Items}}]}
Racer:
  Type: AWS::Serverless::Function
  Properties:
    CodeUri: src/
    Handler: app.racer
    Timeout: 10
    Policies: [{DynamoDBCrudPolicy: {TableName: !Ref Items}}]
    Events:
      Jobs:
        Type: SQS
        Properties: {Queue: !GetAtt Jobs.Arn, BatchSize: 1}
"""


@pytest.fixture
def cloud(make_cloud: Any) -> LocalCloud:
    started: LocalCloud = make_cloud(TABLE + FUNCTIONS, {"app.py": APP})
    return started


def stored(cloud: LocalCloud, key: str) -> dict[str, Any] | None:
    item: dict[str, Any] | None = cloud.client("dynamodb").get_item(
        TableName="Items", Key={"id": {"S": key}}, ConsistentRead=True).get("Item")
    return item


def calls(cloud: LocalCloud, function: str | None = None) -> list[tuple[str, str]]:
    return [(c.name, c.outcome) for c in cloud.journal.calls(function)]


def race(cloud: LocalCloud, key: str, conditional: bool) -> list[str]:
    """Deliver one message twice at once; the keys the handler printed it won."""
    cloud.faults.duplicate_delivery("Jobs")
    cloud.client("sqs").send_message(QueueUrl=cloud.resource("Jobs"),
                                     MessageBody=json.dumps({"key": key, "conditional": conditional}))
    cloud.run_until_idle()
    lines = [line for line in cloud.logs("Racer") if line.startswith("{")]
    return [json.loads(line)["won"] for line in lines if json.loads(line).get("won") == key]


# -- the handler's time is the engine's ------------------------------------------------------------
def test_a_handler_reads_the_engines_clock_and_a_sleep_costs_no_wall_time(cloud):
    """time.time(), datetime.now(), utcnow() and time.monotonic() inside a handler follow the engine's
    virtual clock; time.sleep(60) moves them by 60 s, and the journal shows a 60 s invocation."""
    began = cloud.now()
    result = cloud.invoke("Clock", {"sleep": 60})
    assert result.function_error is None
    before, after = result.json["before"], result.json["after"]
    assert before["time"] == pytest.approx(began, abs=0.01)
    for reading in ("time", "now", "utcnow"):
        assert before[reading] == pytest.approx(before["time"], abs=0.01)
        assert after[reading] - before[reading] == pytest.approx(60, abs=0.01)
    assert after["monotonic"] - before["monotonic"] == pytest.approx(60, abs=0.01)
    [run] = cloud.journal.invocations("Clock")
    assert run.duration == pytest.approx(60 + INIT_COST_S + INVOKE_COST_S, abs=0.01)
    assert cloud.now() >= run.end


def test_the_remaining_time_counts_down_in_virtual_time(cloud):
    """context.get_remaining_time_in_millis() falls by the length of a sleep, as on AWS."""
    result = cloud.invoke("Clock", {"sleep": 30})
    before, after = result.json["before"]["left_ms"], result.json["after"]["left_ms"]
    assert before == pytest.approx(90_000, abs=200)
    assert before - after == pytest.approx(30_000, abs=10)


def test_the_handlers_clock_does_not_go_back_between_invocations(cloud):
    """A warm environment's clock moves on with the engine's: the second invocation starts later than
    the first one ended, and monotonic time keeps growing."""
    first = cloud.invoke("Clock", {"sleep": 5}).json
    cloud.advance(100)
    second = cloud.invoke("Clock", {}).json
    assert second["before"]["time"] - first["after"]["time"] >= 100
    assert second["before"]["monotonic"] > first["after"]["monotonic"]


def test_a_sleep_past_the_timeout_ends_at_the_virtual_deadline(cloud):
    """[TMO]: a handler that sleeps past its Timeout is stopped at the deadline: Sandbox.Timedout and
    "Task timed out after 3.00 seconds", stamped with the deadline on the engine's clock."""
    result = cloud.invoke("ShortClock", {"sleep": 60})
    assert result.function_error == "Unhandled"
    message = result.json["errorMessage"]
    assert message.endswith("Task timed out after 3.00 seconds")
    [run] = cloud.journal.invocations("ShortClock")
    assert (run.outcome, run.detail) == ("Error", "Sandbox.Timedout")
    assert run.duration == pytest.approx(3, abs=INIT_COST_S + INVOKE_COST_S + 0.01)
    stamp = datetime.fromisoformat(message.split()[0].replace("Z", "+00:00"))
    assert stamp.astimezone(timezone.utc).timestamp() == pytest.approx(run.start + 3, abs=0.01)


# -- the journal of calls --------------------------------------------------------------------------
def test_the_journal_records_every_call_with_its_virtual_times_and_outcome(cloud):
    """journal.calls(): function, request id, service, operation, virtual start and end, and "ok" or
    the AWS error code the call ended with."""
    first = cloud.invoke("Writer", {"keys": ["a", "b"]})
    cloud.faults.schedule("reads-first")
    race(cloud, "k", conditional=True)  # the second put finds the key taken
    got = cloud.journal.calls()
    writes = [c for c in got if c.function == "Writer"]
    assert [(c.request_id, c.service, c.operation, c.outcome) for c in writes] == [
        (first.request_id, "dynamodb", "PutItem", "ok"), (first.request_id, "dynamodb", "PutItem", "ok")]
    assert all(c.end - c.start == pytest.approx(CALL_COST_S, abs=1e-6) for c in writes)
    assert writes[1].start == pytest.approx(writes[0].end)
    assert "ConditionalCheckFailedException" in [c.outcome for c in cloud.journal.calls("Racer")]
    assert cloud.journal.calls("Racer") == [c for c in got if c.function == "Racer"]
    table = cloud.journal.calls_table("Writer").splitlines()
    assert table[1].split()[1:] == ["Writer", first.request_id[:8], "dynamodb:PutItem", "ok"]


# -- fail_call and lose_response -------------------------------------------------------------------
def test_a_failed_call_raises_the_clients_modeled_exception_and_commits_nothing(cloud):
    """fail_call: the call raises as botocore raises that error code (here the client's modeled
    ConditionalCheckFailedException), nothing is written, and only the next ``times`` calls fail."""
    cloud.faults.fail_call("Writer", "dynamodb:PutItem", error="ConditionalCheckFailedException")
    assert cloud.invoke("Writer", {"keys": ["a"]}).json == {
        "raised": "ConditionalCheckFailedException", "code": "ConditionalCheckFailedException",
        "client_error": True}
    assert stored(cloud, "a") is None
    assert cloud.invoke("Writer", {"keys": ["a"]}).json == {"raised": None}
    assert stored(cloud, "a") is not None
    assert calls(cloud, "Writer") == [("dynamodb:PutItem", "ConditionalCheckFailedException"),
                                      ("dynamodb:PutItem", "ok")]


def test_a_failed_call_raises_a_client_error_with_that_code_for_times_calls(cloud):
    """fail_call(times=2): the next two calls, across invocations, raise a botocore ClientError whose
    code is the one asked for; the third goes through."""
    cloud.faults.fail_call("Writer", "dynamodb:PutItem", error="ThrottlingException", times=2)
    for _ in range(2):
        answer = cloud.invoke("Writer", {"keys": ["a"]}).json
        assert (answer["client_error"], answer["code"]) == (True, "ThrottlingException")
        assert stored(cloud, "a") is None
    assert cloud.invoke("Writer", {"keys": ["a"]}).json == {"raised": None}
    assert [outcome for _, outcome in calls(cloud, "Writer")] == ["ThrottlingException"] * 2 + ["ok"]


def test_where_selects_the_call_to_fail_by_its_request_parameters(cloud):
    """fail_call(where=...): only a call whose parameters satisfy the predicate fails."""
    cloud.faults.fail_call("Writer", "dynamodb:PutItem", where=lambda params: params["Item"]["id"]["S"] == "b")
    assert cloud.invoke("Writer", {"keys": ["a", "b", "c"]}).json["code"] == "ThrottlingException"
    assert stored(cloud, "a") is not None and stored(cloud, "b") is None and stored(cloud, "c") is None
    assert cloud.invoke("Writer", {"keys": ["b"]}).json == {"raised": None}


def test_a_lost_response_commits_the_write_yet_the_handler_sees_a_read_timeout(cloud):
    """lose_response: the write happened (it reads back), but the handler gets botocore's
    ReadTimeoutError instead of the answer."""
    cloud.faults.lose_response("Writer", "dynamodb:PutItem")
    assert cloud.invoke("Writer", {"keys": ["a", "b"]}).json == {"raised": "ReadTimeoutError"}
    assert stored(cloud, "a") is not None and stored(cloud, "b") is None
    assert calls(cloud, "Writer") == [("dynamodb:PutItem", "ok")]
    assert cloud.invoke("Writer", {"keys": ["b"]}).json == {"raised": None}


def test_where_selects_the_call_whose_response_is_lost(cloud):
    """lose_response(where=...): the predicate sees the request's parameters, so only the put of the
    chosen key loses its answer; every put commits."""
    cloud.faults.lose_response("Writer", "dynamodb:PutItem", where=lambda params: params["Item"]["id"]["S"] == "b")
    assert cloud.invoke("Writer", {"keys": ["a", "b", "c"]}).json == {"raised": "ReadTimeoutError"}
    assert stored(cloud, "a") is not None and stored(cloud, "b") is not None and stored(cloud, "c") is None


# -- crashes at a call -----------------------------------------------------------------------------
def test_a_crash_before_a_call_kills_the_process_there(cloud):
    """crash(before=..., nth=2): the process dies at the second put (Runtime.ExitError, environment
    reset): the first write happened, the second did not."""
    cloud.faults.crash("Writer", before="dynamodb:PutItem", nth=2)
    result = cloud.invoke("Writer", {"keys": ["a", "b"]})
    assert (result.function_error, result.json["errorType"]) == ("Unhandled", "Runtime.ExitError")
    assert stored(cloud, "a") is not None and stored(cloud, "b") is None
    assert calls(cloud, "Writer") == [("dynamodb:PutItem", "ok"), ("dynamodb:PutItem", "crashed")]
    cloud.invoke("Writer", {"keys": ["c"]})
    first, second = cloud.journal.invocations("Writer")
    assert first.detail == "Runtime.ExitError" and second.cold and second.env_id != first.env_id


def test_a_crash_after_a_call_kills_the_process_once_the_call_committed(cloud):
    """crash(after=...): the call committed, then the process died before it could go on."""
    cloud.faults.crash("Writer", after="dynamodb:PutItem")
    result = cloud.invoke("Writer", {"keys": ["a", "b"]})
    assert result.json["errorType"] == "Runtime.ExitError"
    assert stored(cloud, "a") is not None and stored(cloud, "b") is None
    assert calls(cloud, "Writer") == [("dynamodb:PutItem", "ok")]


def test_a_crash_with_no_call_named_still_dies_after_the_handler(cloud):
    """crash(fn, times=1): the handler runs to its end (every write happened), then the process dies."""
    cloud.faults.crash("Writer", times=1)
    assert cloud.invoke("Writer", {"keys": ["a", "b"]}).json["errorType"] == "Runtime.ExitError"
    assert stored(cloud, "a") is not None and stored(cloud, "b") is not None
    assert cloud.invoke("Writer", {"keys": ["c"]}).function_error is None


# -- schedules: provoking a race -------------------------------------------------------------------
def test_reads_first_makes_both_duplicate_deliveries_win_a_check_then_put(cloud):
    """[SQS-a]: two deliveries of one message run at once; with every read scheduled before any write,
    both find the key absent and both do the work, every time."""
    cloud.faults.schedule("reads-first")
    for key in ("k1", "k2", "k3"):
        assert race(cloud, key, conditional=False) == [key, key]
    assert [op for op, _ in calls(cloud, "Racer")[:4]] == ["dynamodb:GetItem"] * 2 + ["dynamodb:PutItem"] * 2


def test_a_conditional_put_lets_exactly_one_delivery_win_under_the_same_schedule(cloud):
    """attribute_not_exists(id) turns the check and the put into one atomic step: the second writer's
    put fails with ConditionalCheckFailedException and exactly one delivery wins."""
    cloud.faults.schedule("reads-first")
    for key in ("k1", "k2", "k3"):
        assert race(cloud, key, conditional=True) == [key]
    outcomes = [outcome for op, outcome in calls(cloud, "Racer") if op == "dynamodb:PutItem"]
    assert sorted(outcomes) == sorted(["ok", "ConditionalCheckFailedException"] * 3)


def test_the_same_seed_gives_the_same_calls_in_the_same_order(make_cloud):
    """Invocations due together interleave in a seeded order: two runs with one seed journal the same
    calls, by the same request ids, at the same virtual times."""
    runs = []
    for _ in range(2):
        cloud = make_cloud(TABLE + FUNCTIONS, {"app.py": APP}, seed=7)
        for key in ("k1", "k2", "k3"):
            race(cloud, key, conditional=False)
        runs.append([(c.request_id, c.name, round(c.start, 6), round(c.end, 6), c.outcome)
                     for c in cloud.journal.calls()])
        cloud.close()
    assert len(runs[0]) == 12 and runs[0] == runs[1]


# -- pause and resume ------------------------------------------------------------------------------
def test_a_paused_invocation_waits_while_the_rest_of_the_cloud_goes_on(cloud):
    """pause(before=...): the invocation stops at the call; run_until_idle() returns, a duplicate
    invocation runs to its end, the clock can be advanced; resume() lets the first one finish."""
    pause = cloud.faults.pause("Writer", before="dynamodb:PutItem", nth=2)
    results: list[Any] = []
    caller = threading.Thread(target=lambda: results.append(cloud.invoke("Writer", {"keys": ["a", "b"]})))
    caller.start()
    try:
        assert pause.wait_reached(60)
        assert pause.reached
        cloud.run_until_idle()
        assert stored(cloud, "a") is not None and stored(cloud, "b") is None
        duplicate = cloud.invoke("Writer", {"keys": ["a", "b"]})
        assert duplicate.json == {"raised": None} and results == []
        before = cloud.now()
        cloud.advance(5)  # within Writer's 10 s timeout: held past it, it would be timed out
        assert cloud.now() == pytest.approx(before + 5)
        assert results == []
    finally:
        pause.resume()
        caller.join(60)
    [first] = results
    assert first.json == {"raised": None}
    assert pause.request_id == first.request_id
    assert [c.request_id for c in cloud.journal.calls("Writer")] == [
        first.request_id, duplicate.request_id, duplicate.request_id, first.request_id]
    assert [i.request_id for i in cloud.journal.invocations("Writer")] == [duplicate.request_id, first.request_id]
    with pytest.raises(LambdaLabError, match="already resumed"):
        pause.resume()


def send(cloud: LocalCloud, key: str) -> None:
    cloud.client("sqs").send_message(QueueUrl=cloud.resource("Jobs"), MessageBody=json.dumps({"key": key}))


def test_a_batch_paused_mid_run_lets_the_poller_go_on_and_finishes_when_resumed(cloud):
    """A queue-driven invocation held at a pause does not hold the cloud: other messages are
    processed meanwhile, and once resumed the batch finishes and is deleted. ``advance`` drives
    the clock in steps while it is held (``run_until_idle`` would also run the end of its
    visibility timeout, the next test)."""
    pause = cloud.faults.pause("Racer", before="dynamodb:PutItem")
    send(cloud, "held")
    cloud.advance(1)
    assert pause.reached
    send(cloud, "meanwhile")
    cloud.advance(1)
    assert stored(cloud, "meanwhile") is not None and stored(cloud, "held") is None
    pause.resume()
    cloud.run_until_idle()
    assert stored(cloud, "held") is not None
    assert [str(r.outcome) for r in cloud.journal.invocations("Racer")] == ["Success", "Success"]
    assert cloud.queue_attributes("Jobs")["ApproximateNumberOfMessages"] == "0"
    assert cloud.queue_attributes("Jobs")["ApproximateNumberOfMessagesNotVisible"] == "0"


def test_a_message_comes_back_after_its_visibility_timeout_while_its_batch_is_paused(cloud):
    """[SQS-a]: a batch still running when the queue's visibility timeout ends is received again by
    another invocation; held past its own timeout, the first one is then timed out, as Lambda would."""
    pause = cloud.faults.pause("Racer", before="dynamodb:PutItem")
    send(cloud, "taken-over")
    cloud.run_until_idle()  # everything but the held batch: its message comes back after 60 s
    assert pause.reached
    runs = cloud.journal.invocations("Racer")
    assert [(r.attempt, str(r.outcome)) for r in runs] == [(2, "Success")]
    assert runs[0].start - cloud.journal.origin >= 60
    pause.resume()
    cloud.run_until_idle()
    runs = cloud.journal.invocations("Racer")
    assert [(r.attempt, str(r.outcome), r.detail) for r in runs] == [(2, "Success", None),
                                                                     (1, "Error", "Sandbox.Timedout")]
    assert cloud.queue_attributes("Jobs")["ApproximateNumberOfMessages"] == "0"


def test_an_event_paused_mid_run_lets_the_async_queue_go_on_and_finishes_when_resumed(cloud):
    """An asynchronous invocation held at a pause does not hold the async queue: later events run,
    ``run_until_idle`` returns, and once resumed the held one finishes."""
    pause = cloud.faults.pause("Writer", before="dynamodb:PutItem", where=lambda p: p["Item"]["id"]["S"] == "late")
    cloud.invoke("Writer", {"keys": ["late"]}, invocation_type="Event")
    cloud.run_until_idle()
    assert pause.reached and stored(cloud, "late") is None
    cloud.invoke("Writer", {"keys": ["next"]}, invocation_type="Event")
    cloud.run_until_idle()
    assert stored(cloud, "next") is not None and stored(cloud, "late") is None
    pause.resume()
    cloud.run_until_idle()
    assert stored(cloud, "late") is not None
    assert [str(r.outcome) for r in cloud.journal.invocations("Writer")] == ["Success", "Success"]


STREAM = TABLE + """\
Events:
  Type: AWS::Kinesis::Stream
  Properties: {ShardCount: 1}
Recorder:
  Type: AWS::Serverless::Function
  Properties:
    CodeUri: src/
    Handler: recorder.handler
    Timeout: 10
    Policies: [{DynamoDBCrudPolicy: {TableName: !Ref Items}}]
    Events:
      Events:
        Type: Kinesis
        Properties: {Stream: !GetAtt Events.Arn, BatchSize: 1, StartingPosition: TRIM_HORIZON}
"""
RECORDER = """
import base64, boto3
ddb = boto3.client("dynamodb")

def handler(event, context):
    for record in event["Records"]:
        key = base64.b64decode(record["kinesis"]["data"]).decode()
        ddb.put_item(TableName="Items", Item={"id": {"S": key}})
"""


def test_a_stream_batch_paused_mid_run_holds_its_shard_until_resumed(make_cloud):
    """A stream batch held at a pause does not hold the cloud, but its shard waits for it (records of
    a shard are processed in order): once resumed, the shard goes on."""
    cloud = make_cloud(STREAM, {"app.py": APP, "recorder.py": RECORDER})
    pause = cloud.faults.pause("Recorder", before="dynamodb:PutItem", where=lambda p: p["Item"]["id"]["S"] == "r1")
    kinesis = cloud.client("kinesis")
    for key in ("r1", "r2"):
        kinesis.put_record(StreamName=cloud.resource("Events"), Data=key.encode(), PartitionKey="one")
    cloud.run_until_idle()
    assert pause.reached and stored(cloud, "r1") is None and stored(cloud, "r2") is None
    pause.resume()
    cloud.run_until_idle()
    assert stored(cloud, "r1") is not None and stored(cloud, "r2") is not None
    assert [c.name for c in cloud.journal.calls("Recorder")] == ["dynamodb:PutItem", "dynamodb:PutItem"]


def test_a_pause_reached_on_the_thread_that_armed_it_is_refused_instead_of_waiting_forever(cloud):
    """A synchronous invoke from the thread that armed the pause could never be resumed: it ends at
    once with an error that says why and what to do, and the cloud goes on."""
    cloud.faults.pause("Writer", before="dynamodb:PutItem")
    with pytest.raises(LambdaLabError, match="on the thread that armed it"):
        cloud.invoke("Writer", {"keys": ["x"]})
    assert stored(cloud, "x") is None
    assert cloud.invoke("Writer", {"keys": ["y"]}).json == {"raised": None}


def test_resuming_a_pause_no_invocation_reached_is_refused(cloud):
    """A pause nobody reached has nothing to resume: a LambdaLabError says so."""
    pause = cloud.faults.pause("Writer", after="dynamodb:PutItem")
    assert not pause.reached
    with pytest.raises(LambdaLabError, match="no invocation of Writer has reached"):
        pause.resume()


# -- bad input -------------------------------------------------------------------------------------
def test_faults_at_calls_name_the_unknown_function(cloud):
    with pytest.raises(LambdaLabError, match="Nope"):
        cloud.faults.pause("Nope", before="dynamodb:PutItem")
    with pytest.raises(LambdaLabError, match="Nope"):
        cloud.faults.fail_call("Nope", "dynamodb:PutItem")


@pytest.mark.parametrize("call", ["PutItem", "dynamodb.PutItem", "dynamodb:putItem", "", "dynamodb:"])
def test_a_malformed_call_name_is_refused_with_the_expected_form(cloud, call):
    """Calls are named as boto3 names them, ``service:Operation``; anything else is refused by name."""
    for arm in (lambda: cloud.faults.fail_call("Writer", call),
                lambda: cloud.faults.lose_response("Writer", call),
                lambda: cloud.faults.crash("Writer", before=call),
                lambda: cloud.faults.pause("Writer", after=call)):
        with pytest.raises(LambdaLabError, match=r"is not a call name.*'dynamodb:PutItem'") as raised:
            arm()
        assert repr(call) in str(raised.value)


def test_an_unknown_service_or_operation_is_refused_by_name(cloud):
    """A call name must name a real boto3 service and one of its operations; a near miss is suggested."""
    with pytest.raises(LambdaLabError, match="no service 'dynamo'"):
        cloud.faults.fail_call("Writer", "dynamo:PutItem")
    with pytest.raises(LambdaLabError, match="did you mean dynamodb:PutItem"):
        cloud.faults.pause("Writer", before="dynamodb:PutItems")


def test_a_point_is_named_by_exactly_one_of_before_and_after(cloud):
    with pytest.raises(LambdaLabError, match="exactly one point"):
        cloud.faults.pause("Writer", before="dynamodb:PutItem", after="dynamodb:PutItem")
    with pytest.raises(LambdaLabError, match="exactly one point"):
        cloud.faults.pause("Writer")
    with pytest.raises(LambdaLabError, match="exactly one point"):
        cloud.faults.crash("Writer", before="dynamodb:GetItem", after="dynamodb:PutItem")


def test_nth_counts_from_one_and_schedules_are_named(cloud):
    with pytest.raises(LambdaLabError, match="nth counts calls .* from 1, got 0"):
        cloud.faults.pause("Writer", before="dynamodb:PutItem", nth=0)
    with pytest.raises(LambdaLabError, match="nth"):
        cloud.faults.crash("Writer", after="dynamodb:PutItem", nth=0)
    with pytest.raises(LambdaLabError, match="unknown schedule 'random'.*seeded.*reads-first"):
        cloud.faults.schedule("random")


def test_faults_at_calls_need_the_virtual_clock(make_cloud):
    """On the real clock the engine does not stand between a function and its calls: call faults and
    schedules are refused with a message saying they need clock='virtual'."""
    cloud = make_cloud(TABLE + FUNCTIONS, {"app.py": APP}, clock="real")
    for arm in (lambda: cloud.faults.pause("Writer", before="dynamodb:PutItem"),
                lambda: cloud.faults.crash("Writer", after="dynamodb:PutItem"),
                lambda: cloud.faults.fail_call("Writer", "dynamodb:PutItem"),
                lambda: cloud.faults.lose_response("Writer", "dynamodb:PutItem"),
                lambda: cloud.faults.schedule("reads-first")):
        with pytest.raises(LambdaLabError, match="clock='virtual'"):
            arm()
