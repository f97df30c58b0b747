"""The REPORT line states the attempt's length on the engine's clock [COST].

On the virtual clock a handler's sleep takes no wall time, yet on AWS it is part of the duration
Lambda reports and bills; the REPORT line says the same length the journal records.
"""

from __future__ import annotations

import math
import re
from typing import Any

from tests.engine.apps import function

HANDLERS = {"app.py": '''
import time

def handler(event, context):
    time.sleep(event["seconds"])
    return "done"
'''}
REPORT = re.compile(r"REPORT RequestId: \S+\tDuration: (?P<ms>\d+\.\d\d) ms\tBilled Duration: (?P<billed>\d+) ms\t")


def test_a_sleep_is_reported_and_billed_as_the_journal_measures_it(make_cloud: Any) -> None:
    cloud = make_cloud(function("Sleeper", Timeout=10), HANDLERS)
    for seconds in (0.25, 1.5):
        result = cloud.invoke("Sleeper", {"seconds": seconds})
        report = REPORT.match([line for line in cloud.logs("Sleeper") if line.startswith("REPORT")][-1])
        assert report is not None
        measured_ms = result.duration * 1000
        assert float(report["ms"]) == round(measured_ms, 2)
        assert seconds * 1000 <= float(report["ms"]) < seconds * 1000 + 500  # plus fixed costs (a cold start's)
        assert int(report["billed"]) == math.ceil(round(measured_ms, 3))  # to the µs: epoch floats are noisy
