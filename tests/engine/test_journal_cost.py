"""The journal prices each attempt as AWS bills it [COST]: a request plus billed GB-seconds.

Billed duration is the attempt's duration rounded up to the next millisecond; GB is MemorySize / 1024;
a throttled request never ran and costs nothing. Durations are virtual, so the figures are exact.
"""

from __future__ import annotations

import math
import re
from typing import Any

import pytest

from lambdalab.observe.cost import PRICE_PER_GB_SECOND, PRICE_PER_REQUEST, dollars
from lambdalab.observe.journal import Invocation, Outcome
from tests.engine.apps import function

ORIGIN = 1767225600.0  # an epoch on the virtual clock: its floats carry noise below a microsecond
HANDLERS = {"app.py": '''
import time

def handler(event, context):
    time.sleep(event.get("seconds", 0))
    return "done"
'''}
BILLED = re.compile(r"\tBilled Duration: (\d+) ms\t")


def attempt(seconds: float, memory_mb: int | None, outcome: Outcome = Outcome.SUCCESS) -> Invocation:
    return Invocation("r", "Fn", "invoke", "RequestResponse", 1, "env-1", False, ORIGIN, ORIGIN + seconds,
                      outcome, memory_mb=memory_mb)


def test_the_published_prices_are_the_ones_used() -> None:
    assert PRICE_PER_GB_SECOND == 0.0000166667
    assert round(PRICE_PER_REQUEST, 12) == 0.0000002


@pytest.mark.parametrize(("seconds", "billed"), [(0.0, 1), (0.0001, 1), (0.151, 151), (0.2501, 251), (1.5, 1500)])
def test_the_duration_is_billed_rounded_up_to_the_next_millisecond(seconds: float, billed: int) -> None:
    assert attempt(seconds, 128).billed_ms == billed


def test_an_attempt_costs_a_request_plus_its_gb_seconds() -> None:
    one_gb = attempt(0.0995, 1024)  # 100 ms billed at 1 GB: 0.1 GB-s
    assert one_gb.gb_seconds == pytest.approx(0.1)
    assert one_gb.cost == pytest.approx(0.0000002 + 0.1 * 0.0000166667)
    small = attempt(0.151, 128)  # 151 ms at 0.125 GB
    assert small.gb_seconds == pytest.approx(0.125 * 0.151)
    assert small.cost == pytest.approx(0.0000002 + 0.125 * 0.151 * 0.0000166667)


def test_a_throttled_request_costs_nothing() -> None:
    throttled = attempt(0.0, None, Outcome.THROTTLED)
    assert (throttled.billed_ms, throttled.cost) == (0, 0.0)


def test_costs_print_in_dollars_and_never_round_to_zero() -> None:
    assert dollars(attempt(0.0, 128).cost) == "$0.0000002"
    assert dollars(attempt(0.0995, 1024).cost) == "$0.0000019"
    assert dollars(0.0) == "$0"


def test_the_table_has_a_cost_column_and_the_journal_a_total(make_cloud: Any) -> None:
    cloud = make_cloud(function("Big", MemorySize=1024, Timeout=10) + function("Small", Timeout=10), HANDLERS)
    cloud.invoke("Big", {"seconds": 0.5})
    cloud.invoke("Big", {"seconds": 0.5})
    cloud.faults.throttle("Small")
    with pytest.raises(Exception, match="TooManyRequests|Rate Exceeded"):
        cloud.invoke("Small", {})
    cloud.invoke("Small", {})
    big, small = cloud.journal.invocations("Big"), cloud.journal.invocations("Small")
    assert [i.memory_mb for i in big] == [1024, 1024] and [i.outcome for i in small] == ["Throttled", "Success"]
    for i in big + small[1:]:
        assert i.cost == pytest.approx(PRICE_PER_REQUEST + i.memory_mb / 1024 * i.billed_ms / 1000
                                       * PRICE_PER_GB_SECOND)
    assert big[1].billed_ms == 501  # a warm run: its sleep plus the runtime's 1 ms
    assert cloud.journal.cost("Big") == pytest.approx(sum(i.cost for i in big))
    assert cloud.journal.cost() == pytest.approx(cloud.journal.cost("Big") + small[1].cost)
    rows = cloud.journal.rows()
    assert [row["cost"] for row in rows] == [dollars(i.cost) for i in big + small]
    assert rows[2]["cost"] == "$0"
    header = cloud.journal.table().splitlines()[0].split()
    assert header[header.index("detail") + 1] == "cost"


def test_the_report_line_bills_what_the_journal_bills(make_cloud: Any) -> None:
    cloud = make_cloud(function("Fn", Timeout=10), HANDLERS)
    for seconds in (0.0, 0.25, 1.5):
        cloud.invoke("Fn", {"seconds": seconds})
    reported = [int(match[1]) for line in cloud.logs("Fn") if (match := BILLED.search(line))]
    billed = [i.billed_ms for i in cloud.journal.invocations("Fn")]
    assert reported == billed
    assert billed == [math.ceil(round(i.duration * 1000, 3)) for i in cloud.journal.invocations("Fn")]
