"""A burst of async events against a small reserved concurrency drains as fast as the concurrency
allows [A-ERR],[CONC-a]: a throttled event goes again as soon as one of its function's invocations
frees a slot, not only when its backoff runs out, so no event ages out while slots sit idle."""

from __future__ import annotations

from collections import Counter
from itertools import pairwise

import pytest

from lambdalab.config import EventInvokeConfig
from lambdalab.sources.asyncinvoke import processor
from lambdalab.sources.asyncinvoke.processor import Condition
from tests.engine.async_apps import bodies, events_seen, messages, start


@pytest.fixture
def cloud(make_cloud):
    return start(make_cloud)


def most_at_once(runs):
    """The largest number of the runs that overlap in virtual time."""
    edges = sorted([(r.start, 1) for r in runs] + [(r.end, -1) for r in runs], key=lambda e: (e[0], e[1]))
    running = peak = 0
    for _, step in edges:
        running += step
        peak = max(peak, running)
    return peak


def test_two_hundred_events_against_reserved_concurrency_two_all_run_once(cloud):
    """200 quick events, reserved concurrency 2: every event runs exactly once, none ages out, never
    more than 2 at a time, and the queue is empty within seconds of virtual time, not hours."""
    cloud.client("lambda").put_function_concurrency(FunctionName="Fn", ReservedConcurrentExecutions=2)
    for n in range(200):
        cloud.invoke("Fn", {"n": n}, invocation_type="Event")
    cloud.run_until_idle()
    runs = cloud.journal.invocations("Fn")
    ran = [r for r in runs if r.outcome == "Success"]
    assert sorted(e["n"] for e in events_seen(cloud)) == list(range(200))
    assert len(ran) == 200 and len({r.request_id for r in ran}) == 200
    assert {r.stop_reason for r in runs} == {None}, Counter(r.stop_reason for r in runs)
    assert {r.detail for r in runs if r.outcome == "Throttled"} == {"ReservedFunctionConcurrentInvocationLimitExceeded"}
    assert most_at_once(ran) <= 2
    assert max(r.end for r in ran) - cloud.journal.origin < 5
    assert bodies(cloud, "Failed") == [] and messages(cloud, "Dlq") == []
    assert cloud.async_queue().pending() == 0


def test_a_throttled_event_goes_when_a_slot_frees_not_at_its_backoff(cloud):
    """Reserved concurrency 1 and events that run 2 s: the second, throttled at 0 s, starts the moment
    the slot frees (2 s), the third at 4 s; each was throttled once, not again at its backoff."""
    cloud.client("lambda").put_function_concurrency(FunctionName="Fn", ReservedConcurrentExecutions=1)
    ids = [cloud.invoke("Fn", {"sleep": 2, "n": n}, invocation_type="Event").request_id for n in range(3)]
    cloud.run_until_idle()
    runs = cloud.journal.invocations("Fn")
    ran = {r.request_id: r for r in runs if r.outcome == "Success"}
    assert [round(ran[i].start - cloud.journal.origin) for i in ids] == [0, 2, 4]
    assert Counter(r.request_id for r in runs if r.outcome == "Throttled") == {ids[1]: 1, ids[2]: 1}


def test_waiting_events_use_the_slot_until_their_maximum_age_then_age_out(cloud):
    """[A-ERR],[PFEIC]: 40 events of 2 s each, reserved concurrency 1, MaximumEventAgeInSeconds 60:
    the slot stays busy until the events' maximum age (no event waits out a backoff past it while the
    slot is free), no event runs older than 60 s, and the rest are EventAgeExceeded at 60 s."""
    lam = cloud.client("lambda")
    lam.put_function_concurrency(FunctionName="Fn", ReservedConcurrentExecutions=1)
    lam.update_function_event_invoke_config(FunctionName="Fn", MaximumEventAgeInSeconds=60)
    ids = [cloud.invoke("Fn", {"sleep": 2, "n": n}, invocation_type="Event").request_id for n in range(40)]
    cloud.run_until_idle()
    origin = cloud.journal.origin
    ran = [r for r in cloud.journal.invocations("Fn") if r.outcome == "Success"]
    assert all(later.start - earlier.end < 0.01 for earlier, later in pairwise(ran))  # back to back
    assert 60 - 2.5 < ran[-1].start - origin <= 60
    failed = bodies(cloud, "Failed")
    assert {r["requestContext"]["condition"] for r in failed} == {"EventAgeExceeded"}
    assert sorted([r.request_id for r in ran] + [r["requestContext"]["requestId"] for r in failed]) == sorted(ids)
    assert min(r["timestamp"] for r in failed) >= "2026-01-01T00:01:00"


def test_a_throttle_whose_backoff_would_outlast_the_maximum_age_waits_until_that_age():
    """[A-THR]: the backoff after a 6th throttle (32 s) would end past a 60-s maximum age, so the event
    waits for a slot for the 10 s it has left, then is EventAgeExceeded."""
    config = EventInvokeConfig(MaximumEventAgeInSeconds=60)
    decision = processor.after_throttle(throttles=6, age=50, config=config, reserved=None)
    assert (decision.retry_in, decision.condition, decision.expires_in) == (None, Condition.EVENT_AGE_EXCEEDED, 10)
    assert processor.after_throttle(throttles=1, age=50, config=config, reserved=None).retry_in == 1
