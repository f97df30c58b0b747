"""Lab 01 graded checks: the orders API behind API Gateway, and its retrying client.

Each check drives the learner's code through the local engine: HTTP requests to the local API
Gateway, throttles injected or provoked by reserved concurrency, then the stored orders counted.
The checks on ``lab_shared_cloud`` share one cloud (a warm function, one start), and the checks
without ``local_only`` also grade a deployed stack (``--cloud aws``): either way the ids a check
creates carry ``lab_run_tag``, and only its own orders are counted.
"""

from __future__ import annotations

import json
import threading
import time
import urllib.request

import pytest

from lambdalab_course import load_module

API = "ServerlessRestApi"
FUNCTION = "OrdersFunction"
RETRYABLE = [429, 500, 502, 503, 504]
# How long the 409 check waits, at most, for a held request's claim and for the duplicate's answer:
# a bound for broken code, never reached by a working one.
HOLD_LIMIT_S = 5.0


@pytest.fixture
def client(lab_root):
    return load_module(lab_root / "01_request_response" / "client" / "orders_client.py")


def orders_url(cloud):
    return cloud.api_url(API) + "/orders"


def stored_orders(cloud, tag=""):
    """The orders in the table; with a run tag, only those whose item carries it."""
    items = cloud.client("dynamodb").scan(TableName=cloud.resource("OrdersTable"))["Items"]
    return [i for i in items if "item" in i and "quantity" in i and i["item"]["S"].endswith(tag)]


def post(url, body, headers=None):
    request = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST",
                                     headers={"Content-Type": "application/json", **(headers or {})})
    try:
        with urllib.request.urlopen(request, timeout=30) as reply:
            return reply.status, json.loads(reply.read() or b"null")
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read() or b"null")


def get(url):
    try:
        with urllib.request.urlopen(url, timeout=30) as reply:
            return reply.status, json.loads(reply.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read() or b"null")


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

@pytest.mark.points(2, hint="post_with_retries must retry 429/500/502/503/504, sleeping "
                            "backoff_delay(...) between attempts, and stop at the first success")
@pytest.mark.local_only(reason="scripts Lambda throttles with cloud.faults")
def test_client_retries_throttled_calls_until_they_succeed(lab_shared_cloud, client, lab_run_tag):
    lab_shared_cloud.faults.throttle(FUNCTION, times=2)  # API Gateway answers 500 for a Lambda throttle
    slept = []
    reply = client.post_with_retries(orders_url(lab_shared_cloud), {"item": f"pen{lab_run_tag}", "quantity": 1},
                                     sleep=slept.append, rng=lambda: 1.0, base_delay=0.1, max_delay=2.0)
    assert reply.status == 201, f"ended with {reply.status} after statuses {reply.statuses}"
    assert reply.statuses == [500, 500, 201]
    assert slept == [0.1, 0.2], "waits must grow exponentially: base_delay * 2**attempt (full jitter)"
    assert len(stored_orders(lab_shared_cloud, lab_run_tag)) == 1


@pytest.mark.points(2, hint="never retry a 4xx other than 429: the request itself is wrong and "
                            "will fail the same way every time")
def test_client_does_not_retry_client_errors(lab_shared_cloud, client):
    slept = []
    reply = client.post_with_retries(orders_url(lab_shared_cloud), {"item": "", "quantity": 1}, sleep=slept.append)
    assert reply.status == 400 and reply.statuses == [400] and slept == []


@pytest.mark.points(1, hint="backoff must be capped at max_delay, and a connection error (OSError) is "
                            "retried like a 5xx; after the last attempt re-raise it")
def test_client_caps_its_backoff_and_retries_dropped_connections(client):
    import socket

    with socket.socket() as sock:  # a port that refuses connections
        sock.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{sock.getsockname()[1]}/orders"
    slept = []
    with pytest.raises(OSError):
        client.post_with_retries(url, {"item": "x", "quantity": 1}, max_attempts=6, sleep=slept.append,
                                 rng=lambda: 1.0, base_delay=0.5, max_delay=2.0)
    assert slept == [0.5, 1.0, 2.0, 2.0, 2.0]


# ---- idempotency ---------------------------------------------------------------------------

@pytest.mark.points(2, hint="claim the Idempotency-Key with a conditional write; a repeat with the "
                            "same body must return the stored response, not create a second order")
def test_a_repeated_post_with_the_same_key_creates_one_order(lab_shared_cloud, lab_run_tag):
    url, key = orders_url(lab_shared_cloud), {"Idempotency-Key": f"k-1{lab_run_tag}"}
    first = post(url, {"item": f"lamp{lab_run_tag}", "quantity": 1}, key)
    second = post(url, {"item": f"lamp{lab_run_tag}", "quantity": 1}, key)
    assert first[0] == 201, f"first POST answered {first}"
    assert second == first, "the retry must get exactly the stored response"
    assert len(stored_orders(lab_shared_cloud, lab_run_tag)) == 1


@pytest.mark.points(2, hint="post_with_retries must send one Idempotency-Key (the caller's, or one it makes "
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


@pytest.mark.points(1, hint="the same Idempotency-Key with a different body is a client bug: answer 422")
def test_the_same_key_with_another_body_is_refused_with_422(lab_shared_cloud, lab_run_tag):
    url, key = orders_url(lab_shared_cloud), {"Idempotency-Key": f"k-2{lab_run_tag}"}
    assert post(url, {"item": f"lamp{lab_run_tag}", "quantity": 1}, key)[0] == 201
    assert post(url, {"item": f"lamp{lab_run_tag}", "quantity": 9}, key)[0] == 422
    assert len(stored_orders(lab_shared_cloud, lab_run_tag)) == 1


@pytest.mark.points(2, hint="while the first request with a key is still running, a duplicate must get "
                            "409 (claim the key before the slow work, mark it completed after)")
@pytest.mark.local_only(reason="holds the function with env_vars (PAYMENT_HOLD_FILE), which a stack cannot take")
def test_a_duplicate_arriving_while_the_first_runs_gets_409(lab_cloud_factory, tmp_path):
    release = tmp_path / "release-payment"
    cloud = lab_cloud_factory(env_vars={FUNCTION: {"PAYMENT_HOLD_FILE": str(release)}})
    url, key, body = orders_url(cloud), {"Idempotency-Key": "k-3"}, {"item": "desk", "quantity": 1}
    replies = {}
    first = threading.Thread(target=lambda: replies.setdefault("first", post(url, body, key)))
    duplicate = threading.Thread(target=lambda: replies.setdefault("duplicate", post(url, body, key)))
    table, give_up = cloud.resource("OrdersTable"), time.monotonic() + HOLD_LIMIT_S
    first.start()
    try:
        while first.is_alive() and time.monotonic() < give_up and \
                not cloud.client("dynamodb").scan(TableName=table)["Items"]:
            first.join(0.01)  # until the first request, held in its payment, has written its claim
        duplicate.start()
        duplicate.join(HOLD_LIMIT_S)  # a duplicate that is not refused is held in its payment too
    finally:
        release.touch()
    first.join()
    if duplicate.ident is not None:
        duplicate.join()
    assert replies["first"][0] == 201, f"first request answered {replies['first']}"
    assert replies["duplicate"][0] == 409, f"duplicate answered {replies['duplicate']}"
    assert post(url, body, key) == replies["first"]
    assert len(stored_orders(cloud)) == 1


# ---- concurrency limits --------------------------------------------------------------------

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


@pytest.mark.points(2, hint="with ReservedConcurrentExecutions 2, a burst is throttled: API Gateway "
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


@pytest.mark.points(3, hint="retry throttled calls with backoff and the same Idempotency-Key: all 20 "
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
