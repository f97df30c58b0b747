"""Three kinds of failure, kept apart so none is swallowed or mistaken for another.

* ``ConfigurationError``: the template or a setting is wrong or not supported locally.
* ``AwsApiError`` subclasses: what the Lambda API itself answers (throttles, not found, too large),
  with AWS's error codes, HTTP statuses and wording.
* ``FunctionError``: the function (or its runtime) failed; AWS returns it as a 200 with
  ``X-Amz-Function-Error`` and an ``{errorMessage, errorType, stackTrace}`` body.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from lambdalab.strenum import StrEnum


class LambdaLabError(Exception):
    """Base class of every error lambdalab raises on purpose."""


class ConfigurationError(LambdaLabError):
    """A template or setting the engine cannot honour; names the logical id and the property."""

    def __init__(self, message: str, logical_id: str | None = None, property: str | None = None):
        self.logical_id = logical_id
        self.property = property
        where = ".".join(p for p in (logical_id, property) if p)
        super().__init__(f"{where}: {message}" if where else message)


class AwsApiError(LambdaLabError):
    """An error answer of the Lambda API, as botocore parses it (code, HTTP status, message).

    Each subclass is one of AWS's client errors: its code is its class name, its status the class
    keyword (``class ResourceNotFoundException(AwsApiError, status=404)``)."""

    code = "ServiceException"
    status = 500
    error_kind = "Service"
    request_id: str | None = None  # the request's ID when it had one (a throttled Invoke)

    def __init_subclass__(cls, *, status: int = 400, **kwargs: Any):
        super().__init_subclass__(**kwargs)
        cls.code, cls.status, cls.error_kind = cls.__name__, status, "User"

    def __init__(self, message: str, **fields: Any):
        super().__init__(message)
        self.message = message
        self.fields = fields

    def body(self) -> dict[str, Any]:
        return {"Type": self.error_kind, "message": self.message, **self.fields}


class ThrottleReason(StrEnum):
    """``Reason`` of a TooManyRequestsException, AWS's own strings [TMR]."""

    ACCOUNT_LIMIT = "ConcurrentInvocationLimitExceeded"
    RESERVED_LIMIT = "ReservedFunctionConcurrentInvocationLimitExceeded"


# Public names (``lambdalab.RESERVED_LIMIT``) that notebooks and graded checks compare with.
ACCOUNT_LIMIT = ThrottleReason.ACCOUNT_LIMIT
RESERVED_LIMIT = ThrottleReason.RESERVED_LIMIT


class TooManyRequestsException(AwsApiError, status=429):
    """Throttled; ``reason`` says which limit (a ThrottleReason)."""

    def __init__(self, reason: str, message: str = "Rate Exceeded."):
        super().__init__(message, Reason=reason, retryAfterSeconds="")
        self.reason = reason


class ResourceNotFoundException(AwsApiError, status=404):
    """No such function, mapping or configuration."""


class RequestTooLargeException(AwsApiError, status=413):
    """The payload is over the invocation type's request limit."""


class InvalidParameterValueException(AwsApiError):
    """A parameter of the request is not valid (out-of-range values are ValidationException)."""


class InvalidRequestContentException(AwsApiError):
    """The request body is not valid JSON, or a request header is invalid."""


class ResourceConflictException(AwsApiError, status=409):
    """The resource already exists, or another operation is in progress."""


class ValidationException(AwsApiError):
    """A parameter outside its documented range, in AWS's request-validation wording."""


class NotSupportedLocally(AwsApiError):
    """A Lambda operation or setting lambdalab does not emulate: refused, never answered wrongly."""


def api_error_of(exc: ConfigurationError) -> AwsApiError:
    """The Lambda API's answer for a setting a check refused: AWS's request-validation failures
    ("1 validation error detected: ...") are ValidationException, its other refusals
    InvalidParameterValueException, with the message a template check would give."""
    message = str(exc).split(": ", 1)[-1]
    if message.startswith("1 validation error"):
        return ValidationException(message)
    return InvalidParameterValueException(message)


@dataclass(frozen=True)
class FunctionError:
    """A function or runtime failure, in the shape the Python runtime reports it."""

    error_type: str
    error_message: str
    stack_trace: list[str] = field(default_factory=list)

    def to_payload(self) -> dict[str, Any]:
        body: dict[str, Any] = {"errorMessage": self.error_message}
        if self.error_type:
            body["errorType"] = self.error_type
        if self.stack_trace:
            body["stackTrace"] = self.stack_trace
        return body

    def to_bytes(self) -> bytes:
        return json.dumps(self.to_payload()).encode()
