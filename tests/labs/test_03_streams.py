"""Lab 03 graded checks: the payments ledger on a Kinesis stream and its audit trail on the
accounts table's DynamoDB stream.

Each check drives the learner's code through the local engine: transactions go onto the stream,
scripted faults replay batches, fail or crash invocations, then the balances, the audit table,
the on-failure queue and the journal are read back. Checks move the virtual clock a bounded
15 minutes, so a starter that fails every batch is graded quickly instead of retried for a day.
Every check needs the engine, so all are local only on a deployed stack.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from lambdalab import RESERVED_LIMIT

LEDGER, AUDIT = "LedgerFunction", "BalanceAuditFunction"
STREAM = "TransactionsStream"
SETTLE_S = 900  # virtual seconds each scenario gets


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


def expected(*txs: dict[str, Any]) -> dict[str, int]:
    totals: Counter[str] = Counter()
    for tx in {t["txId"]: t for t in txs}.values():
        totals[tx["account"]] += tx["amount"]
    return dict(totals)


def balances(cloud: Any, prefix: str) -> dict[str, int]:
    items = cloud.client("dynamodb").scan(TableName=cloud.resource("AccountsTable"))["Items"]
    return {i["accountId"]["S"]: int(i.get("balance", {"N": "0"})["N"]) for i in items
            if i["accountId"]["S"].startswith(f"{prefix}-")}


def audit(cloud: Any, prefix: str) -> list[dict[str, Any]]:
    items = cloud.client("dynamodb").scan(TableName=cloud.resource("AuditTable"))["Items"]
    items = [i for i in items if i["accountId"]["S"].startswith(f"{prefix}-")]
    entries = [{"seq": int(i["auditId"]["S"]), "account": i["accountId"]["S"], "balance": int(i["balance"]["N"]),
                "txId": i["txId"]["S"], "overdraft": i["overdraft"]["BOOL"]} for i in items]
    return sorted(entries, key=lambda e: e["seq"])


def failures(cloud: Any) -> list[dict[str, Any]]:
    sqs, url = cloud.client("sqs"), cloud.resource("LedgerFailuresQueue")
    messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=43200).get("Messages", [])
    return [json.loads(m["Body"]) for m in messages]


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
    ``lab_shared_cloud``: with a starter's ledger, settling a failing shard takes days of retries.)"""
    lab_module_cloud.faults.clear()
    lab_module_cloud.journal.clear()
    return lab_module_cloud


@pytest.fixture
def load(request: pytest.FixtureRequest) -> Any:
    from lambdalab_course import load_module

    return load_module


# -- retries -----------------------------------------------------------------------------------
@pytest.mark.points(3, hint="ops/failure_settings.py must bound retries (MaximumRetryAttempts = MAX_ATTEMPTS - 1), "
                            "bisect failing batches and name the on-failure queue; the ledger must report the "
                            "poison record in batchItemFailures so only it ends in LedgerFailuresQueue.")
@pytest.mark.local_only(reason="moves the virtual clock and counts deliveries in the mapping's stats")
def test_a_poison_transaction_is_tried_a_bounded_number_of_times_then_set_aside(configured_cloud: Any, lab_root: Any,
                                                                                 load: Any) -> None:
    cloud = configured_cloud
    good = transactions(12, "poison", accounts=1)
    ids = put(cloud, *good[:5], b"this is not a transaction", *good[5:], key="poison-0")
    cloud.advance(SETTLE_S)
    assert balances(cloud, "poison") == expected(*good), \
        "every good transaction around the poison one must be applied once"
    found = [f for f in failures(cloud)
             if f"{f['KinesisBatchInfo']['shardId']}:{f['KinesisBatchInfo']['startSequenceNumber']}" in ids]
    assert len(found) == 1, "the poison record must land in LedgerFailuresQueue (DestinationConfig.OnFailure)"
    record = found[0]
    info = record["KinesisBatchInfo"]
    assert info["batchSize"] == 1, "only the poison record may be set aside"
    assert record["requestContext"]["condition"] == "RetryAttemptsExhausted"
    tries = cloud.event_source_mapping(LEDGER).stats.deliveries[f"{info['shardId']}:{info['startSequenceNumber']}"]
    max_attempts = load(lab_root / "03_streams" / "ops" / "failure_settings.py").MAX_ATTEMPTS
    assert tries <= max_attempts + 5, f"the poison record was tried {tries} times: retries must stop after " \
                                      f"MAX_ATTEMPTS ({max_attempts}) tries (plus the bisect steps)"


@pytest.mark.points(2, hint="Return {'batchItemFailures': [{'itemIdentifier': <sequenceNumber>}]} for the FIRST "
                            "record that fails and stop there: records before it must not be delivered again.")
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


@pytest.mark.points(2, hint="A batch that fails as a whole (here a scripted error) comes back: applying it again "
                            "must give the same balances.")
@pytest.mark.local_only(reason="scripts failed batches with cloud.faults")
def test_a_failed_batch_is_retried_until_it_succeeds(cloud: Any) -> None:
    txs = transactions(20, "retried")
    cloud.faults.fail(LEDGER, times=2)
    put(cloud, *txs)
    cloud.advance(SETTLE_S)
    assert balances(cloud, "retried") == expected(*txs)
    assert cloud.journal.counts(LEDGER)["Error"] >= 2


# -- idempotency -------------------------------------------------------------------------------
@pytest.mark.points(3, hint="A replayed batch must not apply a transaction twice: record each txId with a "
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


@pytest.mark.points(2, hint="The same transaction written twice to the stream (same txId) must be applied once.")
@pytest.mark.local_only(reason="moves the virtual clock to let the stream poller run")
def test_duplicate_transactions_are_applied_once(cloud: Any) -> None:
    txs = transactions(10, "duplicated")
    put(cloud, *txs, *txs[:5], *txs[2:4])
    cloud.advance(SETTLE_S)
    assert balances(cloud, "duplicated") == expected(*txs)


@pytest.mark.points(2, hint="After a crash the whole batch comes back, though some transactions were applied: "
                            "the txId condition must make the second pass a no-op for them.")
@pytest.mark.local_only(reason="scripts crashes with cloud.faults")
def test_a_crash_after_applying_leaves_balances_exact(cloud: Any) -> None:
    txs = transactions(16, "crashed")
    cloud.faults.crash(LEDGER, times=2)
    put(cloud, *txs)
    cloud.advance(SETTLE_S)
    assert balances(cloud, "crashed") == expected(*txs)


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


# -- concurrency limits ------------------------------------------------------------------------
@pytest.mark.points(2, hint="Concurrency is shards x ParallelizationFactor (2 x 2): the ledger must stay correct "
                            "with four batches running at once.")
@pytest.mark.local_only(reason="measures concurrency from the journal")
def test_shards_times_parallelization_factor_bounds_concurrency(cloud: Any) -> None:
    txs = transactions(60, "parallel", accounts=12)
    put(cloud, *txs)
    cloud.advance(SETTLE_S)
    assert max_concurrency(cloud.journal.invocations(LEDGER)) == 2 * 2
    assert balances(cloud, "parallel") == expected(*txs)


@pytest.mark.points(2, hint="Records of one account keep their order even with ParallelizationFactor 2; the audit "
                            "trail (from the accounts stream) must show each account's transactions in that order.")
@pytest.mark.local_only(reason="moves the virtual clock to let the stream pollers run")
def test_per_account_order_is_kept_under_parallelization(cloud: Any) -> None:
    txs = transactions(36, "ordered", accounts=6)
    put(cloud, *txs)
    cloud.advance(SETTLE_S)
    order: dict[str, list[str]] = {}
    for entry in audit(cloud, "ordered"):
        order.setdefault(entry["account"], []).append(entry["txId"])
    assert order == {acct: [t["txId"] for t in txs if t["account"] == acct] for acct in {t["account"] for t in txs}}


@pytest.mark.points(2, hint="With reserved concurrency 1 (below shards x ParallelizationFactor) batches are "
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
