"""The data plane: moto in server mode, serialised, with SQS made linear and timers the engine drives."""

from __future__ import annotations

import socket
import subprocess
import sys
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any

import moto
import pytest
from botocore.exceptions import ClientError

from lambdalab.dataplane import patches
from lambdalab.dataplane.server import ENGINE_VISIBILITY_TIMEOUT, DataPlane, RedrivePolicy

REGION = "us-east-1"
HOLD = ENGINE_VISIBILITY_TIMEOUT


@pytest.fixture(scope="module")
def running() -> Iterator[DataPlane]:
    dataplane = DataPlane(REGION).start()
    yield dataplane
    dataplane.stop()


@pytest.fixture
def dataplane(running: DataPlane) -> DataPlane:
    running.reset()
    return running


def make_queue(dp: DataPlane, name: str, **attributes: str) -> str:
    return str(dp.client("sqs").create_queue(QueueName=name, Attributes=attributes)["QueueUrl"])


def receive(dp: DataPlane, url: str, n: int = 10, **kwargs: Any) -> list[dict[str, Any]]:
    answer = dp.client("sqs").receive_message(
        QueueUrl=url, MaxNumberOfMessages=n, AttributeNames=["All"], **{"WaitTimeSeconds": 0, **kwargs})
    return list(answer.get("Messages", []))


def counts(dp: DataPlane, url: str) -> tuple[str, str, str]:
    attributes = dp.queue_attributes(url)
    return (attributes["ApproximateNumberOfMessages"], attributes["ApproximateNumberOfMessagesNotVisible"],
            attributes["ApproximateNumberOfMessagesDelayed"])


# -- the server ------------------------------------------------------------------------------------
def test_serves_on_loopback_only_at_a_free_port(dataplane: DataPlane) -> None:
    """Every server binds 127.0.0.1: a course machine must not expose a cloud to its network
    (design: platform notes, everything binds 127.0.0.1)."""
    assert dataplane.endpoint_url.startswith("http://127.0.0.1:")
    assert int(dataplane.endpoint_url.rsplit(":", 1)[1]) > 0
    assert dataplane.client("sqs").list_queues().get("QueueUrls", []) == []


def test_clients_are_shared_and_never_use_the_users_credentials(
        tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """Fake credentials only: a profile or credentials file of the user's must never be read
    (design: platform notes, never the user's credentials)."""
    secrets = tmp_path / "credentials"
    secrets.write_text("[default]\naws_access_key_id = AKIAREALKEY\naws_secret_access_key = real\n")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(secrets))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(secrets))
    monkeypatch.setenv("AWS_PROFILE", "work-account")
    with DataPlane(REGION).start() as dp:
        sqs = dp.client("sqs")
        assert dp.client("sqs") is sqs
        assert sqs._request_signer._credentials.access_key == "testing"
        assert sqs.meta.region_name == REGION
        assert sqs.list_queues().get("QueueUrls", []) == []


def test_reset_empties_every_service(dataplane: DataPlane) -> None:
    """Each cloud starts empty, whatever the previous one left behind (design: moto in server mode)."""
    make_queue(dataplane, "left-behind")
    dataplane.client("s3").create_bucket(Bucket="left-behind")
    dataplane.reset()
    assert dataplane.client("sqs").list_queues().get("QueueUrls", []) == []
    assert dataplane.client("s3").list_buckets()["Buckets"] == []


def test_stop_closes_the_port_and_can_be_called_twice() -> None:
    """Closing a cloud frees its port and thread; a second stop is harmless (design: moto in server mode)."""
    dp = DataPlane(REGION).start()
    port = int(dp.endpoint_url.rsplit(":", 1)[1])
    dp.stop()
    dp.stop()
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", port), timeout=5)


def test_starting_loads_only_the_services_that_are_called() -> None:
    """Start stays fast because moto imports a service's backend on its first request, not all ~180
    (design: moto in server mode)."""
    script = ("import sys; from lambdalab.dataplane.server import DataPlane\n"
              "dp = DataPlane('us-east-1').start(); dp.client('sqs').list_queues(); dp.stop()\n"
              "print(len({m.split('.')[1] for m in sys.modules if m.endswith('.models')}))\n"
              "print(sorted(m for m in ('moto.sqs.models', 'moto.ec2.models', 'moto.dynamodb.models') "
              "if m in sys.modules))\n")
    loaded = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    services, which = loaded.stdout.split("\n")[:2]
    assert int(services) < 20
    assert which == "['moto.sqs.models']"


# A script's start: every boto3.Session made from here on is counted in ``made``; ``dp`` is a data plane.
_COUNTING_SESSIONS = (
    "import sys, boto3\n"
    "real, made = boto3.Session, []\n"
    "def counting(*args, **kwargs):\n"
    "    made.append(1)\n"
    "    return real(*args, **kwargs)\n"
    "boto3.Session = counting\n"
    "from lambdalab.dataplane.server import DataPlane\n"
    "dp = DataPlane('us-east-1').start()\n"
)


def test_ssm_answers_without_moto_ec2_which_imports_with_the_shared_session_when_needed() -> None:
    """moto's SSM models import its EC2 models (0.4 s) for one instance lookup: SSM answers without
    them. EC2's first request, or that lookup, imports them with the data plane's boto3 session
    instead of the three new Sessions they make at import (0.5 s), restores boto3.Session, and
    lists the regions a fresh session lists."""
    script = _COUNTING_SESSIONS + (
        "dp.client('ssm').put_parameter(Name='p', Type='String', Value='v')\n"
        "print(dp.client('ssm').get_parameter(Name='p')['Parameter']['Value'])\n"
        "print('moto.ec2' in sys.modules)\n"
        "before = len(made)  # moto's one Session for listing every backend's regions\n"
        "import moto.ssm.models\n"
        "print(type(moto.ssm.models.ec2_backends['123456789012']['us-east-1']).__name__)\n"
        "import moto.ec2.models.availability_zones_and_regions as azr\n"
        "print(len(made) - before, boto3.Session is counting and azr.Session is counting)\n"
        "listed = {r.name for r in azr.RegionsAndZonesBackend.regions}\n"
        "print(set(real().get_available_regions('ec2')) <= listed and len(listed) > 30)\n"
        "print(len(dp.client('ec2').describe_regions()['Regions']) > 10)\n"
        "dp.stop()\n"
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["v", "False", "EC2Backend", "0", "True", "True", "True"]


def test_an_ec2_request_first_imports_moto_ec2_with_the_shared_session() -> None:
    """The server's first EC2 request loads the EC2 backend through the same shared-session import."""
    script = _COUNTING_SESSIONS + (
        "dp.client('sqs').list_queues()  # moto makes one Session for listing every backend's regions\n"
        "before = len(made)\n"
        "print(len(dp.client('ec2').describe_regions()['Regions']) > 10, len(made) - before)\n"
        "dp.stop()\n"
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["True", "0"]


def test_the_service_of_every_request_is_found_without_listing_moto_each_time(dataplane: DataPlane) -> None:
    """moto's server listed its package directory for every request's service lookup; the list is read
    once and gives the same answer."""
    import moto.backends

    with patches.unpatched():
        listed = list(moto.backends.list_of_moto_modules())
    assert list(moto.backends.list_of_moto_modules()) == listed
    assert moto.backends.list_of_moto_modules() is moto.backends.list_of_moto_modules()
    assert dataplane.client("sqs").list_queues().get("QueueUrls", []) == []


def test_the_action_of_every_request_is_found_without_listing_its_class_each_time(
        dataplane: DataPlane, monkeypatch: pytest.MonkeyPatch) -> None:
    """moto listed a response class's methods (inspect.getmembers) on every request to find its
    action; they are listed once per class, with the same names."""
    import inspect

    import moto.core.responses
    from moto.sqs.responses import SQSResponse

    with patches.unpatched():
        listed = set(moto.core.responses.method_names_from_class(SQSResponse))
    assert set(moto.core.responses.method_names_from_class(SQSResponse)) == listed
    sqs = dataplane.client("sqs")
    url = sqs.create_queue(QueueName="actions")["QueueUrl"]
    listings = Counter[str]()
    real = inspect.getmembers

    def counted(*args: Any, **kwargs: Any) -> Any:
        listings["getmembers"] += 1
        return real(*args, **kwargs)

    monkeypatch.setattr(inspect, "getmembers", counted)
    for n in range(5):
        sqs.send_message(QueueUrl=url, MessageBody=str(n))
    assert listings["getmembers"] == 0 and len(receive(dataplane, url)) == 5


# -- one request at a time --------------------------------------------------------------------------
@pytest.fixture
def frequent_thread_switches() -> Iterator[None]:
    """Switch threads every 0.1 ms, not 5 ms, so moto's races show up within a short test."""
    before = sys.getswitchinterval()
    sys.setswitchinterval(1e-4)
    yield
    sys.setswitchinterval(before)


def test_concurrent_clients_neither_duplicate_nor_lose_messages_or_records(
        dataplane: DataPlane, frequent_thread_switches: None) -> None:
    """moto is not thread-safe: without the request lock, SQS duplicated and Kinesis lost writes
    (design: moto patches, one request lock)."""
    url = make_queue(dataplane, "hammered", VisibilityTimeout=str(HOLD))
    kinesis, sqs = dataplane.client("kinesis"), dataplane.client("sqs")
    kinesis.create_stream(StreamName="hammered", ShardCount=1)
    sent = [f"early-{i}" for i in range(200)]
    for i in range(0, len(sent), 10):
        sqs.send_message_batch(QueueUrl=url, Entries=[{"Id": str(k), "MessageBody": body}
                                                      for k, body in enumerate(sent[i:i + 10])])
    received: list[str] = []
    errors: list[BaseException] = []

    def take(n: int) -> list[dict[str, Any]]:
        got = receive(dataplane, url, n)
        received.extend(m["Body"] for m in got)
        for m in got:
            sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
        return got

    def worker(t: int) -> None:
        try:
            for i in range(20):
                sqs.send_message(QueueUrl=url, MessageBody=f"{t}-{i}")
                kinesis.put_record(StreamName="hammered", Data=f"{t}-{i}".encode(), PartitionKey=f"{t}-{i}")
                take(10)
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=worker, args=(t,)) for t in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    while take(10):
        pass

    assert errors == []
    put = [f"{t}-{i}" for t in range(8) for i in range(20)]
    assert [body for body, n in Counter(received).items() if n > 1] == []
    assert set(received) == set(sent + put)
    assert sorted(read_stream(dataplane, "hammered")) == sorted(put)


def read_stream(dp: DataPlane, stream: str) -> list[str]:
    kinesis = dp.client("kinesis")
    data: list[str] = []
    for shard in kinesis.list_shards(StreamName=stream)["Shards"]:
        iterator = kinesis.get_shard_iterator(StreamName=stream, ShardId=shard["ShardId"],
                                              ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
        while True:
            page = kinesis.get_records(ShardIterator=iterator, Limit=1000)
            data.extend(r["Data"].decode() for r in page["Records"])
            if not page["Records"]:
                break
            iterator = page["NextShardIterator"]
    return data


def test_a_long_poll_lets_other_requests_through_while_it_waits(
        dataplane: DataPlane, monkeypatch: pytest.MonkeyPatch) -> None:
    """ReceiveMessage with WaitTimeSeconds must not hold the data plane: the send it waits for must get in
    (design: moto patches, the lock is released during SQS long polls)."""
    from moto.sqs.models import Queue

    url = make_queue(dataplane, "long-poll")
    waiting = threading.Event()
    wait = Queue.wait_for_messages

    def signalling_wait(self: Any, timeout: int) -> None:
        waiting.set()
        wait(self, timeout)

    monkeypatch.setattr(Queue, "wait_for_messages", signalling_wait)
    got: list[list[dict[str, Any]]] = []
    poller = threading.Thread(target=lambda: got.append(receive(dataplane, url, 1, WaitTimeSeconds=5)))
    poller.start()
    assert waiting.wait(timeout=10)
    dataplane.client("sqs").send_message(QueueUrl=url, MessageBody="awaited")
    poller.join(timeout=30)
    assert [m["Body"] for m in got[0]] == ["awaited"]


# -- SQS behaviour the patches must keep ------------------------------------------------------------
def test_end_visibility_makes_a_message_receivable_again_and_counts_the_receive(dataplane: DataPlane) -> None:
    """The engine's clock ends visibility timeouts: the message returns, ApproximateReceiveCount rises
    (design: visibility on the virtual clock; [SQS-a])."""
    url = make_queue(dataplane, "visibility")
    dataplane.client("sqs").send_message(QueueUrl=url, MessageBody="again")
    first = receive(dataplane, url, VisibilityTimeout=HOLD)
    assert receive(dataplane, url) == []
    dataplane.end_visibility(url, first[0]["ReceiptHandle"])
    second = receive(dataplane, url, VisibilityTimeout=HOLD)
    assert [m["Body"] for m in second] == ["again"]
    assert [m["Attributes"]["ApproximateReceiveCount"] for m in first + second] == ["1", "2"]


def test_in_flight_and_delayed_messages_are_counted_apart(dataplane: DataPlane) -> None:
    """ApproximateNumberOfMessages counts only receivable ones; NotVisible and Delayed count the rest
    (design: moto patches keep SQS's answers)."""
    url = make_queue(dataplane, "counted")
    sqs = dataplane.client("sqs")
    for body in ("a", "b", "c"):
        sqs.send_message(QueueUrl=url, MessageBody=body)
    sqs.send_message(QueueUrl=url, MessageBody="later", DelaySeconds=900)
    assert counts(dataplane, url) == ("3", "0", "1")
    receive(dataplane, url, 1, VisibilityTimeout=HOLD)
    assert counts(dataplane, url) == ("2", "1", "1")
    assert sorted(m["Body"] for m in receive(dataplane, url)) == ["b", "c"]


def test_a_message_moves_to_the_dlq_after_max_receive_count(dataplane: DataPlane) -> None:
    """SQS redrive: a receive after maxReceiveCount receives moves the message to the dead-letter queue
    (design: redrive to the DLQ stays moto's; [SQS-a])."""
    dlq = make_queue(dataplane, "orders-dlq")
    arn = dataplane.queue_attributes(dlq)["QueueArn"]
    policy = f'{{"deadLetterTargetArn": "{arn}", "maxReceiveCount": "2"}}'
    url = make_queue(dataplane, "orders", RedrivePolicy=policy)
    assert dataplane.redrive_policy(url) == RedrivePolicy(arn, 2)
    assert dataplane.redrive_policy(dlq) is None
    dataplane.client("sqs").send_message(QueueUrl=url, MessageBody="poison")
    for _ in range(2):
        got = receive(dataplane, url, VisibilityTimeout=HOLD)
        dataplane.end_visibility(url, got[0]["ReceiptHandle"])
    assert receive(dataplane, url) == []
    assert [m["Body"] for m in receive(dataplane, dlq)] == ["poison"]


def test_a_fifo_group_waits_while_one_of_its_messages_is_in_flight(dataplane: DataPlane) -> None:
    """FIFO: a group's next message is held back until the one in flight is deleted or returns
    (design: moto patches; FIFO ordering [SQS-S],[SQS-a])."""
    url = make_queue(dataplane, "groups.fifo", FifoQueue="true", ContentBasedDeduplication="true")
    sqs = dataplane.client("sqs")
    for body, group in (("a1", "a"), ("a2", "a"), ("b1", "b")):
        sqs.send_message(QueueUrl=url, MessageBody=body, MessageGroupId=group)
    sqs.send_message(QueueUrl=url, MessageBody="a1", MessageGroupId="a")  # deduplicated by content
    first = receive(dataplane, url, 1, VisibilityTimeout=HOLD)
    assert [m["Body"] for m in first] == ["a1"]
    assert [m["Body"] for m in receive(dataplane, url, VisibilityTimeout=HOLD)] == ["b1"]
    sqs.delete_message(QueueUrl=url, ReceiptHandle=first[0]["ReceiptHandle"])
    assert [m["Body"] for m in receive(dataplane, url, VisibilityTimeout=HOLD)] == ["a2"]


def scenario(dp: DataPlane) -> list[Any]:
    """Every SQS behaviour the patches touch, as a transcript free of ids, handles and timestamps."""
    sqs = dp.client("sqs")
    seen: list[Any] = []
    dlq = make_queue(dp, "s-dlq", KmsMasterKeyId="alias/aws/sqs")
    arn = dp.queue_attributes(dlq)["QueueArn"]
    url = make_queue(dp, "s", RedrivePolicy=f'{{"deadLetterTargetArn": "{arn}", "maxReceiveCount": 2}}')
    fifo = make_queue(dp, "s.fifo", FifoQueue="true", ContentBasedDeduplication="true")
    for i in range(12):
        sqs.send_message(QueueUrl=url, MessageBody=f"m{i}", DelaySeconds=900 if i == 11 else 0)
        sqs.send_message(QueueUrl=fifo, MessageBody=f"f{i % 6}", MessageGroupId=f"g{i % 3}")
    for _ in range(4):
        got = [(url, m) for m in receive(dp, url, 4, VisibilityTimeout=HOLD)]
        got += [(fifo, m) for m in receive(dp, fifo, 2, VisibilityTimeout=HOLD)]
        seen.append(sorted((m["Body"], m["Attributes"]["ApproximateReceiveCount"]) for _, m in got))
        seen.append([counts(dp, q) for q in (url, fifo, dlq)])
        for q, m in got[:2]:
            dp.end_visibility(q, m["ReceiptHandle"])
        for q, m in got[2:3]:
            sqs.delete_message(QueueUrl=q, ReceiptHandle=m["ReceiptHandle"])
    for q in (url, fifo, dlq):
        seen.append(sorted((k, v) for k, v in dp.queue_attributes(q).items() if not k.endswith("Timestamp")))
        some = ["VisibilityTimeout", "FifoQueue", "KmsMasterKeyId", "ApproximateNumberOfMessages"]
        seen.append(sqs.get_queue_attributes(QueueUrl=q, AttributeNames=some)["Attributes"])
    seen.append(make_queue(dp, "s.fifo", FifoQueue="true", ContentBasedDeduplication="true") == fifo)
    with pytest.raises(ClientError) as conflict:
        make_queue(dp, "s", VisibilityTimeout="5")
    seen.append(conflict.value.response["Error"]["Code"])
    return seen


def test_patched_sqs_answers_exactly_as_moto_as_released(dataplane: DataPlane) -> None:
    """The SQS patches change cost only: the same calls give the same answers with and without them
    (design: moto patches)."""
    patched = scenario(dataplane)
    dataplane.reset()
    with patches.unpatched():
        released = scenario(dataplane)
    assert patched == released
    assert len(patched) == 16


def test_send_receive_and_delete_do_the_same_work_at_any_queue_depth(
        dataplane: DataPlane, monkeypatch: pytest.MonkeyPatch) -> None:
    """moto 5.2.5 rescans the queue per message (7.8 s for 1,000 sends); each call must stay constant work
    (design: moto patches)."""
    import moto.core.utils
    import moto.sqs.models

    work = Counter[str]()

    def counted(name: str, fn: Callable[..., Any]) -> Callable[..., Any]:
        def count(*args: Any) -> Any:
            work[name] += 1
            return fn(*args)
        return count

    monkeypatch.setattr(moto.core.utils, "unix_time", counted("clock", moto.core.utils.unix_time))
    monkeypatch.setattr(moto.sqs.models, "unix_time", counted("clock", moto.sqs.models.unix_time))
    monkeypatch.setattr(moto.sqs.models.Message, "had_receipt_handle",
                        counted("handle", moto.sqs.models.Message.had_receipt_handle))
    sqs = dataplane.client("sqs")

    def work_of_one_round(url: str) -> Counter[str]:
        work.clear()
        sqs.send_message_batch(QueueUrl=url, Entries=[{"Id": str(k), "MessageBody": "x"} for k in range(10)])
        got = receive(dataplane, url, VisibilityTimeout=HOLD)
        sqs.delete_message_batch(QueueUrl=url, Entries=[
            {"Id": str(k), "ReceiptHandle": m["ReceiptHandle"]} for k, m in enumerate(got)])
        return Counter(work)

    shallow, deep = make_queue(dataplane, "shallow"), make_queue(dataplane, "deep")
    for _ in range(100):
        sqs.send_message_batch(QueueUrl=deep, Entries=[{"Id": str(k), "MessageBody": "x"} for k in range(10)])
    assert work_of_one_round(deep) == work_of_one_round(shallow)


def test_patches_refuse_a_moto_they_were_not_written_for(monkeypatch: pytest.MonkeyPatch) -> None:
    """Patching internals of another moto blindly could corrupt SQS silently; refuse, naming the pin
    (design: moto patches refuse any moto but the pinned one)."""
    monkeypatch.setattr(moto, "__version__", "5.3.0")
    with pytest.raises(patches.UnsupportedMotoVersion, match=r"written for moto 5\.2\.5.*5\.3\.0"):
        DataPlane(REGION).start()


def test_patches_apply_once_however_many_data_planes_start(running: DataPlane) -> None:
    """Every cloud starts a data plane; patching twice would wrap moto's methods in themselves
    (design: moto patches)."""
    from moto.sqs.models import Queue, SQSBackend

    before = Queue.__dict__["attributes"], SQSBackend.__dict__["get_queue_attributes"]
    with DataPlane(REGION).start():
        patches.apply()
    assert (Queue.__dict__["attributes"], SQSBackend.__dict__["get_queue_attributes"]) == before


_UNDOING_EVERY_PATCH = """
import json
from lambdalab.dataplane import patches
every = patches.registry()
own = {(p.target, p.attribute): vars(p.owner())[p.attribute] for p in every}
patches.apply(*patches.GROUPS)
report = {"patched": [f"{p.target}.{p.attribute}" for p in every if vars(p.owner())[p.attribute] is p.replacement]}
with patches.unpatched():
    report["not restored"] = [f"{p.target}.{p.attribute}" for p in every
                              if vars(p.owner())[p.attribute] is not own[(p.target, p.attribute)]]
report["patched again"] = [f"{p.target}.{p.attribute}" for p in every
                           if vars(p.owner())[p.attribute] is p.replacement]
print(json.dumps(report))
"""


def test_unpatched_restores_every_registered_attribute_to_moto_as_released() -> None:
    """The differential tests compare against moto as released: inside ``unpatched()`` every
    attribute of every group is moto's own object again, and the replacement after (design: moto
    patches). A fresh interpreter, to see moto's objects before any patch."""
    import json

    out = subprocess.run([sys.executable, "-c", _UNDOING_EVERY_PATCH], capture_output=True, text=True, check=True)
    report = json.loads(out.stdout)
    every = [f"{p.target}.{p.attribute}" for p in patches.registry()]
    assert report == {"patched": every, "not restored": [], "patched again": every}


def test_every_patch_names_its_reason_and_the_source_it_replaces() -> None:
    """Each registry entry says why it exists, and fingerprints the pinned moto's own attribute, which
    the check against the newest moto compares (design: moto patches)."""
    every = patches.registry()
    assert len({(p.target, p.attribute) for p in every}) == len(every) == 46
    with patches.unpatched():
        fingerprints = [patches.fingerprint(vars(p.owner())[p.attribute]) for p in every]
    assert [p for p in every if not p.reason.strip()] == []
    assert fingerprints == [p.released for p in every]
    out = subprocess.run([sys.executable, "-m", "lambdalab.dataplane.patches"], capture_output=True, text=True,
                         check=True).stdout.splitlines()
    assert [line.split()[0] for line in out[1:-1]] == ["ok"] * 46 and out[-1] == "46 ok, 0 changed, 0 missing"


def test_s3_events_reach_the_listeners_of_the_data_plane_that_served_them(dataplane: DataPlane) -> None:
    """Sources get plain values, and only from their own data plane (design: moto patches hand S3
    events and SNS deliveries to the data plane's listeners)."""
    function = "arn:aws:lambda:us-east-1:123456789012:function:f"
    heard: dict[str, list[patches.S3ObjectEvent]] = {"mine": [], "other": []}
    other = DataPlane(REGION).start()
    dataplane.listeners.add_s3(heard["mine"].append)
    other.listeners.add_s3(heard["other"].append)
    try:
        s3 = dataplane.client("s3")
        s3.create_bucket(Bucket="events")
        s3.put_bucket_notification_configuration(Bucket="events", NotificationConfiguration={
            "LambdaFunctionConfigurations": [
                {"Id": "created", "LambdaFunctionArn": function, "Events": ["s3:ObjectCreated:*"]}]})
        s3.put_object(Bucket="events", Key="mine.txt", Body=b"abc")
        other.client("s3").put_object(Bucket="events", Key="other.txt", Body=b"abcd")
        s3.delete_object(Bucket="events", Key="mine.txt")  # no configuration for removals
    finally:
        dataplane.listeners.remove(heard["mine"].append)
        other.stop()
    assert heard["mine"] == [patches.S3ObjectEvent(
        event_name="s3:ObjectCreated:Put", bucket="events", key="mine.txt", size=3,
        etag='"900150983cd24fb0d6963f7d28e17f72"', version_id=None, targets=(("created", function),))]
    assert [event.key for event in heard["other"]] == ["other.txt"]


def transaction_scenario(dp: DataPlane) -> list[Any]:
    """Committed and cancelled transactions on a hash-key and a hash-and-range table; every table's
    items after each step."""
    ddb = dp.client("dynamodb")
    for name, schema in (("Accounts", [("id", "HASH")]), ("Entries", [("id", "HASH"), ("n", "RANGE")])):
        ddb.create_table(TableName=name, BillingMode="PAY_PER_REQUEST",
                         KeySchema=[{"AttributeName": a, "KeyType": k} for a, k in schema],
                         AttributeDefinitions=[{"AttributeName": a, "AttributeType": "S"} for a, _ in schema])
    add = {"Update": {"TableName": "Accounts", "Key": {"id": {"S": "a"}}, "UpdateExpression": "ADD balance :v",
                      "ExpressionAttributeValues": {":v": {"N": "5"}}}}
    entry = {"Put": {"TableName": "Entries", "Item": {"id": {"S": "a"}, "n": {"S": "1"}},
                     "ConditionExpression": "attribute_not_exists(id)"}}
    new_account = {"Put": {"TableName": "Accounts", "Item": {"id": {"S": "b"}, "balance": {"N": "1"}}}}
    gone = {"Delete": {"TableName": "Accounts", "Key": {"id": {"S": "a"}}}}
    must_not_exist = {"ConditionCheck": {"TableName": "Accounts", "Key": {"id": {"S": "a"}},
                                         "ConditionExpression": "attribute_not_exists(id)"}}
    seen: list[Any] = []
    for items in ([add, entry], [add, entry], [add, new_account, gone, must_not_exist], [new_account],
                  [add, {"Update": {**add["Update"], "UpdateExpression": "SET"}}]):
        try:
            ddb.transact_write_items(TransactItems=items)
            seen.append("committed")
        except ClientError as exc:
            seen.append((exc.response["Error"]["Code"], exc.response.get("CancellationReasons")))
        seen.append({name: sorted(map(str, ddb.scan(TableName=name)["Items"])) for name in ("Accounts", "Entries")})
    return seen


def test_transactions_commit_and_cancel_exactly_as_moto_as_released(dataplane: DataPlane) -> None:
    """TransactWriteItems is all or nothing: a cancelled one leaves every item as it was.
    The patch that rolls back items instead of whole tables changes the cost only (design: moto patches)."""
    patches.apply("streams")
    patched = transaction_scenario(dataplane)
    dataplane.reset()
    with patches.unpatched():
        released = transaction_scenario(dataplane)
    assert patched == released
    assert patched[0] == "committed" and patched[2][0] == "TransactionCanceledException"
    assert patched[7] == {"Accounts": ["{'id': {'S': 'a'}, 'balance': {'N': '5'}}",
                                       "{'id': {'S': 'b'}, 'balance': {'N': '1'}}"],
                          "Entries": ["{'id': {'S': 'a'}, 'n': {'S': '1'}}"]}


def test_a_transaction_costs_the_same_whatever_the_size_of_its_tables(
        dataplane: DataPlane, monkeypatch: pytest.MonkeyPatch) -> None:
    """moto copied every touched table per transaction (8 ms each on a lab's ledger, growing with it);
    only the touched items are copied now (design: moto patches)."""
    import copy

    patches.apply("streams")
    copied = Counter[str]()
    real = copy.deepcopy

    def counting(value: Any, memo: Any = None) -> Any:
        copied["objects"] += 1
        return real(value, memo)

    ddb = dataplane.client("dynamodb")
    ddb.create_table(TableName="Big", BillingMode="PAY_PER_REQUEST",
                     KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
                     AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}])

    def copies_of_one_transaction(key: str) -> int:
        copied.clear()
        monkeypatch.setattr(copy, "deepcopy", counting)
        try:
            ddb.transact_write_items(TransactItems=[{"Put": {"TableName": "Big", "Item": {"id": {"S": key}}}}])
        finally:
            monkeypatch.setattr(copy, "deepcopy", real)
        return copied["objects"]

    small = copies_of_one_transaction("first")
    for start in range(0, 200, 25):
        ddb.batch_write_item(RequestItems={"Big": [{"PutRequest": {"Item": {"id": {"S": f"k{n}"}}}}
                                                   for n in range(start, start + 25)]})
    assert copies_of_one_transaction("last") == small
