"""CORS as an HTTP API with a CORS configuration answers it (AG http-api-cors.html).

API Gateway answers a preflight (``OPTIONS`` with ``Origin`` and ``Access-Control-Request-Method``)
itself, 204, whether or not the API has an ``OPTIONS`` route; on other requests it replaces the
CORS headers of the integration's response with the configured ones. Both only for an allowed
``Origin``; a disallowed one gets no CORS headers, so the browser blocks the response.
A REST API's ``Cors`` needs none of this: SAM writes its preflight as a mock ``OPTIONS`` route.
"""

from __future__ import annotations

from lambdalab.sources.apigateway.events import ProxyRequest
from lambdalab.sources.apigateway.responses import HttpResponse
from lambdalab.template.cors import Cors

PREFLIGHT_STATUS = 204


def _allowed_origin(cors: Cors, origin: str | None) -> str | None:
    if not origin:
        return None
    if "*" in cors.allow_origins:
        return "*" if not cors.allow_credentials else origin
    return origin if origin in cors.allow_origins else None


def preflight(cors: Cors, request: ProxyRequest) -> HttpResponse | None:
    """API Gateway's own answer to a preflight request, or None when ``request`` is not one."""
    if request.method != "OPTIONS" or not request.header("access-control-request-method"):
        return None
    origin = _allowed_origin(cors, request.header("origin"))
    headers: list[tuple[str, str]] = []
    if origin is not None:
        headers.append(("access-control-allow-origin", origin))
        if cors.allow_methods:
            headers.append(("access-control-allow-methods", ",".join(cors.allow_methods)))
        if cors.allow_headers:
            headers.append(("access-control-allow-headers", ",".join(cors.allow_headers)))
        if cors.max_age is not None:
            headers.append(("access-control-max-age", str(cors.max_age)))
        if cors.allow_credentials:
            headers.append(("access-control-allow-credentials", "true"))
    return HttpResponse(PREFLIGHT_STATUS, tuple(headers), b"")


def with_cors_headers(cors: Cors, request: ProxyRequest, response: HttpResponse) -> HttpResponse:
    """``response`` with the integration's CORS headers replaced by the configured ones."""
    headers = [(k, v) for k, v in response.headers if not k.lower().startswith("access-control-")]
    origin = _allowed_origin(cors, request.header("origin"))
    if origin is not None:
        headers.append(("access-control-allow-origin", origin))
        if cors.expose_headers:
            headers.append(("access-control-expose-headers", ",".join(cors.expose_headers)))
        if cors.allow_credentials:
            headers.append(("access-control-allow-credentials", "true"))
    return HttpResponse(response.status, tuple(headers), response.body)
