"""Lambda proxy events, built by pure functions from a request and its route (no server here).

Payload 1.0 (REST APIs) and 2.0 (HTTP APIs) carry every key ``sam local generate-event apigateway
aws-proxy`` / ``http-api-proxy`` produce (copies in ``events/apigateway/``) [REST],[HTTP]:

* 1.0 keeps empty parts as ``null``; ``headers`` / ``queryStringParameters`` hold the last value of a
  repeated name and the ``multiValue*`` maps hold them all.
* 2.0 has no multi-value maps: header names are lowercased, repeats joined with commas, cookies go
  to ``cookies``; empty parts (cookies, query, body, path parameters, stage variables) are left out.

Bodies of text content types are passed as text, others base64 with ``isBase64Encoded: true``.
"""

from __future__ import annotations

import base64
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

from lambdalab.sources.apigateway.routes import RouteMatch

_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_TEXT_TYPES = (
    "application/json", "application/xml", "application/javascript", "application/x-www-form-urlencoded",
)
_TEXT_SUFFIXES = ("+json", "+xml")
# requestContext.identity of a 1.0 event: only these two are known without an authorizer.
_IDENTITY_KEYS = (
    "cognitoIdentityPoolId", "accountId", "cognitoIdentityId", "caller", "accessKey", "sourceIp",
    "cognitoAuthenticationType", "cognitoAuthenticationProvider", "userArn", "userAgent", "user",
)


@dataclass(frozen=True)
class ProxyRequest:
    """One client request as API Gateway received it, before a payload format shapes it."""

    method: str
    raw_path: str  # as sent, still percent-encoded, stage prefix included
    path: str  # raw_path decoded
    raw_query: str  # as sent, without "?"
    headers: tuple[tuple[str, str], ...]  # in arrival order; a repeated name appears repeatedly
    body: bytes = b""
    source_ip: str = "127.0.0.1"
    protocol: str = "HTTP/1.1"

    def header(self, name: str) -> str | None:
        """The last value of a header, names compared case-insensitively."""
        values = [v for k, v in self.headers if k.lower() == name.lower()]
        return values[-1] if values else None


@dataclass(frozen=True)
class RequestContext:
    """What API Gateway itself adds: ids, stage, domain and the request time (engine clock)."""

    account_id: str
    api_id: str
    stage: str
    request_id: str
    extended_request_id: str
    time_epoch_ms: int
    domain_name: str

    @property
    def domain_prefix(self) -> str:
        return self.domain_name.split(".", 1)[0]

    @property
    def request_time(self) -> str:
        """CLF time, e.g. ``09/Apr/2015:12:34:56 +0000``, month names independent of the locale."""
        t = time.gmtime(self.time_epoch_ms / 1000)
        day = f"{t.tm_mday:02d}/{_MONTHS[t.tm_mon - 1]}/{t.tm_year}"
        return f"{day}:{t.tm_hour:02d}:{t.tm_min:02d}:{t.tm_sec:02d} +0000"


def encode_body(body: bytes, content_type: str | None) -> tuple[str | None, bool]:
    """(body, isBase64Encoded): text content types stay text, anything else travels as base64."""
    if not body:
        return None, False
    if _is_text(content_type):
        try:
            return body.decode("utf-8"), False
        except UnicodeDecodeError:
            pass
    return base64.b64encode(body).decode("ascii"), True


def _is_text(content_type: str | None) -> bool:
    if content_type is None:
        return True
    media = content_type.split(";", 1)[0].strip().lower()
    return media.startswith("text/") or media in _TEXT_TYPES or media.endswith(_TEXT_SUFFIXES)


def rest_event(
    request: ProxyRequest, match: RouteMatch, context: RequestContext,
    stage_variables: dict[str, str] | None = None, *, version: str | None = None,
) -> dict[str, Any]:
    """Payload format 1.0; ``version="1.0"`` is added when an HTTP API sends this format [HTTP]."""
    single: dict[str, str] = {}
    multi: dict[str, list[str]] = {}
    for name, value in request.headers:
        single[name] = value
        multi.setdefault(name, []).append(value)
    query: dict[str, str] = {}
    multi_query: dict[str, list[str]] = {}
    for name, value in parse_qsl(request.raw_query, keep_blank_values=True):
        query[name] = value
        multi_query.setdefault(name, []).append(value)
    body, is_base64 = encode_body(request.body, request.header("Content-Type"))
    event: dict[str, Any] = {} if version is None else {"version": version}
    event.update({
        "resource": match.route.path,
        "path": match.path,
        "httpMethod": request.method,
        "headers": single or None,
        "multiValueHeaders": multi or None,
        "queryStringParameters": query or None,
        "multiValueQueryStringParameters": multi_query or None,
        "pathParameters": match.path_parameters or None,
        "stageVariables": stage_variables or None,
        "requestContext": _rest_context(request, match, context),
        "body": body,
        "isBase64Encoded": is_base64,
    })
    return event


def _rest_context(request: ProxyRequest, match: RouteMatch, context: RequestContext) -> dict[str, Any]:
    identity: dict[str, Any] = dict.fromkeys(_IDENTITY_KEYS)
    identity.update(sourceIp=request.source_ip, userAgent=request.header("User-Agent"))
    return {
        "accountId": context.account_id,
        "apiId": context.api_id,
        "domainName": context.domain_name,
        "domainPrefix": context.domain_prefix,
        "extendedRequestId": context.extended_request_id,
        "httpMethod": request.method,
        "identity": identity,
        "path": request.path,
        "protocol": request.protocol,
        "requestId": context.request_id,
        "requestTime": context.request_time,
        "requestTimeEpoch": context.time_epoch_ms,
        "resourceId": resource_id(match.route.path),
        "resourcePath": match.route.path,
        "stage": context.stage,
    }


def resource_id(resource_path: str) -> str:
    """A stable 6-character id per resource, the shape REST APIs give their resources."""
    digits = "0123456789abcdefghijklmnopqrstuvwxyz"
    number = int.from_bytes(resource_path.encode(), "big") % (36 ** 6)
    return "".join(digits[(number // 36 ** i) % 36] for i in range(6))


def http_event(request: ProxyRequest, match: RouteMatch, context: RequestContext,
               stage_variables: dict[str, str] | None = None) -> dict[str, Any]:
    """Payload format 2.0 [HTTP]."""
    headers: dict[str, str] = {}
    cookies: list[str] = []
    for name, value in request.headers:
        key = name.lower()
        if key == "cookie":
            cookies += [c.strip() for c in value.split(";") if c.strip()]
            continue
        headers[key] = f"{headers[key]},{value}" if key in headers else value
    query: dict[str, str] = {}
    for name, value in parse_qsl(request.raw_query, keep_blank_values=True):
        query[name] = f"{query[name]},{value}" if name in query else value
    body, is_base64 = encode_body(request.body, request.header("Content-Type"))
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": match.route_key,
        "rawPath": request.raw_path,
        "rawQueryString": request.raw_query,
        "cookies": cookies or None,
        "headers": headers,
        "queryStringParameters": query or None,
        "requestContext": {
            "accountId": context.account_id,
            "apiId": context.api_id,
            "domainName": context.domain_name,
            "domainPrefix": context.domain_prefix,
            "http": {
                "method": request.method,
                "path": request.path,
                "protocol": request.protocol,
                "sourceIp": request.source_ip,
                "userAgent": request.header("User-Agent") or "",
            },
            "requestId": context.extended_request_id,
            "routeKey": match.route_key,
            "stage": context.stage,
            "time": context.request_time,
            "timeEpoch": context.time_epoch_ms,
        },
        "body": body,
        "pathParameters": match.path_parameters or None,
        "isBase64Encoded": is_base64,
        "stageVariables": stage_variables or None,
    }
    return {k: v for k, v in event.items() if v is not None}
