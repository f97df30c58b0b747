"""What happens to an async event after each attempt: pure decisions, named with AWS's conditions.

* A function error (raised, timed out, crashed) is retried ``MaximumRetryAttempts`` times (0-2,
  default 2): **1 minute** before the second attempt, **2 minutes** before the third [A-ERR].
* A throttle (or a 5xx) returns the event to the queue; the wait grows exponentially from **1 s** to
  **5 min**, for as long as the event is younger than ``MaximumEventAgeInSeconds`` (6 h default) [A-ERR].
  The backoff is the longest a throttled event waits: the queue sends it sooner when one of its
  function's invocations frees a slot [A-THR].
* With reserved concurrency 0, events go straight to the DLQ / on-failure destination, without
  retries [A-REC].
* An event whose function-error retry would come after its maximum age is discarded now (the
  condition ``EventAgeExceeded``), as LocalStack's parity-tested queue looks ahead too. A throttled
  event whose next backoff would come too late waits for a free slot until its maximum age
  (``expires_in``), and is discarded then.

Conditions: ``Success`` and ``RetriesExhausted`` are documented [A-a]; ``EventAgeExceeded`` and
``ZeroReservedConcurrency`` are the values seen in invocation records (not in AWS's docs).
"""

from __future__ import annotations

from dataclasses import dataclass

from lambdalab.config import EventInvokeConfig
from lambdalab.strenum import StrEnum


class Condition(StrEnum):
    """``requestContext.condition`` of an invocation record: how the event left the queue."""

    SUCCESS = "Success"
    RETRIES_EXHAUSTED = "RetriesExhausted"
    EVENT_AGE_EXCEEDED = "EventAgeExceeded"
    ZERO_RESERVED_CONCURRENCY = "ZeroReservedConcurrency"


FUNCTION_ERROR_RETRY_DELAYS_S = (60.0, 120.0)  # before the 2nd and the 3rd attempt
THROTTLE_BACKOFF_FIRST_S = 1.0
THROTTLE_BACKOFF_MAX_S = 300.0


@dataclass(frozen=True)
class Decision:
    """Either try again in ``retry_in`` seconds, or stop with ``condition`` (Success or a failure).

    With ``expires_in`` as well as a failure ``condition``, the stop is deferred: the event may still
    run if a slot frees within ``expires_in`` seconds (a throttled event near its maximum age)."""

    retry_in: float | None = None
    condition: Condition | None = None
    expires_in: float | None = None

    @property
    def failed(self) -> bool:
        return self.condition not in (None, Condition.SUCCESS)


def retry_delay(retry: int) -> float:
    """Seconds before function-error retry number ``retry`` (1 or 2)."""
    return FUNCTION_ERROR_RETRY_DELAYS_S[retry - 1]


def throttle_backoff(throttles: int) -> float:
    """Seconds before the next try after the ``throttles``-th throttle in a row: 1, 2, 4 ... 300."""
    return min(THROTTLE_BACKOFF_FIRST_S * 2 ** min(max(0, throttles - 1), 32), THROTTLE_BACKOFF_MAX_S)


def too_old(age: float, config: EventInvokeConfig) -> bool:
    """An event older than MaximumEventAgeInSeconds is not sent to the function any more."""
    return age > config.MaximumEventAgeInSeconds


def after_invoke(*, function_error: bool, invoke_count: int, age: float, config: EventInvokeConfig) -> Decision:
    """The function ran (``invoke_count`` times so far, this one included); ``age`` is the event's age now."""
    if not function_error:
        return Decision(condition=Condition.SUCCESS)
    retry = invoke_count  # the retry that would come next: 1 after the first attempt
    if retry > config.MaximumRetryAttempts:
        return Decision(condition=Condition.RETRIES_EXHAUSTED)
    delay = retry_delay(retry)
    if too_old(age + delay, config):
        return Decision(condition=Condition.EVENT_AGE_EXCEEDED)
    return Decision(retry_in=delay)


def after_throttle(*, throttles: int, age: float, config: EventInvokeConfig, reserved: int | None) -> Decision:
    """The invoke was throttled (the ``throttles``-th time in a row); ``reserved`` is the function's
    reserved concurrency."""
    if reserved == 0:
        return Decision(condition=Condition.ZERO_RESERVED_CONCURRENCY)
    delay = throttle_backoff(throttles)
    if too_old(age + delay, config):
        return Decision(condition=Condition.EVENT_AGE_EXCEEDED,
                        expires_in=max(0.0, config.MaximumEventAgeInSeconds - age))
    return Decision(retry_in=delay)
