"""Feedback on a failed check says what happened: the check's failure, the functions that failed
while it ran (error, request id, the file to open), and with ``-v`` their log lines."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace

from lambdalab_course.observed import Watch
from lambdalab_course.report import html, markdown


@dataclass
class Attempt:
    function: str
    request_id: str
    outcome: str
    detail: str | None


class FakeCloud:
    def __init__(self) -> None:
        self.attempts: list[Attempt] = []
        self.journal = SimpleNamespace(invocations=lambda: list(self.attempts))

    def function(self, name: str) -> SimpleNamespace:
        return SimpleNamespace(Handler="app.handler", CodeUri=Path("/x/labs/01_demo/orders"))

    def logs(self, function: str, request_id: str) -> list[str]:
        return [f"START RequestId: {request_id}", "[ERROR] NotImplementedError: finish it\nTraceback ...",
                f"END RequestId: {request_id}"]


def report(**check: object) -> dict[str, object]:
    base = {"lab": "01_demo", "check": "test_x", "points": 2, "earned": 0, "outcome": "failed",
            "hint": "claim with a conditional write", "reason": "", "functions": "", "logs": []}
    return {"earned": 0, "points": 2, "checks": [{**base, **check}]}


def test_only_failures_during_the_check_are_reported_with_the_file_to_open() -> None:
    cloud, watch = FakeCloud(), Watch()
    watch.add(cloud)
    cloud.attempts.append(Attempt("OrdersFunction", "old-request", "Error", "KeyError"))
    watch.start()
    cloud.attempts += [Attempt("OrdersFunction", f"req-{n}", "Error", "NotImplementedError") for n in range(3)]
    cloud.attempts.append(Attempt("OrdersFunction", "fine", "Success", None))
    functions, logs = watch.failures()
    assert functions == ("OrdersFunction failed with NotImplementedError 3x "
                         "(request id req-0, labs/01_demo/orders/app.py)")
    assert logs == ["OrdersFunction req-0: [ERROR] NotImplementedError: finish it",
                    "OrdersFunction req-0: Traceback ..."]


def test_the_table_says_what_happened_and_verbose_adds_the_logs() -> None:
    data = report(reason="AssertionError: assert 2 == 1", functions="OrdersFunction failed with KeyError",
                  logs=["OrdersFunction req-0: KeyError: 'id'"])
    text = markdown(data)
    assert "- test_x: claim with a conditional write" in text
    assert "  - what happened: AssertionError: assert 2 == 1; OrdersFunction failed with KeyError" in text
    assert "KeyError: 'id'" not in text and "OrdersFunction req-0: KeyError: 'id'" in markdown(data, verbose=True)


def test_the_notebook_table_is_html_with_the_text_escaped() -> None:
    page = html(report(reason="assert <b> == 1"))
    assert page.startswith("<table>") and "assert &lt;b&gt; == 1" in page and "<b>0/2</b>" in page
