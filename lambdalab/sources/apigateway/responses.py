"""What the client gets from a Lambda proxy result: pure mapping of a payload to an HTTP response.

* Payload 1.0 must be exactly ``{statusCode, headers?, multiValueHeaders?, body?, isBase64Encoded?}``
  with a string body; anything else is a malformed proxy response (502 on a REST API) [REST],[KC502].
  When both header maps name a header, the multi-value one wins [REST].
* Payload 2.0 infers a response from valid JSON without ``statusCode``: 200, ``application/json``,
  the JSON text as body (a JSON string gives the string itself). The explicit form may add
  ``cookies``, each sent as its own ``set-cookie`` header [HTTP].

Base64 bodies (``isBase64Encoded``) are decoded before they are sent.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from typing import Any

REST_RESPONSE_KEYS = frozenset({"statusCode", "headers", "multiValueHeaders", "body", "isBase64Encoded"})
REST_DEFAULT_CONTENT_TYPE = "application/json"
HTTP_DEFAULT_CONTENT_TYPE = "text/plain; charset=utf-8"
_SCALARS = (str, int, float, bool)


class MalformedProxyResponse(ValueError):
    """The function answered, but not in a shape API Gateway can turn into an HTTP response."""


@dataclass(frozen=True)
class HttpResponse:
    status: int
    headers: tuple[tuple[str, str], ...]
    body: bytes

    def header(self, name: str) -> str | None:
        values = [v for k, v in self.headers if k.lower() == name.lower()]
        return values[-1] if values else None


def rest_response(payload: bytes) -> HttpResponse:
    """Payload format 1.0 result -> response; raises MalformedProxyResponse for any other shape."""
    doc = _json(payload)
    if not isinstance(doc, dict):
        raise MalformedProxyResponse("the result is not a JSON object")
    unknown = sorted(set(doc) - REST_RESPONSE_KEYS)
    if unknown:
        raise MalformedProxyResponse(f"unexpected keys {unknown}")
    if "statusCode" not in doc:
        raise MalformedProxyResponse("statusCode is missing")
    single = _header_map(doc.get("headers"), "headers")
    multi = _multi_header_map(doc.get("multiValueHeaders"))
    overridden = {name.lower() for name, _ in multi}
    headers = [(k, v) for k, v in single if k.lower() not in overridden] + multi
    body = _body(doc.get("body"), doc.get("isBase64Encoded"))
    return _response(_status(doc["statusCode"]), headers, body, REST_DEFAULT_CONTENT_TYPE)


def http_response(payload: bytes) -> HttpResponse:
    """Payload format 2.0 result -> response, inferring one when there is no statusCode."""
    doc = _json(payload)
    if not (isinstance(doc, dict) and "statusCode" in doc):
        text = doc if isinstance(doc, str) else payload.decode("utf-8")
        return HttpResponse(200, (("content-type", "application/json"),), text.encode("utf-8"))
    headers = _header_map(doc.get("headers"), "headers")
    cookies = doc.get("cookies") or []
    if not (isinstance(cookies, list) and all(isinstance(c, str) for c in cookies)):
        raise MalformedProxyResponse("cookies must be a list of strings")
    headers += [("set-cookie", cookie) for cookie in cookies]
    body = _body(doc.get("body"), doc.get("isBase64Encoded"))
    return _response(_status(doc["statusCode"]), headers, body, HTTP_DEFAULT_CONTENT_TYPE)


def _json(payload: bytes) -> Any:
    try:
        return json.loads(payload)
    except ValueError:
        raise MalformedProxyResponse("the result is not valid JSON") from None


def _status(value: Any) -> int:
    if isinstance(value, str) and value.isdigit():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or not 100 <= value <= 599:
        raise MalformedProxyResponse(f"statusCode {value!r} is not an HTTP status")
    return value


def _text(value: Any) -> str:
    return json.dumps(value) if isinstance(value, bool) else str(value)


def _header_map(value: Any, key: str) -> list[tuple[str, str]]:
    if value is None:
        return []
    if not isinstance(value, dict) or not all(isinstance(v, _SCALARS) for v in value.values()):
        raise MalformedProxyResponse(f"{key} must map names to strings")
    return [(str(k), _text(v)) for k, v in value.items()]


def _multi_header_map(value: Any) -> list[tuple[str, str]]:
    if value is None:
        return []
    if not isinstance(value, dict) or not all(
        isinstance(v, list) and all(isinstance(x, _SCALARS) for x in v) for v in value.values()
    ):
        raise MalformedProxyResponse("multiValueHeaders must map names to lists of strings")
    return [(str(k), _text(x)) for k, values in value.items() for x in values]


def _body(body: Any, is_base64: Any) -> bytes:
    if is_base64 is not None and not isinstance(is_base64, bool):
        raise MalformedProxyResponse("isBase64Encoded must be a boolean")
    if body is None:
        return b""
    if not isinstance(body, str):
        raise MalformedProxyResponse("body must be a string (stringify JSON bodies)")
    if not is_base64:
        return body.encode("utf-8")
    try:
        return base64.b64decode(body, validate=True)
    except binascii.Error:
        raise MalformedProxyResponse("body is not valid base64") from None


def _response(status: int, headers: list[tuple[str, str]], body: bytes, default_type: str) -> HttpResponse:
    if not any(name.lower() == "content-type" for name, _ in headers):
        headers = [("Content-Type", default_type), *headers]
    return HttpResponse(status, tuple(headers), body)
