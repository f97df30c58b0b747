"""One API stage served over HTTP on 127.0.0.1: route, build the event, invoke, answer as AWS does.

Requests are served concurrently (one thread each). What API Gateway would write to its execution
log (malformed responses, failed or timed-out integrations) is kept in ``execution_log``: on AWS
those lines go to the API's log group, not the function's, so they are not mixed into
``cloud.logs(function)``.
"""

from __future__ import annotations

import base64
import hashlib
import json
import threading
import uuid
from collections.abc import Iterable
from typing import Any, Protocol
from urllib.parse import unquote, urlsplit

from werkzeug.wrappers import Request, Response

from lambdalab.config import ACCOUNT_ID, REGION
from lambdalab.httpserver import LocalServer
from lambdalab.sources.apigateway.cors import preflight, with_cors_headers
from lambdalab.sources.apigateway.events import ProxyRequest, RequestContext, http_event, rest_event
from lambdalab.sources.apigateway.gateway_responses import Failure, gateway_response
from lambdalab.sources.apigateway.integration import IntegrationOutcome, InvokeService, invoke_with_timeout
from lambdalab.sources.apigateway.responses import HttpResponse, MalformedProxyResponse, http_response, rest_response
from lambdalab.sources.apigateway.routes import RouteMatch, Router
from lambdalab.template.model import ApiConfig

MALFORMED_LOG_LINE = "Execution failed due to configuration error: Malformed Lambda proxy response"


class TimeSource(Protocol):
    def now(self) -> float: ...


class ApiGatewayServer:
    """A local API Gateway stage for ``api``; ``url`` is its invoke URL (REST: stage in the path)."""

    def __init__(self, api: ApiConfig, service: InvokeService, clock: TimeSource):
        self.api = api
        self._service = service
        self._clock = clock
        self._router = Router(api)
        self._log: list[str] = []
        self._log_lock = threading.Lock()
        self._server = LocalServer(self._wsgi, f"lambdalab-apigateway-{api.logical_id}",
                                   cross_origin=declares_cors(api))

    @property
    def url(self) -> str:
        if self.api.kind == "HTTP" and self.api.stage == "$default":
            return self._server.url
        return f"{self._server.url}/{self.api.stage}"

    @property
    def execution_log(self) -> list[str]:
        """API Gateway's own log lines, ``(request id) message``, oldest first."""
        with self._log_lock:
            return list(self._log)

    def stop(self) -> None:
        self._server.stop()

    # -- one request ----------------------------------------------------------------------------
    def _wsgi(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        request = _proxy_request(Request(environ))
        context = self._context()
        answer = self._handle(request, context)
        if self.api.kind == "REST":
            ids = [("x-amzn-RequestId", context.request_id), ("x-amz-apigw-id", context.extended_request_id)]
        else:
            ids = [("apigw-requestid", context.extended_request_id)]
        response = Response(answer.body, status=answer.status, headers=[*answer.headers, *ids])
        return response(environ, start_response)

    def _handle(self, request: ProxyRequest, context: RequestContext) -> HttpResponse:
        cors = self.api.cors
        if cors is None:
            return self._route(request, context)
        return preflight(cors, request) or with_cors_headers(cors, request, self._route(request, context))

    def _route(self, request: ProxyRequest, context: RequestContext) -> HttpResponse:
        match = self._router.match(request.method, request.path)
        if match is None:
            return gateway_response(self.api.kind, Failure.NO_ROUTE)
        if match.route.mock is not None:  # a REST API's CORS preflight, as SAM writes it
            status, headers = match.route.mock
            return HttpResponse(status, (*headers, ("Content-Type", "application/json")), b"{}")
        outcome = invoke_with_timeout(
            self._service, match.route.function, json.dumps(self._event(request, match, context)).encode(),
            source=f"apigateway:{self.api.logical_id}", timeout_s=match.route.timeout_ms / 1000,
        )
        return self._respond(outcome, match, context.request_id)

    def _respond(self, outcome: IntegrationOutcome, match: RouteMatch, rid: str) -> HttpResponse:
        """The function's answer mapped to HTTP, or API Gateway's own answer when there is none."""
        if outcome.timed_out:
            return self._fail(rid, Failure.INTEGRATION_TIMEOUT, "Execution failed due to a timeout error")
        if outcome.rejected is not None:
            error = outcome.rejected
            return self._fail(rid, Failure.INVOKE_REJECTED,
                              f"Lambda invocation failed with status: {error.status}",
                              f"Execution failed due to configuration error: {error.message}")
        answer = outcome.answer
        assert answer is not None
        if answer.function_error:
            return self._fail(rid, Failure.FUNCTION_ERROR,
                              f"Lambda execution failed with status 200 due to customer function error: "
                              f"{_error_message(answer.payload)}. Lambda request id: {answer.request_id}")
        try:
            if match.route.payload_format == "1.0":
                return rest_response(answer.payload)
            return http_response(answer.payload)
        except MalformedProxyResponse:
            return self._fail(rid, Failure.MALFORMED_RESPONSE, MALFORMED_LOG_LINE)

    def _event(self, request: ProxyRequest, match: RouteMatch, context: RequestContext) -> dict[str, Any]:
        if match.route.payload_format == "2.0":
            return http_event(request, match, context)
        return rest_event(request, match, context, version="1.0" if self.api.kind == "HTTP" else None)

    def _fail(self, request_id: str, failure: Failure, *lines: str) -> HttpResponse:
        response = gateway_response(self.api.kind, failure)
        with self._log_lock:
            self._log.extend(f"({request_id}) {line}" for line in lines)
            self._log.append(f"({request_id}) Method completed with status: {response.status}")
        return response

    def _context(self) -> RequestContext:
        ids = getattr(self._service, "request_ids", None)
        request_id = ids.next() if ids is not None else str(uuid.uuid4())
        return RequestContext(
            account_id=ACCOUNT_ID,
            api_id=self.api.api_id,
            stage=self.api.stage,
            request_id=request_id,
            extended_request_id=extended_request_id(request_id),
            time_epoch_ms=int(self._clock.now() * 1000),
            domain_name=f"{self.api.api_id}.execute-api.{REGION}.amazonaws.com",
        )


def declares_cors(api: ApiConfig) -> bool:
    """The template consents to cross-origin requests: an HTTP API's CorsConfiguration, or a REST
    API's Cors (the OPTIONS mock routes SAM writes). Other APIs answer this machine's pages only."""
    return api.cors is not None or any(route.mock is not None for route in api.routes)


def extended_request_id(request_id: str) -> str:
    """API Gateway's short id (``x-amz-apigw-id``, HTTP API ``requestId``), derived from the long one."""
    return base64.b64encode(hashlib.sha256(request_id.encode()).digest()[:11]).decode("ascii")


def _proxy_request(request: Request) -> ProxyRequest:
    raw_uri = request.environ.get("RAW_URI") or request.environ.get("REQUEST_URI") or request.full_path
    raw_path = urlsplit(raw_uri).path or "/"
    return ProxyRequest(
        method=request.method,
        raw_path=raw_path,
        path=unquote(raw_path),
        raw_query=request.environ.get("QUERY_STRING", ""),
        headers=tuple(request.headers.items()),
        body=request.get_data(),
        source_ip=request.remote_addr or "127.0.0.1",
        protocol=request.environ.get("SERVER_PROTOCOL", "HTTP/1.1"),
    )


def _error_message(payload: bytes) -> str:
    try:
        doc = json.loads(payload)
    except ValueError:
        return payload.decode("utf-8", "replace")
    return str(doc.get("errorMessage", doc)) if isinstance(doc, dict) else str(doc)
