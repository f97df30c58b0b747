"""Lab 05 graded checks: the scheduled batch (a Scheduled Event -> Step Functions Express -> Map ->
a charge per user, through a partner that takes 10 calls at once).

Each check drives the learner's code through the local engine: it writes users' records and the
price list to the batch bucket, starts the state machine with a scheduled event (as the schedule
does, plus ``detail.prefix`` naming the check's own group of users), scripts faults (throttles,
an adversarial schedule for two charges of one user at the same instant), then reads back what
the batch shows outside: the execution's status, each user's ``owed`` in the balances table and the journal of the
charge function's attempts. How the charge function remembers what it charged (its table, its
layout, a library) is the learner's choice: no check reads or writes it.

Every check needs the engine (faults, the journal, the virtual clock), so all are local only. The
checks share one cloud (warm environments, one start): each uses users and event ids of its own and
reads back only those; the price list is put back after a check changes it.
"""

from __future__ import annotations

import json

import pytest

MACHINE = "BatchStateMachine"
CHARGE = "ChargeFunction"
BUCKET = "BatchBucket"
PRICE = 3  # the unit price every check runs at, unless it says otherwise
PARTNER_LIMIT = 10  # the charge function's reserved concurrency: the partner takes 10 calls at once


def scheduled_event(event_id: str, group: str) -> dict:
    """An EventBridge Scheduled Event, as the schedule sends it, narrowed to the check's users."""
    return {"version": "0", "id": event_id, "detail-type": "Scheduled Event", "source": "aws.events",
            "account": "123456789012", "time": "2026-01-01T00:10:00Z", "region": "us-east-1",
            "resources": ["arn:aws:events:us-east-1:123456789012:rule/BatchStateMachineEveryTenMinutes"],
            "detail": {"prefix": f"users/{group}/"}}


def add_users(cloud, group: str, count: int, usage=(1, 2), notes: int = 0) -> list[str]:
    """``count`` users in ``users/<group>/``, each with ``usage`` (units) and ``notes`` bytes of history."""
    s3, bucket, ids = cloud.client("s3"), cloud.resource(BUCKET), []
    for n in range(count):
        user_id = f"{group}-{n:03}"
        record = {"userId": user_id, "usage": list(usage), "notes": "n" * notes}
        s3.put_object(Bucket=bucket, Key=f"users/{group}/{user_id}.json", Body=json.dumps(record).encode())
        ids.append(user_id)
    return ids


def set_price(cloud, unit_price: int) -> None:
    cloud.client("s3").put_object(Bucket=cloud.resource(BUCKET), Key="config/prices.json",
                                  Body=json.dumps({"unitPrice": unit_price}).encode())


def start(cloud, event: dict) -> str:
    sfn = cloud.client("stepfunctions")
    return sfn.start_execution(stateMachineArn=cloud.resource(MACHINE), input=json.dumps(event))["executionArn"]


def described(cloud, execution: str) -> dict:
    return cloud.client("stepfunctions").describe_execution(executionArn=execution)


def run(cloud, event: dict) -> tuple[str, dict]:
    """One execution of ``event``, to its end: (its ARN, DescribeExecution)."""
    execution = start(cloud, event)
    cloud.run_until_idle()
    return execution, described(cloud, execution)


def status(description: dict) -> str:
    return " ".join(str(description.get(k)) for k in ("status", "error", "cause") if description.get(k))[:400]


def owed(cloud, ids) -> dict[str, int]:
    """What each user of ``ids`` owes after the runs so far (0 when never charged)."""
    table = cloud.client("dynamodb")
    found = {}
    for user_id in ids:
        item = table.get_item(TableName=cloud.resource("BalancesTable"), Key={"userId": {"S": user_id}},
                              ConsistentRead=True).get("Item") or {}
        found[user_id] = int(float(item.get("owed", {}).get("N", "0")))
    return found


def attempts(cloud, execution: str, outcome: str | None = None):
    """The charge function's attempts for ``execution``, in order of start."""
    found = [i for i in cloud.journal.invocations(CHARGE) if i.execution == execution
             and (outcome is None or i.outcome == outcome)]
    return sorted(found, key=lambda i: i.start)


def peak_concurrency(invocations) -> int:
    edges = sorted([(i.start, 1) for i in invocations if i.env_id] + [(i.end, -1) for i in invocations if i.env_id])
    running = peak = 0
    for _, step in edges:
        running += step
        peak = max(peak, running)
    return peak


@pytest.fixture
def cloud(lab_shared_cloud):
    """The module's cloud at the course's price; after the check, the adversarial schedule is off
    and the price is the course's again."""
    set_price(lab_shared_cloud, PRICE)
    yield lab_shared_cloud
    lab_shared_cloud.faults.schedule("seeded")
    set_price(lab_shared_cloud, PRICE)


# ---- concurrency limits -----------------------------------------------------------------------

@pytest.mark.points(2, hint="the Map runs every item at once unless MaxConcurrency says otherwise: set it to the "
                            "charge function's reserved concurrency (10), so no charge is throttled and the run "
                            "still uses all ten")
@pytest.mark.local_only(reason="measures concurrency and throttles from the journal")
def test_a_run_charges_every_user_within_the_partners_limit(cloud):
    ids = add_users(cloud, "fits", 20)
    execution, run_ = run(cloud, scheduled_event("fits-1", "fits"))
    assert run_["status"] == "SUCCEEDED", status(run_)
    assert owed(cloud, ids) == {user_id: 3 * PRICE for user_id in ids}
    charges = attempts(cloud, execution)
    assert attempts(cloud, execution, "Throttled") == [], \
        f"charges were throttled: the Map ran more than {PARTNER_LIMIT} at once"
    assert PARTNER_LIMIT // 2 <= peak_concurrency(charges) <= PARTNER_LIMIT, \
        f"{peak_concurrency(charges)} charges ran at once: use the partner's {PARTNER_LIMIT}, never more"


# ---- retries ----------------------------------------------------------------------------------

@pytest.mark.points(2, hint="retry Lambda.TooManyRequestsException (and Lambda's transient errors) on the charge "
                            "task, with a growing interval: a throttle is a reason to wait, not to fail the run")
@pytest.mark.local_only(reason="throttles the charge function with cloud.faults")
def test_throttled_charges_are_retried_until_they_succeed(cloud):
    ids = add_users(cloud, "throttled", 10)
    cloud.faults.throttle(CHARGE, times=25)  # every user's first attempts, some of them four times
    execution, run_ = run(cloud, scheduled_event("throttled-1", "throttled"))
    assert run_["status"] == "SUCCEEDED", status(run_)
    assert len(attempts(cloud, execution, "Throttled")) == 25, cloud.journal.table(CHARGE)
    assert owed(cloud, ids) == {user_id: 3 * PRICE for user_id in ids}


@pytest.mark.points(1, hint="charges throttled together must not all come back together: JitterStrategy FULL "
                            "spreads each retry over its interval")
@pytest.mark.local_only(reason="reads retry times from the journal on the virtual clock")
def test_simultaneous_retries_are_spread_by_jitter(cloud):
    add_users(cloud, "jitter", 10)
    cloud.faults.throttle(CHARGE, times=10)
    execution, run_ = run(cloud, scheduled_event("jitter-1", "jitter"))
    assert run_["status"] == "SUCCEEDED", status(run_)
    retried = attempts(cloud, execution)[10:]
    assert len(retried) == 10 and {i.outcome for i in retried} == {"Success"}, cloud.journal.table(CHARGE)
    instants = {round(i.start, 3) for i in retried}
    assert len(instants) >= 5, f"10 throttled charges came back at {len(instants)} instant(s): a retry storm"


@pytest.mark.points(2, hint="a user whose record cannot be charged (InvalidUsage) fails the same way every time: "
                            "catch it (do not retry it) so the rest of the run still succeeds")
@pytest.mark.local_only(reason="counts the charge function's attempts in the journal")
def test_a_user_that_cannot_be_charged_is_skipped_not_retried(cloud):
    ids = add_users(cloud, "mixed", 4)
    add_users(cloud, "mixed-bad", 1)  # overwritten below with a record that has no valid usage
    cloud.client("s3").put_object(Bucket=cloud.resource(BUCKET), Key="users/mixed/mixed-bad.json",
                                  Body=json.dumps({"userId": "mixed-bad", "usage": "n/a"}).encode())
    execution, run_ = run(cloud, scheduled_event("mixed-1", "mixed"))
    assert run_["status"] == "SUCCEEDED", f"one bad user failed the whole run: {status(run_)}"
    assert owed(cloud, [*ids, "mixed-bad"]) == {**{user_id: 3 * PRICE for user_id in ids}, "mixed-bad": 0}
    assert len(attempts(cloud, execution)) == 5, \
        f"the bad user's charge was retried: {cloud.journal.table(CHARGE)}"


# ---- idempotency ------------------------------------------------------------------------------

@pytest.mark.points(2, hint="EventBridge and Express workflows are at-least-once: the same scheduled event can start "
                            "a second execution. Key each charge by the event's id and the user, and charge a key once")
@pytest.mark.local_only(reason="starts executions of the engine's state machine")
def test_a_scheduled_event_delivered_twice_charges_each_user_once(cloud):
    ids = add_users(cloud, "twice", 5)
    for _ in range(2):
        _, run_ = run(cloud, scheduled_event("twice-1", "twice"))
        assert run_["status"] == "SUCCEEDED", status(run_)
    assert owed(cloud, ids) == {user_id: 3 * PRICE for user_id in ids}, "a repeated event charged users again"


@pytest.mark.points(2, hint="two charges of one user in one run can happen at the same moment (a duplicate record, "
                            "an execution started twice): claim the charge with one conditional write (or a "
                            "transaction), never a read and then a write")
@pytest.mark.local_only(reason="runs simultaneous charges under an adversarial schedule with cloud.faults")
def test_two_charges_of_one_user_at_the_same_instant_charge_once(cloud):
    ids = add_users(cloud, "overlap", 5)
    s3 = cloud.client("s3")
    for user_id in ids:  # each record twice, under a second key: two Map items charge the same user at once
        record = s3.get_object(Bucket=cloud.resource(BUCKET), Key=f"users/overlap/{user_id}.json")["Body"].read()
        s3.put_object(Bucket=cloud.resource(BUCKET), Key=f"users/overlap/{user_id}-copy.json", Body=record)
    cloud.faults.schedule("reads-first")  # every read of the simultaneous charges before any write
    execution, run_ = run(cloud, scheduled_event("overlap-1", "overlap"))
    assert run_["status"] == "SUCCEEDED", status(run_)
    assert peak_concurrency(attempts(cloud, execution)) > 1, \
        f"the charges should run side by side (MaxConcurrency above 1): {cloud.journal.table(CHARGE)}"
    assert owed(cloud, ids) == {user_id: 3 * PRICE for user_id in ids}, "simultaneous charges of a user charged twice"


@pytest.mark.points(1, hint="each scheduled event is a run of its own: the next run charges every user again")
@pytest.mark.local_only(reason="starts executions of the engine's state machine")
def test_each_scheduled_event_is_a_run_of_its_own(cloud):
    ids = add_users(cloud, "runs", 5)
    for event_id in ("runs-1", "runs-2"):
        _, run_ = run(cloud, scheduled_event(event_id, "runs"))
        assert run_["status"] == "SUCCEEDED", status(run_)
    assert owed(cloud, ids) == {user_id: 2 * 3 * PRICE for user_id in ids}


# ---- payload limits and warm environments -----------------------------------------------------

@pytest.mark.points(2, hint="a state's output is limited to 256 KB (States.DataLimitExceeded, which no Catch "
                            "matches): pass the users' S3 keys between states and let each charge read its record")
@pytest.mark.local_only(reason="starts executions of the engine's state machine")
def test_a_run_over_large_user_records_passes_keys_not_records(cloud):
    ids = add_users(cloud, "large", 40, notes=8 * 1024)  # 320 KB of records in all
    _, run_ = run(cloud, scheduled_event("large-1", "large"))
    assert run_["status"] == "SUCCEEDED", status(run_)
    assert owed(cloud, ids) == {user_id: 3 * PRICE for user_id in ids}


@pytest.mark.points(2, hint="prices cached outside the handler survive into the next run on a warm environment: "
                            "check the object's version (its ETag) before using the cache")
@pytest.mark.local_only(reason="reuses warm environments of the engine between two runs")
def test_a_price_change_reaches_warm_environments(cloud):
    ids = add_users(cloud, "prices", 10)
    _, run_ = run(cloud, scheduled_event("prices-1", "prices"))
    assert run_["status"] == "SUCCEEDED", status(run_)
    set_price(cloud, 5)
    execution, run_ = run(cloud, scheduled_event("prices-2", "prices"))
    assert run_["status"] == "SUCCEEDED", status(run_)
    assert all(not i.cold for i in attempts(cloud, execution)), "the second run should reuse warm environments"
    assert owed(cloud, ids) == {user_id: 3 * PRICE + 3 * 5 for user_id in ids}, \
        "the second run charged the old price: a warm environment kept it"
