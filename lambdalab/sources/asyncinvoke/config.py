"""EventInvokeConfig as Lambda's API and CloudFormation take it: AWS's ranges, wording and destinations.

``MaximumRetryAttempts`` 0-2 and ``MaximumEventAgeInSeconds`` 60-21600 [PFEIC],[CFN-EIC]; ``put``
replaces the whole configuration, ``update`` patches it [A-a]. Destinations are standard SQS queues,
standard SNS topics and Lambda functions; EventBridge and S3 destinations are refused by name, not
ignored [A-REC]. Dead-letter queues are SQS or SNS [A-a].
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, replace
from typing import Any

from lambdalab.config import ACCOUNT_ID, REGION, EventInvokeConfig, FunctionConfig
from lambdalab.errors import (
    ConfigurationError,
    InvalidParameterValueException,
    NotSupportedLocally,
    ResourceNotFoundException,
    ValidationException,
)
from lambdalab.sources.destinations import arn_service
from lambdalab.validation import integer, validation_message

MAXIMUM_RETRY_ATTEMPTS = (0, 2)
MAXIMUM_EVENT_AGE_IN_SECONDS = (60, 21600)
DESTINATION_SERVICES = ("sqs", "sns", "lambda")  # what the engine delivers to
DEAD_LETTER_SERVICES = ("sqs", "sns")
_REFUSED = {"events": "EventBridge", "s3": "S3"}


def check_destination(arn: str, condition: str) -> None:
    """A destination the engine can deliver to, or AWS's error / a clear refusal."""
    service = arn_service(arn)
    if service in _REFUSED:
        raise NotSupportedLocally(f"{_REFUSED[service]} destinations ({condition}) are not supported locally: {arn}")
    if service not in DESTINATION_SERVICES:
        raise InvalidParameterValueException(
            f"The provided destination config DestinationConfig.{condition} is invalid.")


def _in_range(name: str, value: Any, low: int, high: int) -> int:
    """The API's JSON number within its range, or AWS's ValidationException naming ``name``."""
    return integer(value, low, high, text=False,
                   refuse=lambda problem: ValidationException(validation_message(name, value, problem.constraint)))


def from_request(body: dict[str, Any], current: EventInvokeConfig | None) -> EventInvokeConfig:
    """Put (``current`` None: unset settings take AWS's defaults) or Update (patch ``current``)."""
    base = current or EventInvokeConfig()
    changes: dict[str, Any] = {}
    for key, name, (low, high) in (("MaximumRetryAttempts", "maximumRetryAttempts", MAXIMUM_RETRY_ATTEMPTS),
                                   ("MaximumEventAgeInSeconds", "maximumEventAgeInSeconds",
                                    MAXIMUM_EVENT_AGE_IN_SECONDS)):
        if key in body:
            changes[key] = _in_range(name, body[key], low, high)
    destinations = body.get("DestinationConfig")
    if destinations is not None:
        for condition in ("OnSuccess", "OnFailure"):
            if condition in destinations:
                arn = (destinations.get(condition) or {}).get("Destination")
                if arn:
                    check_destination(str(arn), condition)
                changes[condition] = arn or None
    return replace(base, **changes)


def to_response(function_arn: str, config: EventInvokeConfig, last_modified: float) -> dict[str, Any]:
    """FunctionEventInvokeConfig, as GetFunctionEventInvokeConfig answers it."""
    return {
        "LastModified": last_modified,
        "FunctionArn": f"{function_arn}:$LATEST",
        "MaximumRetryAttempts": config.MaximumRetryAttempts,
        "MaximumEventAgeInSeconds": config.MaximumEventAgeInSeconds,
        "DestinationConfig": {
            condition: ({"Destination": arn} if arn else {})
            for condition, arn in (("OnSuccess", config.OnSuccess), ("OnFailure", config.OnFailure))
        },
    }


def check_function(fn: FunctionConfig) -> None:
    """The template's async settings for ``fn``: refuse destinations and DLQs the engine cannot serve."""
    for refusal in async_refusals(fn):
        raise refusal


def async_refusals(fn: FunctionConfig) -> list[ConfigurationError]:
    """Every destination and dead-letter queue of ``fn`` the engine cannot serve (pure: read from its
    configuration, without a data plane)."""
    found = []
    invoke_config = fn.EventInvokeConfig
    for condition, arn in (("OnSuccess", invoke_config.OnSuccess), ("OnFailure", invoke_config.OnFailure)):
        if arn:
            try:
                check_destination(arn, condition)
            except (InvalidParameterValueException, NotSupportedLocally) as exc:
                found.append(ConfigurationError(exc.message, fn.logical_id, f"EventInvokeConfig.{condition}"))
    if fn.DeadLetterQueue and arn_service(fn.DeadLetterQueue) not in DEAD_LETTER_SERVICES:
        found.append(ConfigurationError(
            f"a dead-letter queue must be an SQS queue or an SNS topic, got {fn.DeadLetterQueue}",
            fn.logical_id, "DeadLetterConfig"))
    return found


@dataclass(frozen=True)
class Stored:
    config: EventInvokeConfig
    last_modified: float


class EventInvokeConfigs:
    """Each function's current EventInvokeConfig: the template's, then whatever the API put there."""

    def __init__(self, functions: list[FunctionConfig], now: float):
        self._lock = threading.Lock()
        self._stored: dict[str, Stored] = {
            fn.FunctionName: Stored(fn.EventInvokeConfig, now)
            for fn in functions if fn.EventInvokeConfig != EventInvokeConfig()
        }

    def effective(self, function: str) -> EventInvokeConfig:
        """What the async queue applies: the stored configuration, or AWS's defaults."""
        with self._lock:
            stored = self._stored.get(function)
        return stored.config if stored else EventInvokeConfig()

    def get(self, function: str) -> Stored | None:
        with self._lock:
            return self._stored.get(function)

    def put(self, function: str, body: dict[str, Any], now: float, *, patch: bool) -> Stored:
        with self._lock:
            current = self._stored.get(function)
            if patch and current is None:
                raise _not_found(function)
            stored = Stored(from_request(body, current.config if patch and current else None), now)
            self._stored[function] = stored
            return stored

    def delete(self, function: str) -> None:
        with self._lock:
            if self._stored.pop(function, None) is None:
                raise _not_found(function)


def _not_found(function: str) -> Exception:
    return ResourceNotFoundException(
        f"The function arn:aws:lambda:{REGION}:{ACCOUNT_ID}:function:{function}:$LATEST doesn't have an "
        "EventInvokeConfig")
