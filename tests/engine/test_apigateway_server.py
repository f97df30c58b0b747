"""The local API Gateway over HTTP, in front of a small fake Lambda service (and once, real functions)."""

from __future__ import annotations

import base64
import itertools
import json
import textwrap
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import requests

from lambdalab import RESERVED_LIMIT, TooManyRequestsException
from lambdalab.sources.apigateway import ApiGatewayServer
from lambdalab.sources.apigateway.server import MALFORMED_LOG_LINE
from lambdalab.template import build_model, load_template
from lambdalab.template.model import ApiConfig, Route
from tests.engine.apps import function, write_app

NOW = 1767225600.25  # the virtual clock's start, 2026-01-01T00:00:00.250Z
WAIT_S = 10  # upper bound for a thread handshake; reached only when a test is failing


@dataclass(frozen=True)
class Answer:
    """The shape of ``InvokeResult`` that API Gateway reads."""

    status: int
    payload: bytes
    request_id: str
    function_error: str | None = None


class CountingIds:
    def __init__(self) -> None:
        self._numbers = itertools.count(1)

    def next(self) -> str:
        return f"00000000-0000-4000-8000-{next(self._numbers):012d}"


class FakeClock:
    def now(self) -> float:
        return NOW


class FakeService:
    """Records each invoke and answers with ``handler(event)``: a result to serialise, an Answer,
    or an exception to raise."""

    def __init__(self, handler: Callable[[dict[str, Any]], Any]):
        self.handler = handler
        self.calls: list[dict[str, Any]] = []
        self.request_ids = CountingIds()
        self.finished = threading.Event()

    def invoke(self, name: str, payload: Any = None, *, invocation_type: str = "RequestResponse",
               source: str = "invoke") -> Answer:
        event = json.loads(payload)
        self.calls.append(
            {"function": name, "event": event, "invocation_type": invocation_type, "source": source})
        try:
            result = self.handler(event)
        finally:
            self.finished.set()
        if isinstance(result, Answer):
            return result
        return Answer(200, json.dumps(result).encode(), "lambda-request-id")


def rest_api(*routes: Route) -> ApiConfig:
    return ApiConfig("OrdersApi", "REST", "orders1234", "Prod", routes)


def http_api(*routes: Route, stage: str = "$default") -> ApiConfig:
    return ApiConfig("OrdersHttpApi", "HTTP", "http123456", stage, routes)


def route(method: str, path: str, fmt: str = "1.0", timeout_ms: int = 29000) -> Route:
    return Route(method, path, "OrdersFunction", fmt, timeout_ms)


@pytest.fixture(scope="module")
def running() -> Iterator[list[ApiGatewayServer]]:
    """Servers started by this module's tests, stopped together at the end: a stop waits for the
    server loop's poll, so stopping them one by one would cost that wait per test."""
    servers: list[ApiGatewayServer] = []
    yield servers
    stoppers = [threading.Thread(target=server.stop) for server in servers]
    for stopper in stoppers:
        stopper.start()
    for stopper in stoppers:
        stopper.join()


Handler = Callable[[dict[str, Any]], Any]


@pytest.fixture
def serve(running) -> Callable[[ApiConfig, Handler], tuple[ApiGatewayServer, FakeService]]:
    def start(api: ApiConfig, handler: Handler) -> tuple[ApiGatewayServer, FakeService]:
        service = FakeService(handler)
        server = ApiGatewayServer(api, service, FakeClock())
        running.append(server)
        return server, service

    return start


@pytest.fixture
def http() -> Iterator[requests.Session]:
    with requests.Session() as session:
        session.trust_env = False  # never through a proxy from the environment
        yield session


def ok(body: str = "ok") -> Callable[[dict[str, Any]], Any]:
    return lambda event: {"statusCode": 200, "body": body}


# -- routing and events ----------------------------------------------------------------------------------
def test_rest_api_url_has_the_stage_and_the_function_gets_a_payload_1_0_event(serve, http):
    """[REST] the invoke URL ends with the stage; the function gets the proxy event synchronously and
    its result becomes the response."""
    server, service = serve(rest_api(route("GET", "/orders/{id}")), lambda e: {
        "statusCode": 200, "headers": {"X-Order": e["pathParameters"]["id"]},
        "body": json.dumps(e["queryStringParameters"]),
    })
    assert server.url.endswith("/Prod")
    reply = http.get(f"{server.url}/orders/7?status=open", headers={"X-Trace": "t1"})
    assert (reply.status_code, reply.json(), reply.headers["X-Order"]) == (200, {"status": "open"}, "7")
    (call,) = service.calls
    assert (call["function"], call["invocation_type"], call["source"]) == (
        "OrdersFunction", "RequestResponse", "apigateway:OrdersApi")
    event = call["event"]
    assert (event["resource"], event["path"], event["httpMethod"]) == ("/orders/{id}", "/orders/7", "GET")
    assert event["headers"]["X-Trace"] == "t1" and event["multiValueHeaders"]["X-Trace"] == ["t1"]
    assert (event["requestContext"]["stage"], event["requestContext"]["path"]) == ("Prod", "/Prod/orders/7")
    assert event["body"] is None and event["isBase64Encoded"] is False


def test_http_api_default_stage_url_has_no_stage_and_the_function_gets_a_payload_2_0_event(serve, http):
    """[HTTP] a $default stage is served at the root; payload 2.0 with routeKey, rawPath, cookies."""
    server, service = serve(http_api(route("POST", "/orders/{id}", "2.0")), lambda e: {"got": e["body"]})
    reply = http.post(f"{server.url}/orders/7?x=1&x=2", json={"n": 1}, cookies={"session": "s1"})
    assert not server.url.endswith("$default")
    assert (reply.status_code, reply.json()) == (200, {"got": '{"n": 1}'})
    event = service.calls[0]["event"]
    assert (event["version"], event["routeKey"], event["rawPath"], event["rawQueryString"]) == (
        "2.0", "POST /orders/{id}", "/orders/7", "x=1&x=2")
    assert event["queryStringParameters"] == {"x": "1,2"}
    assert event["cookies"] == ["session=s1"] and "cookie" not in event["headers"]
    assert event["headers"]["content-type"] == "application/json"
    assert event["requestContext"]["stage"] == "$default"


def test_http_api_named_stage_is_part_of_the_url(serve, http):
    """[HTTP] a named stage is the first path segment of the invoke URL."""
    server, _ = serve(http_api(route("GET", "/hello", "2.0"), stage="v1"), ok())
    assert server.url.endswith("/v1")
    assert http.get(f"{server.url}/hello").text == "ok"


def test_request_ids_and_times_come_from_the_engine(serve, http):
    """[REST] requestContext.requestId comes from the service's request ids, times from the engine
    clock; the client sees the same id in x-amzn-RequestId."""
    server, service = serve(rest_api(route("GET", "/")), ok())
    reply = http.get(f"{server.url}/")
    ctx = service.calls[0]["event"]["requestContext"]
    assert ctx["requestId"] == "00000000-0000-4000-8000-000000000001" == reply.headers["x-amzn-RequestId"]
    assert ctx["extendedRequestId"] == reply.headers["x-amz-apigw-id"]
    assert (ctx["requestTimeEpoch"], ctx["requestTime"]) == (1767225600250, "01/Jan/2026:00:00:00 +0000")


def test_rest_api_without_a_route_answers_403_missing_authentication_token(serve, http):
    """[GWR] REST: unknown path, method the resource lacks, or another stage: 403, no invoke."""
    server, service = serve(rest_api(route("GET", "/orders")), ok())
    base = server.url.removesuffix("/Prod")
    for method, url in [("GET", f"{server.url}/nothing"), ("DELETE", f"{server.url}/orders"),
                        ("GET", f"{base}/Dev/orders"), ("GET", f"{base}/")]:
        reply = http.request(method, url)
        assert (reply.status_code, reply.json()) == (403, {"message": "Missing Authentication Token"}), url
        assert reply.headers["x-amzn-ErrorType"] == "MissingAuthenticationTokenException"
    assert service.calls == []


def test_http_api_without_a_route_answers_404_not_found(serve, http):
    """[HTTP] HTTP API: no route -> 404 {"message":"Not Found"}."""
    server, service = serve(http_api(route("GET", "/orders", "2.0")), ok())
    reply = http.get(f"{server.url}/nothing")
    assert (reply.status_code, reply.json()) == (404, {"message": "Not Found"})
    assert "apigw-requestid" in reply.headers and service.calls == []


def test_binary_request_body_arrives_base64_encoded(serve, http):
    """[REST] a body of a non-text content type reaches the function base64 with isBase64Encoded."""
    server, service = serve(rest_api(route("PUT", "/blob")), ok())
    data = bytes(range(256))
    http.put(f"{server.url}/blob", data=data, headers={"Content-Type": "application/octet-stream"})
    event = service.calls[0]["event"]
    assert event["isBase64Encoded"] is True and base64.b64decode(event["body"]) == data


# -- responses -------------------------------------------------------------------------------------------
def test_base64_response_body_is_decoded_and_multi_value_headers_are_all_sent(serve, http):
    """[REST] isBase64Encoded bodies are sent decoded; each multiValueHeaders value is its own header."""
    png = b"\x89PNG\r\n\x1a\n" + bytes(range(50))
    server, _ = serve(rest_api(route("GET", "/img")), lambda e: {
        "statusCode": 200, "isBase64Encoded": True, "body": base64.b64encode(png).decode(),
        "headers": {"Content-Type": "image/png"}, "multiValueHeaders": {"Set-Cookie": ["a=1", "b=2"]},
    })
    reply = http.get(f"{server.url}/img")
    assert reply.content == png and reply.headers["Content-Type"] == "image/png"
    assert reply.raw.headers.getlist("Set-Cookie") == ["a=1", "b=2"]


def test_http_api_infers_a_200_json_response_and_sends_each_cookie(serve, http):
    """[HTTP] no statusCode -> 200 application/json with the output as body; explicit cookies ->
    one set-cookie header each."""
    server, _ = serve(http_api(route("GET", "/plain", "2.0"), route("GET", "/cookies", "2.0")), lambda e: (
        "Hello" if e["rawPath"] == "/plain" else {"statusCode": 201, "cookies": ["a=1", "b=2"], "body": "c"}))
    plain = http.get(f"{server.url}/plain")
    assert (plain.status_code, plain.text) == (200, "Hello")
    assert plain.headers["content-type"] == "application/json"
    cookies = http.get(f"{server.url}/cookies")
    assert (cookies.status_code, cookies.text) == (201, "c")
    assert cookies.raw.headers.getlist("set-cookie") == ["a=1", "b=2"]


# -- failures --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("result", [
    {"body": "no statusCode"},
    {"statusCode": 200, "body": {"not": "stringified"}},
    {"statusCode": 200, "body": "x", "extra": True},
])
def test_rest_malformed_proxy_response_is_502_and_logged(serve, http, result):
    """[KC502],[AGW-ERR] a malformed proxy response: 502 Internal server error, and the API's
    execution log says why."""
    server, _ = serve(rest_api(route("GET", "/bad")), lambda e: result)
    reply = http.get(f"{server.url}/bad")
    assert (reply.status_code, reply.json()) == (502, {"message": "Internal server error"})
    rid = reply.headers["x-amzn-RequestId"]
    assert server.execution_log == [
        f"({rid}) {MALFORMED_LOG_LINE}", f"({rid}) Method completed with status: 502"]


def test_non_json_function_output_is_malformed(serve, http):
    """[KC502] output that is not JSON cannot be a proxy response."""
    server, _ = serve(rest_api(route("GET", "/raw")), lambda e: Answer(200, b"plain words", "r"))
    assert http.get(f"{server.url}/raw").status_code == 502


def test_function_error_is_502_on_rest_and_500_on_http_apis(serve, http):
    """[AGW-ERR],[HTTP-TS] a function error: REST 502 Internal server error; HTTP API 500
    Internal Server Error. API Gateway never retries."""
    failed = Answer(200, b'{"errorMessage": "boom", "errorType": "KeyError"}', "r1", "Unhandled")
    rest, rest_service = serve(rest_api(route("GET", "/x")), lambda e: failed)
    reply = http.get(f"{rest.url}/x")
    assert (reply.status_code, reply.json()) == (502, {"message": "Internal server error"})
    assert "customer function error: boom. Lambda request id: r1" in rest.execution_log[0]
    assert len(rest_service.calls) == 1
    api, api_service = serve(http_api(route("GET", "/x", "2.0")), lambda e: failed)
    reply = http.get(f"{api.url}/x")
    assert (reply.status_code, reply.json()) == (500, {"message": "Internal Server Error"})
    assert len(api_service.calls) == 1


def test_lambda_throttle_is_500_on_rest_and_http_apis(serve, http):
    """[AGW-ERR] Lambda rejecting the invoke (TooManyRequestsException) is a 500, not a 429."""
    def throttled(event: dict[str, Any]) -> Any:
        raise TooManyRequestsException(RESERVED_LIMIT)

    rest, _ = serve(rest_api(route("GET", "/x")), throttled)
    reply = http.get(f"{rest.url}/x")
    assert (reply.status_code, reply.json()) == (500, {"message": "Internal server error"})
    assert rest.execution_log[0].endswith("Lambda invocation failed with status: 429")
    api, _ = serve(http_api(route("GET", "/x", "2.0")), throttled)
    reply = http.get(f"{api.url}/x")
    assert (reply.status_code, reply.json()) == (500, {"message": "Internal Server Error"})


def test_integration_timeout_answers_504_while_the_function_runs_to_completion(serve, http):
    """[GWR] past the integration timeout the client gets 504 Endpoint request timed out; the function
    is neither stopped nor retried."""
    release = threading.Event()
    server, service = serve(rest_api(route("GET", "/slow", timeout_ms=50)),
                            lambda e: release.wait(WAIT_S) and {"statusCode": 200, "body": "late"})
    reply = http.get(f"{server.url}/slow")
    assert (reply.status_code, reply.json()) == (504, {"message": "Endpoint request timed out"})
    assert not service.finished.is_set()
    release.set()
    assert service.finished.wait(WAIT_S)
    assert len(service.calls) == 1
    assert server.execution_log[-1].endswith("Method completed with status: 504")


def test_http_api_integration_timeout_answers_503(serve, http):
    """[GWR] an HTTP API gives up with 503 Service Unavailable."""
    release = threading.Event()
    slow = http_api(route("GET", "/slow", "2.0", timeout_ms=50))
    server, service = serve(slow, lambda e: release.wait(WAIT_S))
    reply = http.get(f"{server.url}/slow")
    release.set()
    assert (reply.status_code, reply.json()) == (503, {"message": "Service Unavailable"})
    assert service.finished.wait(WAIT_S)


def test_concurrent_requests_are_served_concurrently(serve, http):
    """[REST] two requests in flight at once reach the function at once: both handlers meet at a
    barrier that only opens when both are running."""
    barrier = threading.Barrier(2, timeout=WAIT_S)
    server, _ = serve(rest_api(route("GET", "/slow")),
                      lambda e: {"statusCode": 200, "body": str(barrier.wait())})
    statuses: list[int] = []

    def call() -> None:
        with requests.Session() as session:
            session.trust_env = False
            statuses.append(session.get(f"{server.url}/slow").status_code)

    threads = [threading.Thread(target=call) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(WAIT_S)
    assert statuses == [200, 200]


# -- from a template -------------------------------------------------------------------------------------
APP = {"app.py": """
    def handler(event, context):
        stage = event["requestContext"]["stage"]
        return {"statusCode": 200, "body": event.get("version", "1.0") + " " + stage}
"""}
RESOURCES = function("HelloFunction", Events="""
      Rest:
        Type: Api
        Properties: {Path: "/hello/{name}", Method: get}
      Http:
        Type: HttpApi
        Properties: {Path: "/hi", Method: get}
""".rstrip())


def test_sam_api_and_http_api_events_become_served_routes(tmp_path, http, running):
    """[REST],[HTTP] SAM's Api event is a REST API on stage Prod (payload 1.0); HttpApi is an HTTP API
    on $default (payload 2.0)."""
    model = build_model(load_template(write_app(tmp_path, RESOURCES, APP)))
    model.deploy(clients=None)  # no data-plane resources in this template, so no clients are used
    rest = model.apis["ServerlessRestApi"]
    assert (rest.kind, rest.stage, [(r.method, r.path, r.payload_format) for r in rest.routes]) == (
        "REST", "Prod", [("GET", "/hello/{name}", "1.0")])
    seen: list[dict[str, Any]] = []
    service = FakeService(lambda e: seen.append(e) or {"statusCode": 200, "body": "hi"})
    running.extend(ApiGatewayServer(api, service, FakeClock()) for api in model.apis.values())
    urls = {s.api.logical_id: s.url for s in running[-2:]}
    assert http.get(f"{urls['ServerlessRestApi']}/hello/ada").text == "hi"
    assert http.get(f"{urls['ServerlessHttpApi']}/hi").text == "hi"
    assert seen[0]["pathParameters"] == {"name": "ada"} and seen[1]["routeKey"] == "GET /hi"


def test_local_cloud_serves_api_and_http_api_events_through_real_functions(tmp_path, http):
    """[REST],[HTTP] end to end: LocalCloud.start serves each API at cloud.api_url, with the handler
    run in a real execution environment."""
    from lambdalab import LocalCloud

    with LocalCloud.start(write_app(tmp_path, RESOURCES, APP)) as cloud:
        rest = http.get(f"{cloud.api_url('ServerlessRestApi')}/hello/ada")
        api = http.get(f"{cloud.api_url('ServerlessHttpApi')}/hi")
        assert (rest.status_code, rest.text) == (200, "1.0 Prod")
        assert (api.status_code, api.text) == (200, "2.0 $default")
        assert [i.source for i in cloud.journal.invocations("HelloFunction")] == [
            "apigateway:ServerlessRestApi", "apigateway:ServerlessHttpApi"]


LAMBDA_URI = "arn:aws:apigateway:${AWS::Region}:lambda:path/2015-03-31/functions/${OrdersFunction.Arn}/invocations"


def test_an_openapi_body_of_proxy_operations_with_path_parameters_and_documentation_is_served(tmp_path):
    """[REST] What a DefinitionBody may hold besides its Lambda proxy integrations is what changes
    nothing about a request: summaries, responses, declared path parameters (the gateway passes
    them on) and an empty security list. Such a body starts and each operation becomes a route;
    anything that would act on a request is refused instead (design: refuse, never ignore)."""
    resources = textwrap.dedent("""
        OrdersApi:
          Type: AWS::Serverless::Api
          Properties:
            StageName: Prod
            DefinitionBody:
              swagger: "2.0"
              info: {title: orders, version: "1"}
              paths:
                /orders/{id}:
                  parameters: [{name: id, in: path, required: true, type: string}]
                  get:
                    summary: One order
                    security: []
                    responses: {"200": {description: the order}}
                    x-amazon-apigateway-integration:
                      type: aws_proxy
                      httpMethod: POST
                      uri: !Sub URI
        """).replace("URI", LAMBDA_URI) + function("OrdersFunction")
    model = build_model(load_template(write_app(tmp_path, resources, APP)))
    model.deploy(clients=None)
    assert model.apis["OrdersApi"].routes == (Route("GET", "/orders/{id}", "OrdersFunction", "1.0", 29000),)
