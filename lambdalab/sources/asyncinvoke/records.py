"""What failed and succeeded events leave behind, in AWS's shapes (pure functions).

* The invocation record sent to a destination [A-a]: ``version``, ``timestamp``,
  ``requestContext{requestId, functionArn, condition, approximateInvokeCount}``, ``requestPayload``
  and, when the function ran, ``responseContext{statusCode, executedVersion, functionError?}`` and
  ``responsePayload``.
* A dead-letter queue gets the original event unchanged, with the message attributes ``RequestID``
  (String), ``ErrorCode`` (Number, an HTTP status) and ``ErrorMessage`` (String, first 1 KB) [A-a].
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from lambdalab.clock import iso_timestamp

ERROR_MESSAGE_LIMIT = 1024
THROTTLE_MESSAGE = "Rate Exceeded."


@dataclass(frozen=True)
class Response:
    """What the function's last attempt answered."""

    payload: bytes
    function_error: str | None  # "Unhandled" when it failed


def _json_or_text(data: bytes) -> Any:
    try:
        return json.loads(data) if data else None
    except ValueError:
        return data.decode(errors="replace")


def invocation_record(*, request_id: str, function_arn: str, condition: str, invoke_count: int,
                      request_payload: bytes, response: Response | None, now: float) -> dict[str, Any]:
    record: dict[str, Any] = {
        "version": "1.0",
        "timestamp": iso_timestamp(now),
        "requestContext": {
            "requestId": request_id,
            "functionArn": f"{function_arn}:$LATEST",
            "condition": condition,
            "approximateInvokeCount": invoke_count,
        },
        "requestPayload": _json_or_text(request_payload),
    }
    if response is not None:
        context: dict[str, Any] = {"statusCode": 200, "executedVersion": "$LATEST"}
        if response.function_error:
            context["functionError"] = response.function_error
        record["responseContext"] = context
        record["responsePayload"] = _json_or_text(response.payload)
    return record


def dead_letter_attributes(request_id: str, response: Response | None) -> dict[str, dict[str, str]]:
    """The DLQ message attributes, as SQS ``MessageAttributes`` (SNS takes the same shape)."""
    if response is None:  # never ran: throttled until it was too old, or reserved concurrency 0
        code, message = "429", THROTTLE_MESSAGE
    else:
        body = _json_or_text(response.payload)
        text = body.get("errorMessage") if isinstance(body, dict) else None
        code, message = "200", str(text if text is not None else body)
    return {
        "RequestID": {"DataType": "String", "StringValue": request_id},
        "ErrorCode": {"DataType": "Number", "StringValue": code},
        "ErrorMessage": {"DataType": "String",
                         "StringValue": message.encode()[:ERROR_MESSAGE_LIMIT].decode(errors="ignore")},
    }
