"""The Lambda proxy integration: one synchronous invoke, given up after the integration timeout.

The invoke runs in a worker thread so the client can get its timeout answer on time while the
function keeps running to completion, as it does on AWS, where the integration timeout and the
function timeout are separate clocks. API Gateway never retries the call [AGW-ERR].
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any, Protocol

from lambdalab.errors import AwsApiError


class InvokeAnswer(Protocol):
    """What ``invoke`` returns (``lambdalab.service.invoke.InvokeResult`` has this shape)."""

    @property
    def payload(self) -> bytes: ...

    @property
    def request_id(self) -> str: ...

    @property
    def function_error(self) -> str | None: ...

    @property
    def duration(self) -> float | None: ...


class InvokeService(Protocol):
    """Anything that invokes a function synchronously, like ``LambdaService``."""

    def invoke(self, name: str, payload: Any = None, *, invocation_type: str = ...,
               source: str = ...) -> InvokeAnswer: ...


@dataclass(frozen=True)
class IntegrationOutcome:
    """Exactly one of: an answer, a rejection by the Lambda service, or a timeout."""

    answer: InvokeAnswer | None = None
    rejected: AwsApiError | None = None
    timed_out: bool = False


class _Call:
    def __init__(self) -> None:
        self.done = threading.Event()
        self.answer: InvokeAnswer | None = None
        self.error: BaseException | None = None


def invoke_with_timeout(service: InvokeService, function: str, event: bytes, *, source: str,
                        timeout_s: float) -> IntegrationOutcome:
    """Invoke ``function`` once; after ``timeout_s`` stop waiting, not the function. Waiting is in
    wall time; on the virtual clock an invocation that lasted longer than ``timeout_s`` there is a
    timeout too, though it took no wall time.

    Errors that are not AWS API answers are engine faults and are raised, never turned into a 5xx.
    """
    call = _Call()

    def run() -> None:
        try:
            call.answer = service.invoke(function, event, invocation_type="RequestResponse", source=source)
        except BaseException as exc:  # handed to the waiting request thread
            call.error = exc
        finally:
            call.done.set()

    threading.Thread(target=run, name=f"apigateway-integration-{function}", daemon=True).start()
    if not call.done.wait(timeout_s):
        return IntegrationOutcome(timed_out=True)
    if isinstance(call.error, AwsApiError):
        return IntegrationOutcome(rejected=call.error)
    if call.error is not None:
        raise call.error
    duration = getattr(call.answer, "duration", None)
    if duration is not None and duration > timeout_s:  # on the virtual clock: it ran longer than allowed
        return IntegrationOutcome(timed_out=True)
    return IntegrationOutcome(answer=call.answer)
