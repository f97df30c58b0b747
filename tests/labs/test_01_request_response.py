"""Lab 01 graded checks: the orders API behind API Gateway, and its retrying client.

Each check drives the learner's code through the local engine: HTTP requests to the local API
Gateway, with throttles, failed or unanswered DynamoDB calls, a request held mid-way or a
read-first interleaving scripted by ``cloud.faults``; then it looks at the answers, the journal and
the orders stored. The checks on ``lab_shared_cloud`` share one cloud (a warm function, one start),
and the checks without ``local_only`` also grade a deployed stack (``--cloud aws``): either way the
ids a check creates carry ``lab_run_tag``, and only its own orders are counted.

Which DynamoDB call writes the order is the learner's choice (a put, an update, a transaction), so
the faults aimed at "the order's write" are armed at every DynamoDB write whose parameters carry the
order's item: that is the order itself (any idempotency record written before it carries a hash).
"""

from __future__ import annotations

import json
import random
import socket
import statistics
import threading
import time
import urllib.request
from contextlib import contextmanager

import pytest

from lambdalab_course import load_module

API = "ServerlessRestApi"
FUNCTION = "OrdersFunction"
RETRYABLE = [429, 500, 502, 503, 504]
ORDER_WRITES = ("dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:TransactWriteItems", "dynamodb:BatchWriteItem")
FUNCTION_TIMEOUT_S = 10  # OrdersFunction's Timeout in template.yaml
# How long a check waits, at most, for a request to reach the point where it is held: a bound for
# broken code, never reached by a working one.
HOLD_LIMIT_S = 30.0


@pytest.fixture
def client(lab_root):
    return load_module(lab_root / "01_request_response" / "client" / "orders_client.py")


def orders_url(cloud):
    return cloud.api_url(API) + "/orders"


def stored_orders(cloud, tag=""):
    """The orders in the table; with a run tag, only those whose item carries it."""
    items = cloud.client("dynamodb").scan(TableName=cloud.resource("OrdersTable"))["Items"]
    return [i for i in items if "S" in i.get("item", {}) and "quantity" in i and i["item"]["S"].endswith(tag)]


def post(url, body, headers=None):
    request = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST",
                                     headers={"Content-Type": "application/json", **(headers or {})})
    try:
        with urllib.request.urlopen(request, timeout=60) as reply:
            return reply.status, json.loads(reply.read() or b"null")
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read() or b"null")


def get(url):
    try:
        with urllib.request.urlopen(url, timeout=30) as reply:
            return reply.status, json.loads(reply.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read() or b"null")


def carries(text):
    """A predicate on a call's parameters: the call carries ``text`` (an order's item)."""
    return lambda params: text in json.dumps(params, default=str)


def burst(n, action):
    """Run ``action(i)`` for i in range(n) at once; an exception in any is raised here."""
    results = [None] * n

    def run(i):
        try:
            results[i] = action(i)
        except BaseException as exc:  # noqa: BLE001 - re-raised in the test's own thread below
            results[i] = exc

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for result in results:
        if isinstance(result, BaseException):
            raise result
    return results


@contextmanager
def held_before_its_order_write(cloud, url, body, headers):
    """POST ``body`` from a thread and hold that request right before it writes its order (after its
    claim and the slow payment); yields a dict that gets its ``answer`` once resumed on exit."""
    pauses = [cloud.faults.pause(FUNCTION, before=call, nth=nth, where=carries(body["item"]))
              for call in ORDER_WRITES for nth in (1, 2, 3)]
    reply = {}
    first = threading.Thread(target=lambda: reply.update(answer=post(url, body, headers)))
    first.start()
    held, give_up = None, time.monotonic() + HOLD_LIMIT_S
    try:
        while held is None and time.monotonic() < give_up:
            held = next((p for p in pauses if p.reached), None)
            if held is None and not first.is_alive():
                held = next((p for p in pauses if p.reached), None)
                break
            first.join(0.005)
        cloud.faults.clear(FUNCTION)  # the pauses nobody reached
        assert held is not None, f"the first request never wrote its order; it answered {reply.get('answer')}"
        yield reply
    finally:
        cloud.faults.clear(FUNCTION)
        if held is not None:
            held.resume()
        first.join()


# ---- the handler: status codes -------------------------------------------------------------

@pytest.mark.points(2, hint="POST /orders returns 201 with the order; GET /orders/{id} returns it with 200, "
                            "404 for an unknown id, 400 for a body that is not a valid order")
def test_orders_api_maps_outcomes_to_status_codes(lab_shared_cloud, lab_run_tag):
    url = orders_url(lab_shared_cloud)
    status, order = post(url, {"item": f"book{lab_run_tag}", "quantity": 2})
    assert status == 201, f"POST /orders answered {status}: {order}"
    assert order["item"] == f"book{lab_run_tag}" and order["quantity"] == 2 and order["id"]
    assert get(f"{url}/{order['id']}") == (200, order)
    assert get(f"{url}/does-not-exist")[0] == 404
    assert post(url, {"item": "book", "quantity": 0})[0] == 400
    assert post(url, {"quantity": 1})[0] == 400


# ---- retries: the client -------------------------------------------------------------------

@pytest.mark.points(2, hint="post_with_retries must retry 429/500/502/503/504 with a wait between attempts, "
                            "stop at the first success, and make exactly max_attempts attempts in all, "
                            "not one more or one fewer")
@pytest.mark.local_only(reason="scripts Lambda throttles with cloud.faults and counts attempts in the journal")
def test_client_retries_throttled_calls_until_they_succeed(lab_shared_cloud, client, lab_run_tag):
    """Throttles answered 500 are retried until one succeeds; the attempts are counted in the journal."""
    cloud, url = lab_shared_cloud, orders_url(lab_shared_cloud)
    cloud.faults.throttle(FUNCTION, times=2)  # API Gateway answers 500 for a Lambda throttle
    slept = []
    reply = client.post_with_retries(url, {"item": f"pen{lab_run_tag}", "quantity": 1},
                                     sleep=slept.append, base_delay=0.1, max_delay=2.0)
    assert reply.status == 201, f"ended with {reply.status} after statuses {reply.statuses}"
    assert reply.statuses == [500, 500, 201]
    assert cloud.journal.counts(FUNCTION) == {"Throttled": 2, "Success": 1}
    assert len(slept) == 2 and all(0 <= s <= 2.0 for s in slept), f"waits between the attempts: {slept}"
    assert len(stored_orders(cloud, lab_run_tag)) == 1

    cloud.journal.clear()
    cloud.faults.throttle(FUNCTION, times=10)
    slept = []
    try:
        reply = client.post_with_retries(url, {"item": f"pen{lab_run_tag}", "quantity": 1}, max_attempts=4,
                                         sleep=slept.append, base_delay=0.1, max_delay=2.0)
    finally:
        cloud.faults.clear(FUNCTION)
    attempts = cloud.journal.counts(FUNCTION)["Throttled"]
    assert attempts == 4, f"max_attempts=4, but the API was called {attempts} times"
    assert reply.status == 500 and reply.statuses == [500] * 4, f"statuses: {reply.statuses}"
    assert len(slept) == 3, f"4 attempts need 3 waits, not {len(slept)}"


@pytest.mark.points(1, hint="never retry a 4xx other than 429 (400, 422...): the request itself is wrong "
                            "and will fail the same way every time")
def test_client_does_not_retry_client_errors(lab_shared_cloud, client, lab_run_tag):
    url = orders_url(lab_shared_cloud)
    slept = []
    reply = client.post_with_retries(url, {"item": "", "quantity": 1}, sleep=slept.append)
    assert reply.status == 400 and reply.statuses == [400] and slept == []
    key = f"k-4xx{lab_run_tag}"
    assert post(url, {"item": f"cup{lab_run_tag}", "quantity": 1}, {"Idempotency-Key": key})[0] == 201
    reply = client.post_with_retries(url, {"item": f"cup{lab_run_tag}", "quantity": 5}, idempotency_key=key,
                                     sleep=slept.append)
    assert reply.status == 422 and reply.statuses == [422] and slept == []


def refused_url():
    """A URL on a local port that refuses connections: every attempt fails with an OSError."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{sock.getsockname()[1]}/orders"


def waits_of_clients(client, clients, seed, **options):
    """The waits of ``clients`` clients, each retrying a refused connection until it gives up, all
    drawing their jitter from one seeded generator."""
    url, rng, waits = refused_url(), random.Random(seed), []
    for _ in range(clients):
        slept = []
        with pytest.raises(OSError):
            client.post_with_retries(url, {"item": "x", "quantity": 1}, sleep=slept.append, rng=rng.random,
                                     **options)
        waits.append(slept)
    return waits


@pytest.mark.points(1, hint="a dropped connection (OSError) is retried like a 5xx and re-raised after the "
                            "last attempt, and no wait may exceed max_delay however many retries came before")
def test_client_caps_its_backoff_and_retries_dropped_connections(client):
    """A refused connection gives no status at all: the client must treat it as retryable."""
    waits = waits_of_clients(client, 50, seed=1, max_attempts=8, base_delay=1.0, max_delay=2.0)
    assert all(len(w) == 7 for w in waits), f"8 attempts need 7 waits; got {sorted({len(w) for w in waits})}"
    every = [s for w in waits for s in w]
    assert min(every) >= 0 and max(every) <= 2.0, f"waits from {min(every)} to {max(every)} s, max_delay=2.0"
    assert max(every) >= 1.0, "the waits never grew toward max_delay"


@pytest.mark.points(2, hint="waits must be random (jitter) and grow with each retry: clients that failed "
                            "together must not all retry at the same moment")
def test_client_jitters_its_backoff(client):
    """Many clients failing at once, drawing from one seeded generator: their waits must spread and grow."""
    waits = waits_of_clients(client, 200, seed=7, max_attempts=6, base_delay=0.1, max_delay=100.0)
    assert all(len(w) == 5 for w in waits), f"6 attempts need 5 waits; got {sorted({len(w) for w in waits})}"
    for retry, column in enumerate(zip(*waits, strict=True)):
        assert min(column) >= 0, f"a negative wait before retry {retry + 1}"
        assert len(set(column)) >= 0.9 * len(column), \
            f"200 clients drew only {len(set(column))} different waits before retry {retry + 1}: no jitter"
        assert statistics.pstdev(column) >= 0.1 * statistics.mean(column), \
            f"the waits before retry {retry + 1} hardly differ: {min(column):.3f} to {max(column):.3f} s"
    first, last = statistics.mean(w[0] for w in waits), statistics.mean(w[-1] for w in waits)
    assert last >= 2 * first, f"the waits do not grow: {first:.3f} s on average before the first retry, " \
                              f"{last:.3f} s before the fifth"


@pytest.mark.points(1, hint="post_with_retries must send one Idempotency-Key (the caller's, or one it makes "
                            "once) on every attempt: when an order was stored but the answer was lost (502), "
                            "the retry must get the stored order back, not create a second one")
@pytest.mark.local_only(reason="scripts a crash after the order is stored with cloud.faults")
def test_a_retry_after_a_lost_answer_reuses_the_key_and_creates_one_order(lab_shared_cloud, client, lab_run_tag):
    lab_shared_cloud.faults.crash(FUNCTION)  # the handler stores the order, then its runtime dies: API Gateway says 502
    reply = client.post_with_retries(orders_url(lab_shared_cloud), {"item": f"kettle{lab_run_tag}", "quantity": 1},
                                     sleep=lambda seconds: None)
    assert reply.statuses == [502, 201], f"statuses: {reply.statuses}"
    orders = stored_orders(lab_shared_cloud, lab_run_tag)
    assert len(orders) == 1, f"{len(orders)} orders stored for one POST: each attempt used a new key"
    assert reply.body["id"] == orders[0]["id"]["S"]


# ---- idempotency ---------------------------------------------------------------------------

@pytest.mark.points(1, hint="claim the Idempotency-Key with a conditional write; a repeat with the "
                            "same body must return the stored response, not create a second order")
def test_a_repeated_post_with_the_same_key_creates_one_order(lab_shared_cloud, lab_run_tag):
    url, key = orders_url(lab_shared_cloud), {"Idempotency-Key": f"k-1{lab_run_tag}"}
    first = post(url, {"item": f"lamp{lab_run_tag}", "quantity": 1}, key)
    second = post(url, {"item": f"lamp{lab_run_tag}", "quantity": 1}, key)
    assert first[0] == 201, f"first POST answered {first}"
    assert second == first, "the retry must get exactly the stored response"
    assert len(stored_orders(lab_shared_cloud, lab_run_tag)) == 1


@pytest.mark.points(1, hint="the same Idempotency-Key with a different body is a client bug: answer 422, "
                            "and keep answering the first body's stored response")
def test_the_same_key_with_another_body_is_refused_with_422(lab_shared_cloud, lab_run_tag):
    url, key = orders_url(lab_shared_cloud), {"Idempotency-Key": f"k-2{lab_run_tag}"}
    first = post(url, {"item": f"lamp{lab_run_tag}", "quantity": 1}, key)
    assert first[0] == 201, f"first POST answered {first}"
    assert post(url, {"item": f"lamp{lab_run_tag}", "quantity": 9}, key)[0] == 422
    assert post(url, {"item": f"lamp{lab_run_tag}", "quantity": 1}, key) == first
    assert len(stored_orders(lab_shared_cloud, lab_run_tag)) == 1


@pytest.mark.points(2, hint="two requests with one Idempotency-Key running at once both created the order: "
                            "claim the key with a conditional write, not a read followed by a write")
@pytest.mark.local_only(reason="interleaves two requests reads-first with cloud.faults.schedule")
def test_two_racing_posts_with_one_key_create_one_order(lab_shared_cloud, lab_run_tag):
    """Both requests read before either writes: only a conditional write lets exactly one win."""
    cloud = lab_shared_cloud
    url, key, body = orders_url(cloud), {"Idempotency-Key": f"k-race{lab_run_tag}"}, \
        {"item": f"chair{lab_run_tag}", "quantity": 1}
    cloud.faults.schedule("reads-first")  # every read of both requests before any write
    try:
        replies = burst(2, lambda i: post(url, body, key))
    finally:
        cloud.faults.clear()
    orders = stored_orders(cloud, lab_run_tag)
    assert len(orders) == 1, f"{len(orders)} orders stored for one key; the answers were {replies}"
    created = [r for r in replies if r[0] == 201]
    assert created and all(r == created[0] for r in created), f"answers: {replies}"
    assert all(r[0] in (201, 409) for r in replies), f"answers: {replies}"
    assert post(url, body, key) == created[0]


@pytest.mark.points(2, hint="while the first request with a key is still running, a duplicate must get 409: "
                            "claim the key before the slow work, and keep the claim for as long as the first "
                            "request may still run (up to its function timeout)")
@pytest.mark.local_only(reason="holds the first request mid-way and moves the clock with cloud.faults")
def test_a_duplicate_arriving_while_the_first_runs_gets_409(lab_shared_cloud, lab_run_tag):
    """The first request is held after its claim, half its function timeout passes, a duplicate comes."""
    cloud = lab_shared_cloud
    url, key, body = orders_url(cloud), {"Idempotency-Key": f"k-3{lab_run_tag}"}, \
        {"item": f"desk{lab_run_tag}", "quantity": 1}
    with held_before_its_order_write(cloud, url, body, key) as first:
        cloud.advance(FUNCTION_TIMEOUT_S / 2)  # the first request may still be running
        duplicate = post(url, body, key)
    assert duplicate[0] == 409, f"duplicate answered {duplicate}"
    assert first["answer"][0] == 201, f"first request answered {first['answer']}"
    assert post(url, body, key) == first["answer"]
    assert len(stored_orders(cloud, lab_run_tag)) == 1


@pytest.mark.points(1, hint="a request that died mid-way left its key claimed forever: the claim must lapse "
                            "once its owner can no longer be running (the function timeout), so a retry goes "
                            "through, creating the order once")
@pytest.mark.local_only(reason="holds a request past its function timeout with cloud.faults")
def test_a_claim_lapses_once_its_request_cannot_be_running(lab_shared_cloud, lab_run_tag):
    """The first request is held past its function timeout (Lambda stops it): its key must be free again."""
    cloud = lab_shared_cloud
    url, key, body = orders_url(cloud), {"Idempotency-Key": f"k-lapse{lab_run_tag}"}, \
        {"item": f"shelf{lab_run_tag}", "quantity": 1}
    with held_before_its_order_write(cloud, url, body, key):
        cloud.advance(3 * FUNCTION_TIMEOUT_S)  # Lambda has stopped the held request by now
        retry = post(url, body, key)
    assert retry[0] == 201, f"a retry long after the first request's timeout answered {retry}"
    assert post(url, body, key) == retry
    assert len(stored_orders(cloud, lab_run_tag)) == 1


@pytest.mark.points(1, hint="when DynamoDB fails inside the handler, answer a 5xx (let the error raise: API "
                            "Gateway answers 502), never a 4xx, and free the key so the client's retry succeeds")
@pytest.mark.local_only(reason="fails the order's DynamoDB write with cloud.faults")
def test_a_failing_dependency_gives_a_retryable_5xx(lab_shared_cloud, lab_run_tag):
    """The order's DynamoDB write fails (nothing is written): the answer must invite a retry, which succeeds."""
    cloud = lab_shared_cloud
    url, key, body = orders_url(cloud), {"Idempotency-Key": f"k-fail{lab_run_tag}"}, \
        {"item": f"rug{lab_run_tag}", "quantity": 1}
    for call in ORDER_WRITES:
        cloud.faults.fail_call(FUNCTION, call, error="ProvisionedThroughputExceededException",
                               where=carries(body["item"]))
    try:
        failed = post(url, body, key)
    finally:
        cloud.faults.clear(FUNCTION)
    assert failed[0] in RETRYABLE, f"a failed DynamoDB write answered {failed}: the client will not retry it"
    retry = post(url, body, key)
    assert retry[0] == 201, f"the retry answered {retry}"
    assert len(stored_orders(cloud, lab_run_tag)) == 1


@pytest.mark.points(2, hint="the order was written but DynamoDB's answer was lost, and the retry created a "
                            "second order: fix the order's id when claiming the key, so every attempt with "
                            "that key writes the same order")
@pytest.mark.local_only(reason="loses the answer of the order's DynamoDB write with cloud.faults")
def test_a_retry_after_the_orders_write_lost_its_answer_creates_one_order(lab_shared_cloud, lab_run_tag):
    """The order's DynamoDB write commits but its answer is lost: the handler cannot tell, the retry must."""
    cloud = lab_shared_cloud
    url, key, body = orders_url(cloud), {"Idempotency-Key": f"k-lost{lab_run_tag}"}, \
        {"item": f"vase{lab_run_tag}", "quantity": 1}
    for call in ORDER_WRITES:
        cloud.faults.lose_response(FUNCTION, call, where=carries(body["item"]))
    try:
        failed = post(url, body, key)
    finally:
        cloud.faults.clear(FUNCTION)
    assert failed[0] in RETRYABLE, f"an unanswered DynamoDB write answered {failed}"
    retry = post(url, body, key)
    assert retry[0] == 201, f"the retry answered {retry}"
    orders = stored_orders(cloud, lab_run_tag)
    assert len(orders) == 1, f"{len(orders)} orders stored for one key"
    assert get(f"{url}/{retry[1]['id']}") == (200, retry[1])


# ---- concurrency limits --------------------------------------------------------------------

@pytest.mark.points(1, hint="with ReservedConcurrentExecutions 2, a burst is throttled: API Gateway "
                            "answers 500 for exactly the throttled calls; every other call must succeed")
@pytest.mark.local_only(reason="counts throttles in the engine's journal and slows the function with env_vars")
def test_a_burst_over_reserved_concurrency_fails_only_the_throttled_calls(lab_cloud_factory):
    cloud = lab_cloud_factory(env_vars={FUNCTION: {"PAYMENT_LATENCY_MS": "100"}})
    url = orders_url(cloud)
    statuses = [s for s, _ in burst(20, lambda i: post(url, {"item": f"burst-{i}", "quantity": 1}))]
    throttles = cloud.journal.counts(FUNCTION)["Throttled"]
    assert throttles > 0, "the burst should exceed reserved concurrency 2"
    assert statuses.count(500) == throttles
    assert statuses.count(201) == 20 - throttles, f"statuses: {sorted(statuses)}"
    assert len(stored_orders(cloud)) == 20 - throttles


@pytest.mark.points(2, hint="retry throttled calls with backoff and the same Idempotency-Key: all 20 "
                            "orders must be created, each exactly once")
@pytest.mark.local_only(reason="counts throttles in the engine's journal and slows the function with env_vars")
def test_retrying_clients_get_a_burst_through_with_exactly_one_order_each(lab_cloud_factory, client):
    cloud = lab_cloud_factory(env_vars={FUNCTION: {"PAYMENT_LATENCY_MS": "30"}})
    url = orders_url(cloud)
    replies = burst(20, lambda i: client.post_with_retries(
        url, {"item": f"burst-{i}", "quantity": 1}, idempotency_key=f"burst-{i}",
        max_attempts=60, base_delay=0.02, max_delay=0.25))
    assert [r.status for r in replies] == [201] * 20, [r.statuses for r in replies]
    assert cloud.journal.counts(FUNCTION)["Throttled"] > 0, "the burst should have been throttled"
    items = sorted(o["item"]["S"] for o in stored_orders(cloud))
    assert items == sorted(f"burst-{i}" for i in range(20)), "exactly one order per client"
