"""API Gateway's own answers (no route, failed or slow integration), per API kind, in AWS's words.

| Situation                          | REST API                                | HTTP API                  |
|------------------------------------|-----------------------------------------|---------------------------|
| no route                           | 403 Missing Authentication Token [GWR]  | 404 Not Found             |
| function error, malformed response | 502 Internal server error [AGW-ERR]     | 500 Internal Server Error |
| Lambda rejects the invoke          | 500 Internal server error [AGW-ERR]     | 500 Internal Server Error |
| integration timeout                | 504 Endpoint request timed out [GWR]    | 503 Service Unavailable   |

Malformed responses: [KC502]; HTTP API failures: [HTTP-TS].

HTTP APIs answer an integration timeout with 503 ``{"message":"Service Unavailable"}``, unlike
REST's 504: what deployed HTTP APIs are observed to send; AWS's docs do not state it.
"""

from __future__ import annotations

import json
from enum import Enum

from lambdalab.sources.apigateway.responses import HttpResponse


class Failure(Enum):
    NO_ROUTE = "no route"
    FUNCTION_ERROR = "function error"
    MALFORMED_RESPONSE = "malformed response"
    INVOKE_REJECTED = "invoke rejected"
    INTEGRATION_TIMEOUT = "integration timeout"


# (status, message, x-amzn-ErrorType or None)
_REST: dict[Failure, tuple[int, str, str | None]] = {
    Failure.NO_ROUTE: (403, "Missing Authentication Token", "MissingAuthenticationTokenException"),
    Failure.FUNCTION_ERROR: (502, "Internal server error", "InternalServerErrorException"),
    Failure.MALFORMED_RESPONSE: (502, "Internal server error", "InternalServerErrorException"),
    Failure.INVOKE_REJECTED: (500, "Internal server error", "InternalServerErrorException"),
    Failure.INTEGRATION_TIMEOUT: (504, "Endpoint request timed out", None),
}
_HTTP: dict[Failure, tuple[int, str, str | None]] = {
    Failure.NO_ROUTE: (404, "Not Found", None),
    Failure.FUNCTION_ERROR: (500, "Internal Server Error", None),
    Failure.MALFORMED_RESPONSE: (500, "Internal Server Error", None),
    Failure.INVOKE_REJECTED: (500, "Internal Server Error", None),
    Failure.INTEGRATION_TIMEOUT: (503, "Service Unavailable", None),
}


def gateway_response(kind: str, failure: Failure) -> HttpResponse:
    """The response API Gateway itself sends for ``failure`` on an API of ``kind`` (REST/HTTP)."""
    status, message, error_type = (_REST if kind == "REST" else _HTTP)[failure]
    headers = [("Content-Type", "application/json")]
    if error_type:
        headers.append(("x-amzn-ErrorType", error_type))
    return HttpResponse(status, tuple(headers), json.dumps({"message": message}).encode())
