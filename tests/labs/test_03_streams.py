"""Lab 03 graded checks: the payments ledger on a Kinesis stream and its audit trail on the
accounts table's DynamoDB stream.

Each check drives the learner's code through the local engine: transactions go onto the stream,
scripted faults replay batches, crash the ledger right after one of its writes or fail a write in
the middle of a batch, then the balances (the accounts table's ``balance``), the audit trail, the
on-failure queue and the mapping's delivery counts are read back. The audit trail is the ledger's
history as any correct design writes it: one entry per applied transaction, in stream order per
account. Checks move the virtual clock a bounded 15 minutes, so a starter that fails every batch
is graded quickly instead of retried for a day. Every check needs the engine, so all are local
only on a deployed stack.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from lambdalab import RESERVED_LIMIT

LEDGER, AUDIT = "LedgerFunction", "BalanceAuditFunction"
STREAM = "TransactionsStream"
SETTLE_S = 900  # virtual seconds each scenario gets
# The writes a ledger may apply a transaction with: a fault armed at each hits whichever it uses.
WRITES = ("dynamodb:TransactWriteItems", "dynamodb:UpdateItem", "dynamodb:PutItem")


def transactions(count: int, prefix: str, accounts: int = 6, amount: int = 10) -> list[dict[str, Any]]:
    """``count`` transactions over ``accounts`` accounts named after the check (``prefix``)."""
    return [{"txId": f"{prefix}-t{n}", "account": f"{prefix}-{n % accounts}", "amount": amount if n % 3 else -amount}
            for n in range(count)]


def put(cloud: Any, *items: Any, key: str | None = None) -> list[str]:
    """Put transactions (dicts) or raw payloads (bytes) on the stream, keyed by account; returns
    each record's event id (``shardId:sequenceNumber``)."""
    kinesis, name, ids = cloud.client("kinesis"), cloud.resource(STREAM), []
    for start in range(0, len(items), 500):
        chunk = items[start:start + 500]
        records = [{"Data": i if isinstance(i, bytes) else json.dumps(i).encode(),
                    "PartitionKey": key or (i["account"] if isinstance(i, dict) else "poison")} for i in chunk]
        answer = kinesis.put_records(StreamName=name, Records=records)
        assert not answer.get("FailedRecordCount")
        ids += [f"{r['ShardId']}:{r['SequenceNumber']}" for r in answer["Records"]]
    return ids


def keys_on_two_shards(cloud: Any, prefix: str) -> tuple[str, str]:
    """Two partition keys that Kinesis maps to different shards (MD5 of the key in a shard's hash
    key range), so their records are read and delivered at the same time."""
    shards = cloud.client("kinesis").list_shards(StreamName=cloud.resource(STREAM))["Shards"]

    def shard_of(key: str) -> str:
        point = int(hashlib.md5(key.encode()).hexdigest(), 16)  # noqa: S324 - Kinesis's own hash
        return next(s["ShardId"] for s in shards if int(s["HashKeyRange"]["StartingHashKey"]) <= point
                    <= int(s["HashKeyRange"]["EndingHashKey"]))

    keys = [f"{prefix}-key{n}" for n in range(32)]
    first = keys[0]
    return first, next(k for k in keys if shard_of(k) != shard_of(first))


def expected(*txs: dict[str, Any]) -> dict[str, int]:
    totals: Counter[str] = Counter()
    for tx in {t["txId"]: t for t in txs}.values():
        totals[tx["account"]] += tx["amount"]
    return dict(totals)


def in_stream_order(*txs: dict[str, Any]) -> dict[str, list[str]]:
    """Each account's transactions as its audit trail must show them: once each, in stream order."""
    order: dict[str, list[str]] = {}
    for tx in {t["txId"]: t for t in txs}.values():
        order.setdefault(tx["account"], []).append(tx["txId"])
    return order


def balances(cloud: Any, prefix: str) -> dict[str, int]:
    items = cloud.client("dynamodb").scan(TableName=cloud.resource("AccountsTable"))["Items"]
    return {i["accountId"]["S"]: int(i.get("balance", {"N": "0"})["N"]) for i in items
            if i["accountId"]["S"].startswith(f"{prefix}-")}


def audit(cloud: Any, prefix: str) -> list[dict[str, Any]]:
    items = cloud.client("dynamodb").scan(TableName=cloud.resource("AuditTable"))["Items"]
    items = [i for i in items if i.get("accountId", {}).get("S", "").startswith(f"{prefix}-")]
    entries = [{"seq": int(i["auditId"]["S"]), "account": i["accountId"]["S"], "balance": int(i["balance"]["N"]),
                "txId": i["txId"]["S"], "overdraft": i["overdraft"]["BOOL"]} for i in items]
    return sorted(entries, key=lambda e: e["seq"])


def trail(cloud: Any, prefix: str) -> dict[str, list[str]]:
    """Each account's applied transactions, in the order the audit trail recorded them."""
    order: dict[str, list[str]] = {}
    for entry in audit(cloud, prefix):
        order.setdefault(entry["account"], []).append(entry["txId"])
    return order


def mentions(*tx_ids: str) -> Callable[[dict[str, Any]], bool]:
    """A call whose request names one of these transactions (whatever the design's item layout)."""
    quoted = [json.dumps(t) for t in tx_ids]
    return lambda params: any(q in json.dumps(params, default=str) for q in quoted)


def failures(cloud: Any) -> list[dict[str, Any]]:
    sqs, url = cloud.client("sqs"), cloud.resource("LedgerFailuresQueue")
    messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=43200).get("Messages", [])
    return [json.loads(m["Body"]) for m in messages]


def set_aside(cloud: Any, ids: list[str]) -> list[dict[str, Any]]:
    """The on-failure records (LedgerFailuresQueue) of batches that start at one of ``ids``."""
    return [f for f in failures(cloud)
            if f"{f['KinesisBatchInfo']['shardId']}:{f['KinesisBatchInfo']['startSequenceNumber']}" in ids]


def apply_failure_settings(cloud: Any, lab_root: Any, load_module: Any) -> dict[str, Any]:
    """The learner's failure_settings, applied with UpdateEventSourceMapping as in the notebook."""
    settings = load_module(lab_root / "03_streams" / "ops" / "failure_settings.py")
    lam = cloud.client("lambda")
    [mapping] = lam.list_event_source_mappings(FunctionName=LEDGER)["EventSourceMappings"]
    return lam.update_event_source_mapping(
        UUID=mapping["UUID"], **settings.failure_settings(cloud.attribute("LedgerFailuresQueue", "Arn")))


def max_concurrency(invocations: list[Any]) -> int:
    edges = sorted([(i.start, 1) for i in invocations if i.env_id] + [(i.end, -1) for i in invocations if i.env_id])
    running = peak = 0
    for _, step in edges:
        running += step
        peak = max(peak, running)
    return peak


@pytest.fixture(scope="module")
def configured_cloud(request: pytest.FixtureRequest, lab_target: str, lab_root: Path) -> Iterator[Any]:
    """A cloud whose ledger mapping has the learner's failure settings (ops/failure_settings.py).
    Its checks come first in the file: the module's shared cloud, started after them, closes it (a
    process runs one local cloud at a time)."""
    from lambdalab import LocalCloud
    from lambdalab_course import code_path_for, load_module

    cloud = LocalCloud.start(Path(request.config.rootpath) / "template.yaml", code_path=code_path_for(lab_target))
    try:
        apply_failure_settings(cloud, lab_root, load_module)
        yield cloud
    finally:
        cloud.close()


@pytest.fixture
def cloud(lab_module_cloud: Any) -> Any:
    """One cloud for the checks that need no mapping settings (warm environments keep them fast);
    each check has its own accounts and transactions, and starts with a clear journal. (Not
    ``lab_shared_cloud``: with a starter's ledger, settling a failing shard takes days of retries.)
    Its mapping keeps Lambda's defaults: a failed batch is retried until it succeeds."""
    lab_module_cloud.faults.clear()
    lab_module_cloud.journal.clear()
    return lab_module_cloud


@pytest.fixture
def load(request: pytest.FixtureRequest) -> Any:
    from lambdalab_course import load_module

    return load_module


# -- a poison record: bisect, bounded retries, on-failure destination ----------------------------
@pytest.mark.points(2, hint="ops/failure_settings.py must bisect failing batches and name the on-failure queue, "
                            "and the ledger must report the poison record in batchItemFailures: then only that "
                            "record ends in LedgerFailuresQueue and every good one around it is applied.")
@pytest.mark.local_only(reason="moves the virtual clock and reads the on-failure queue")
def test_a_poison_transaction_is_set_aside_alone(configured_cloud: Any) -> None:
    cloud = configured_cloud
    good = transactions(12, "poison", accounts=1)
    ids = put(cloud, *good[:5], b"this is not a transaction", *good[5:], key="poison-0")
    cloud.advance(SETTLE_S)
    assert balances(cloud, "poison") == expected(*good), \
        "every good transaction around the poison one must be applied once"
    found = set_aside(cloud, ids)
    assert len(found) == 1, "the poison record must land in LedgerFailuresQueue (DestinationConfig.OnFailure)"
    assert found[0]["KinesisBatchInfo"]["batchSize"] == 1, "only the poison record may be set aside"
    assert found[0]["KinesisBatchInfo"]["startSequenceNumber"] == ids[5].split(":")[1]
    assert found[0]["requestContext"]["condition"] == "RetryAttemptsExhausted"


@pytest.mark.points(2, hint="A record that always fails must be tried exactly MAX_ATTEMPTS times: "
                            "MaximumRetryAttempts counts the retries after the first try (MAX_ATTEMPTS - 1).")
@pytest.mark.local_only(reason="counts deliveries in the mapping's stats")
def test_a_failing_record_is_tried_exactly_max_attempts_times(configured_cloud: Any, lab_root: Any,
                                                               load: Any) -> None:
    """Alone in its batch, no bisect step adds a try: every delivery is the first try or a retry."""
    cloud = configured_cloud
    [poison] = put(cloud, b'{"txId": "attempts-t0"}', key="attempts-0")
    cloud.advance(SETTLE_S)
    max_attempts = load(lab_root / "03_streams" / "ops" / "failure_settings.py").MAX_ATTEMPTS
    tries = cloud.event_source_mapping(LEDGER).stats.deliveries[poison]
    assert tries == max_attempts, f"the failing record was tried {tries} times, MAX_ATTEMPTS is {max_attempts}"
    assert len(set_aside(cloud, [poison])) == 1, "after its last try the record must go to LedgerFailuresQueue"


@pytest.mark.points(2, hint="Return {'batchItemFailures': [{'itemIdentifier': <kinesis sequenceNumber>}]} for the "
                            "FIRST record that fails (its sequence number, not its eventID): records before it "
                            "must not be delivered again.")
@pytest.mark.local_only(reason="moves the virtual clock and counts deliveries in the mapping's stats")
def test_records_before_a_failed_one_are_not_delivered_again(configured_cloud: Any) -> None:
    cloud = configured_cloud
    good = transactions(6, "partial", accounts=1)
    ids = put(cloud, *good[:4], b"{}", *good[4:], key="partial-0")
    cloud.advance(SETTLE_S)
    deliveries = cloud.event_source_mapping(LEDGER).stats.deliveries
    assert [deliveries[e] for e in ids[:4]] == [1, 1, 1, 1], \
        "the records before the failing one were delivered again: report only from the first failure on"
    assert balances(cloud, "partial") == expected(*good)


# -- partial failures in the middle of a batch ---------------------------------------------------
@pytest.mark.points(3, hint="The process died right after one write of a transaction and the whole batch came "
                            "back: the balance update and the record of its txId must commit together (one "
                            "transact_write_items, or one conditional update), never as two separate writes.")
@pytest.mark.local_only(reason="crashes the function at its AWS calls")
def test_a_crash_right_after_a_write_leaves_balances_exact(cloud: Any) -> None:
    """A crash after the 3rd such write of an invocation: mid-batch, with a two-write design between
    the balance and the txId record of the second or third transaction."""
    txs = transactions(12, "crashed", accounts=1)
    for call in WRITES:
        cloud.faults.crash(LEDGER, after=call, nth=3)
    put(cloud, *txs)
    cloud.advance(SETTLE_S)
    assert balances(cloud, "crashed") == expected(*txs)
    assert trail(cloud, "crashed") == in_stream_order(*txs), "each transaction must be applied exactly once"


@pytest.mark.points(2, hint="A throttled write in the middle of a batch must fail that record (report it and "
                            "stop), never count as 'already applied'; when it is retried, a transaction half "
                            "written before must not be applied twice or lost.")
@pytest.mark.local_only(reason="fails the function's AWS calls")
def test_a_write_failing_in_the_middle_of_a_batch_leaves_balances_exact(cloud: Any) -> None:
    txs = transactions(10, "interrupted", accounts=2)
    for call in WRITES:
        cloud.faults.fail_call(LEDGER, call, error="ProvisionedThroughputExceededException",
                               where=mentions(txs[5]["txId"]))
    put(cloud, *txs)
    cloud.advance(SETTLE_S)
    assert balances(cloud, "interrupted") == expected(*txs)
    assert trail(cloud, "interrupted") == in_stream_order(*txs), "each transaction must be applied exactly once"


# -- idempotency ---------------------------------------------------------------------------------
@pytest.mark.points(2, hint="A replayed batch must not apply a transaction twice: record each txId with a "
                            "conditional write (attribute_not_exists) in the same DynamoDB transaction as the "
                            "balance update.")
@pytest.mark.local_only(reason="scripts batch replays with cloud.faults")
def test_replayed_batches_leave_balances_exact(cloud: Any) -> None:
    txs = transactions(24, "replayed")
    replays = cloud.event_source_mapping(LEDGER).stats.replays
    cloud.faults.replay(STREAM, times=4)
    put(cloud, *txs)
    cloud.advance(SETTLE_S)
    assert cloud.event_source_mapping(LEDGER).stats.replays - replays == 4
    assert balances(cloud, "replayed") == expected(*txs)


@pytest.mark.points(2, hint="The same transaction written twice to the stream (same txId, another sequence "
                            "number) must be applied once: the idempotency key is the txId.")
@pytest.mark.local_only(reason="moves the virtual clock to let the stream poller run")
def test_duplicate_transactions_are_applied_once(cloud: Any) -> None:
    txs = transactions(10, "duplicated")
    put(cloud, *txs, *txs[:5], *txs[2:4])
    cloud.advance(SETTLE_S)
    assert balances(cloud, "duplicated") == expected(*txs)


@pytest.mark.points(2, hint="Two copies of a transaction on two shards were applied at the same time and both "
                            "counted: reading 'was it applied?' then writing is a race; the txId record must be "
                            "a conditional write in the balance update's transaction.")
@pytest.mark.local_only(reason="interleaves concurrent batches with cloud.faults.schedule")
def test_copies_of_a_transaction_on_two_shards_are_applied_once(cloud: Any) -> None:
    """Both shards' batches start at the same instant; every read of both runs before any write."""
    txs = [{"txId": f"raced-t{n}", "account": f"raced-{n % 2}", "amount": 10 + n} for n in range(4)]
    first, second = keys_on_two_shards(cloud, "raced")
    cloud.faults.schedule("reads-first")
    ids = put(cloud, *txs, key=first) + put(cloud, *txs, key=second)
    assert ids[0].split(":")[0] != ids[-1].split(":")[0]
    cloud.advance(SETTLE_S)
    assert balances(cloud, "raced") == expected(*txs)


@pytest.mark.points(2, hint="The audit writer must write each stream record's entry once (key: its SequenceNumber, "
                            "attribute_not_exists) and flag a change from >= 0 to < 0 as an overdraft.")
@pytest.mark.local_only(reason="scripts stream replays with cloud.faults")
def test_the_audit_trail_has_one_entry_per_change_and_flags_overdrafts_once(cloud: Any) -> None:
    cloud.faults.replay("AccountsTable", times=3)
    txs = [{"txId": f"audited-t{n}", "account": "audited-0", "amount": amount}
           for n, amount in enumerate([50, -80, -10, 100, -200])]
    put(cloud, *txs)
    cloud.advance(SETTLE_S)
    entries = audit(cloud, "audited")
    assert [e["balance"] for e in entries] == [50, -30, -40, 60, -140]
    assert [e["overdraft"] for e in entries] == [False, True, False, False, True]


# -- concurrency and order -----------------------------------------------------------------------
@pytest.mark.points(1, hint="Concurrency is shards x ParallelizationFactor (2 x 2): the ledger must stay correct "
                            "with four batches running at once.")
@pytest.mark.local_only(reason="measures concurrency from the journal")
def test_shards_times_parallelization_factor_bounds_concurrency(cloud: Any) -> None:
    txs = transactions(60, "parallel", accounts=12)
    put(cloud, *txs)
    cloud.advance(SETTLE_S)
    assert max_concurrency(cloud.journal.invocations(LEDGER)) == 2 * 2
    assert balances(cloud, "parallel") == expected(*txs)


@pytest.mark.points(2, hint="An account's transactions must be applied in stream order: at the first record "
                            "that fails, stop (apply nothing after it) and report it, so its retry comes before "
                            "the records that follow it.")
@pytest.mark.local_only(reason="fails the function's AWS calls and reads the audit trail")
def test_per_account_order_is_kept_when_a_record_is_retried(cloud: Any) -> None:
    """Under ParallelizationFactor 2, with the first transaction of two accounts failing once."""
    txs = transactions(36, "ordered", accounts=6)
    for call in WRITES:
        cloud.faults.fail_call(LEDGER, call, error="ProvisionedThroughputExceededException", times=2,
                               where=mentions(txs[1]["txId"], txs[2]["txId"]))
    put(cloud, *txs)
    cloud.advance(SETTLE_S)
    assert trail(cloud, "ordered") == in_stream_order(*txs)


@pytest.mark.points(1, hint="With reserved concurrency 1 (below shards x ParallelizationFactor) batches are "
                            "throttled and retried: the balances must still be exact.")
@pytest.mark.local_only(reason="reads throttles from the journal and discards from the mapping's stats")
def test_reserved_concurrency_below_shards_times_factor_throttles_and_loses_nothing(cloud: Any) -> None:
    lam = cloud.client("lambda")
    discarded = cloud.event_source_mapping(LEDGER).stats.discarded
    lam.put_function_concurrency(FunctionName=LEDGER, ReservedConcurrentExecutions=1)
    try:
        txs = transactions(24, "throttled", accounts=8)
        put(cloud, *txs)
        cloud.advance(SETTLE_S)
    finally:
        lam.delete_function_concurrency(FunctionName=LEDGER)
    throttles = cloud.journal.invocations(LEDGER, outcome="Throttled")
    assert throttles and {t.detail for t in throttles} == {RESERVED_LIMIT}
    assert balances(cloud, "throttled") == expected(*txs)
    assert cloud.event_source_mapping(LEDGER).stats.discarded == discarded
