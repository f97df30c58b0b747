"""API Gateway without a server: proxy events, route choice, response mapping, gateway answers."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest

from lambdalab.sources.apigateway.events import ProxyRequest, RequestContext, encode_body, http_event, rest_event
from lambdalab.sources.apigateway.gateway_responses import Failure, gateway_response
from lambdalab.sources.apigateway.responses import MalformedProxyResponse, http_response, rest_response
from lambdalab.sources.apigateway.routes import RouteMatch, Router
from lambdalab.template.model import ApiConfig, Route
from tests.engine.event_shapes import shape_differences

SAMPLES = Path(__file__).resolve().parents[2] / "events" / "apigateway"
PROXY_DATA_MAPS = ("headers", "multiValueHeaders", "queryStringParameters", "multiValueQueryStringParameters",
                   "pathParameters", "stageVariables")
# Keys AWS documents for a REST (1.0) event's requestContext that the older `sam local generate-event
# apigateway aws-proxy` sample lacks. The API Gateway developer guide, "Input format of a Lambda function
# for proxy integration": requestContext keys are $context variable names and "API Gateway may add new keys
# to the map"; its $context variable reference lists $context.domainName, $context.domainPrefix and
# $context.extendedRequestId; the payload 1.0 example on "Create AWS Lambda proxy integrations for HTTP
# APIs" carries all three.
REST_CONTEXT_KEYS_BEYOND_THE_SAMPLE = ("requestContext.domainName", "requestContext.domainPrefix",
                                       "requestContext.extendedRequestId")
# In the 2.0 sample only because it models a mutual-TLS client and a JWT authorizer ("Create AWS Lambda
# proxy integrations for HTTP APIs"); a local API has neither, like an AWS API configured without them.
HTTP_CONTEXT_KEYS_OF_AUTHORIZERS = ("requestContext.authentication", "requestContext.authorizer")
CONTEXT = RequestContext(
    account_id="123456789012", api_id="abc123", stage="Prod",
    request_id="c6af9ac6-7b61-11e6-9a41-93e8deadbeef", extended_request_id="BQGojGvwoAMFtFw=",
    time_epoch_ms=1428582896000,
    domain_name="abc123.execute-api.us-east-1.amazonaws.com",
)


def route(method: str, path: str, payload_format: str = "1.0") -> Route:
    return Route(method, path, "Fn", payload_format, 29000)


def request(method: str = "GET", path: str = "/Prod/orders/7", query: str = "",
            headers: tuple[tuple[str, str], ...] = (("Host", "x"),), body: bytes = b"") -> ProxyRequest:
    return ProxyRequest(method, path, path, query, headers, body, "10.0.0.1", "HTTP/1.1")


def matched(path: str = "/orders/{id}", at: str = "/orders/7", fmt: str = "1.0", **params: str) -> RouteMatch:
    return RouteMatch(route("GET", path, fmt), at, params or {"id": "7"})


def sample(name: str) -> dict:
    return json.loads((SAMPLES / name).read_text())


# -- events --------------------------------------------------------------------------------------------
def full_request(method: str = "POST", path: str = "/Prod/orders/7") -> ProxyRequest:
    """A request with every part AWS can put in an event: query, cookies, user agent, body."""
    headers = (("Host", "abc123.execute-api.us-east-1.amazonaws.com"), ("User-Agent", "curl/8"),
               ("Cookie", "c=1"), ("Content-Type", "application/json"))
    return request(method, path, "a=1&a=2", headers, b'{"test": "body"}')


def test_rest_event_has_every_key_of_the_sam_aws_proxy_sample():
    """[REST] payload 1.0 keys and value types against `sam local generate-event apigateway aws-proxy`;
    requestContext also has the keys AWS documents beyond that sample, and no others."""
    event = rest_event(full_request(), matched(), CONTEXT, {"baz": "qux"})
    assert shape_differences(event, sample("aws-proxy.json"), data_maps=PROXY_DATA_MAPS,
                             extra=REST_CONTEXT_KEYS_BEYOND_THE_SAMPLE) == []


def test_http_event_has_every_key_of_the_sam_http_api_proxy_sample():
    """[HTTP] payload 2.0 keys and value types against the `http-api-proxy` sample, for a request that
    has every part (cookies, query, body, path parameters, stage variables); no authorizer runs locally."""
    event = http_event(full_request(), matched(fmt="2.0"), CONTEXT, {"stageVariable1": "value1"})
    assert shape_differences(event, sample("http-api-proxy.json"), data_maps=PROXY_DATA_MAPS,
                             absent=HTTP_CONTEXT_KEYS_OF_AUTHORIZERS) == []


def test_the_shape_comparison_names_extra_missing_and_mistyped_keys():
    """The comparison itself: an undocumented extra key, a missing key and a wrong type all show."""
    event = rest_event(full_request(), matched(), CONTEXT, {"baz": "qux"})
    event["requestContext"]["requestTimeEpoch"] = "1428582896000"
    event["requestContext"]["identity"]["vpcId"] = "vpc-1"
    del event["resource"]
    event["multiValueHeaders"]["Host"] = "not a list"
    assert shape_differences(event, sample("aws-proxy.json"), data_maps=PROXY_DATA_MAPS,
                             extra=REST_CONTEXT_KEYS_BEYOND_THE_SAMPLE) == [
        "multiValueHeaders.Host: string, AWS sends array",
        "requestContext.identity.vpcId: not in AWS's event",
        "requestContext.requestTimeEpoch: string, AWS sends integer",
        "resource: missing",
    ]


def test_rest_event_keeps_empty_parts_as_null():
    """[REST] a GET with no query, body, path parameters or stage variables has those keys as null."""
    event = rest_event(request(path="/Prod/"), RouteMatch(route("GET", "/"), "/", {}), CONTEXT)
    assert [event[k] for k in ("queryStringParameters", "multiValueQueryStringParameters", "pathParameters",
                               "stageVariables", "body")] == [None] * 5
    assert event["isBase64Encoded"] is False


def test_http_event_leaves_empty_parts_out():
    """[HTTP] payload 2.0 omits cookies, query parameters, body, path parameters and stage variables
    when the request has none."""
    event = http_event(request(path="/"), RouteMatch(route("GET", "/", "2.0"), "/", {}), CONTEXT)
    for key in ("cookies", "queryStringParameters", "body", "pathParameters", "stageVariables"):
        assert key not in event
    assert event["isBase64Encoded"] is False and event["rawQueryString"] == ""


def test_rest_event_has_last_value_in_single_maps_and_every_value_in_multi_value_maps():
    """[REST] repeated headers and query names: last value in headers/queryStringParameters, all of
    them in multiValueHeaders/multiValueQueryStringParameters."""
    headers = (("X-Tag", "a"), ("X-Tag", "b"), ("Host", "h"))
    event = rest_event(request(query="id=1&id=2&q=x%20y", headers=headers), matched(), CONTEXT)
    assert event["headers"] == {"X-Tag": "b", "Host": "h"}
    assert event["multiValueHeaders"] == {"X-Tag": ["a", "b"], "Host": ["h"]}
    assert event["queryStringParameters"] == {"id": "2", "q": "x y"}
    assert event["multiValueQueryStringParameters"] == {"id": ["1", "2"], "q": ["x y"]}


def test_rest_event_paths_resource_and_context():
    """[REST] path is stage-relative, requestContext.path has the stage; resource is the route."""
    event = rest_event(request("DELETE"), matched(), CONTEXT)
    assert (event["resource"], event["path"], event["httpMethod"]) == ("/orders/{id}", "/orders/7", "DELETE")
    assert event["pathParameters"] == {"id": "7"}
    ctx = event["requestContext"]
    assert (ctx["path"], ctx["resourcePath"], ctx["stage"], ctx["httpMethod"]) == (
        "/Prod/orders/7", "/orders/{id}", "Prod", "DELETE")
    assert ctx["identity"]["sourceIp"] == "10.0.0.1"


def test_http_event_lowercases_headers_joins_repeats_and_moves_cookies():
    """[HTTP] header names lowercased, repeated headers and query values joined with commas, the
    Cookie header split into cookies[]."""
    headers = (("X-Tag", "a"), ("x-tag", "b"), ("Cookie", "s=1; t=2"), ("User-Agent", "ua"))
    req = request(path="/orders/7", query="id=1&id=2", headers=headers)
    event = http_event(req, matched(fmt="2.0"), CONTEXT)
    assert event["headers"] == {"x-tag": "a,b", "user-agent": "ua"}
    assert event["cookies"] == ["s=1", "t=2"]
    assert event["queryStringParameters"] == {"id": "1,2"}
    assert event["rawQueryString"] == "id=1&id=2"
    assert event["routeKey"] == event["requestContext"]["routeKey"] == "GET /orders/{id}"
    assert event["requestContext"]["http"] == {
        "method": "GET", "path": "/orders/7", "protocol": "HTTP/1.1", "sourceIp": "10.0.0.1",
        "userAgent": "ua",
    }


@pytest.mark.parametrize("content_type, body, expected", [
    ("application/json", b'{"a": 1}', ('{"a": 1}', False)),
    ("text/plain; charset=utf-8", b"hi", ("hi", False)),
    ("application/vnd.api+json", b"{}", ("{}", False)),
    ("image/png", b"\x89PNG", (base64.b64encode(b"\x89PNG").decode(), True)),
    ("application/octet-stream", b"abc", ("YWJj", True)),
    ("text/plain", b"\xff\xfe", ("//4=", True)),
    (None, b"", (None, False)),
])
def test_binary_bodies_travel_base64_and_text_bodies_as_text(content_type, body, expected):
    """[REST],[HTTP] isBase64Encoded is true exactly when the body is not text."""
    assert encode_body(body, content_type) == expected


def test_request_context_ids_and_times_come_from_the_engine():
    """[REST],[HTTP] requestId, requestTime(Epoch) / time(Epoch) are the engine's, so virtual runs repeat."""
    v1 = rest_event(request(), matched(), CONTEXT)["requestContext"]
    v2 = http_event(request(), matched(fmt="2.0"), CONTEXT)["requestContext"]
    assert (v1["requestId"], v1["requestTime"], v1["requestTimeEpoch"]) == (
        "c6af9ac6-7b61-11e6-9a41-93e8deadbeef", "09/Apr/2015:12:34:56 +0000", 1428582896000)
    assert (v2["requestId"], v2["time"], v2["timeEpoch"]) == (
        "BQGojGvwoAMFtFw=", "09/Apr/2015:12:34:56 +0000", 1428582896000)
    assert v1["extendedRequestId"] == "BQGojGvwoAMFtFw="


def test_payload_1_0_on_an_http_api_carries_its_version():
    """[HTTP] an HTTP API sending payload 1.0 adds version "1.0" to the REST shape."""
    assert rest_event(request(), matched(), CONTEXT, version="1.0")["version"] == "1.0"


# -- routes ----------------------------------------------------------------------------------------------
def api(kind: str, *routes: Route, stage: str = "Prod") -> ApiConfig:
    return ApiConfig("Api", kind, "abc123", stage, routes)


def test_http_api_most_specific_route_wins():
    """[HTTP] exact method over ANY, full match over greedy {proxy+}, $default last
    (AG http-api-develop-routes)."""
    router = Router(api("HTTP", route("ANY", "/{proxy+}"), route("ANY", "/orders/{id}"),
                        route("GET", "/orders/{id}"), route("GET", "/orders/new"), route("ANY", "$default"),
                        stage="$default"))

    def key(method: str, path: str) -> str | None:
        found = router.match(method, path)
        return found.route_key if found else None

    assert key("GET", "/orders/new") == "GET /orders/new"
    assert key("GET", "/orders/7") == "GET /orders/{id}"
    assert key("POST", "/orders/7") == "ANY /orders/{id}"
    assert key("POST", "/orders/new") == "ANY /orders/{id}"
    assert key("GET", "/a/b/c") == "ANY /{proxy+}"
    assert key("GET", "/") == "$default"


def test_http_api_method_missing_on_a_path_falls_through_to_greedy_route():
    """[HTTP] ANY matches the methods a path does not define, so a POST skips GET /orders/{id}."""
    router = Router(api("HTTP", route("GET", "/orders/{id}"), route("ANY", "/{proxy+}"), stage="$default"))
    found = router.match("POST", "/orders/7")
    assert found is not None and found.route.path == "/{proxy+}"
    assert found.path_parameters == {"proxy": "orders/7"}
    assert router.match("HEAD", "/") is None


def test_rest_api_resolves_the_resource_before_the_method():
    """[GWR] a REST API picks the most specific resource, then its method; a method the resource
    lacks is a miss (403 Missing Authentication Token), not a fall-through."""
    router = Router(api("REST", route("GET", "/orders/{id}"), route("ANY", "/{proxy+}")))
    found = router.match("GET", "/Prod/orders/7")
    assert found is not None and (found.route.path, found.path, found.path_parameters) == (
        "/orders/{id}", "/orders/7", {"id": "7"})
    assert router.match("POST", "/Prod/orders/7") is None
    other = router.match("POST", "/Prod/a/b")
    assert other is not None and other.path_parameters == {"proxy": "a/b"}


def test_stage_name_is_part_of_the_path_for_rest_and_named_http_stages():
    """[REST] the invoke URL ends with the stage; an HTTP API's $default stage has none in the path."""
    rest = Router(api("REST", route("GET", "/hello")))
    assert rest.match("GET", "/Prod/hello") is not None
    assert rest.match("GET", "/hello") is None
    assert rest.match("GET", "/Dev/hello") is None
    named = Router(api("HTTP", route("GET", "/hello"), stage="v1"))
    assert named.match("GET", "/v1/hello") is not None and named.match("GET", "/hello") is None
    default = Router(api("HTTP", route("GET", "/hello"), stage="$default"))
    assert default.match("GET", "/hello") is not None


def test_path_parameters_with_any_name_are_decoded():
    """[HTTP] API Gateway decodes URL-encoded parameters; names need not be Python identifiers."""
    router = Router(api("REST", route("GET", "/users/{user-id}/files/{path+}")))
    found = router.match("GET", "/Prod/users/a b/files/x/y.txt")
    assert found is not None and found.path_parameters == {"user-id": "a b", "path": "x/y.txt"}


# -- responses -------------------------------------------------------------------------------------------
def dumps(value: object) -> bytes:
    return json.dumps(value).encode()


def test_rest_response_maps_the_proxy_shape_and_multi_value_headers_win():
    """[REST] statusCode/headers/multiValueHeaders/body; multiValueHeaders win for the same header;
    a missing Content-Type defaults to application/json."""
    answer = rest_response(dumps({
        "statusCode": 201, "headers": {"X-One": "1", "Set-Cookie": "lost"},
        "multiValueHeaders": {"set-cookie": ["a=1", "b=2"]}, "body": "made",
    }))
    assert answer.status == 201 and answer.body == b"made"
    assert ("X-One", "1") in answer.headers
    assert [v for k, v in answer.headers if k.lower() == "set-cookie"] == ["a=1", "b=2"]
    assert answer.header("content-type") == "application/json"


def test_rest_response_base64_body_is_decoded():
    """[REST] isBase64Encoded bodies are decoded before they are sent."""
    raw = bytes(range(256))
    answer = rest_response(dumps({
        "statusCode": 200, "body": base64.b64encode(raw).decode(), "isBase64Encoded": True,
        "headers": {"Content-Type": "application/octet-stream"},
    }))
    assert answer.body == raw and answer.header("Content-Type") == "application/octet-stream"


@pytest.mark.parametrize("payload", [
    dumps({"body": "no status"}),
    dumps({"statusCode": 200, "body": {"not": "stringified"}}),
    dumps({"statusCode": 200, "body": "x", "extra": 1}),
    dumps({"statusCode": "abc"}),
    dumps({"statusCode": True}),
    dumps({"statusCode": 200, "headers": {"X": ["list"]}}),
    dumps({"statusCode": 200, "multiValueHeaders": {"X": "not a list"}}),
    dumps({"statusCode": 200, "body": "%%%", "isBase64Encoded": True}),
    dumps("just a string"),
    dumps([1, 2]),
    b"not json",
])
def test_rest_response_of_any_other_shape_is_malformed(payload):
    """[REST],[KC502] any other shape is a malformed Lambda proxy response."""
    with pytest.raises(MalformedProxyResponse):
        rest_response(payload)


def test_rest_response_accepts_a_numeric_string_status_and_null_parts():
    """[REST] statusCode "200" and null headers/body are accepted."""
    answer = rest_response(dumps({"statusCode": "204", "headers": None, "body": None}))
    assert (answer.status, answer.body) == (204, b"")


@pytest.mark.parametrize("result, body", [
    ({"id": 7}, b'{"id": 7}'),
    ("Hello", b"Hello"),
    ([1, 2], b"[1, 2]"),
])
def test_http_response_without_status_code_is_inferred_as_200_json(result, body):
    """[HTTP] valid JSON without statusCode: 200, application/json, body = the output (a string as is)."""
    answer = http_response(dumps(result))
    assert (answer.status, answer.header("content-type"), answer.body) == (200, "application/json", body)


def test_http_response_explicit_form_sends_one_set_cookie_per_cookie():
    """[HTTP] explicit form: statusCode, headers, body, cookies (each a set-cookie header)."""
    answer = http_response(dumps({"statusCode": 302, "headers": {"location": "/x"}, "cookies": ["a=1", "b=2"],
                                  "body": base64.b64encode(b"moved").decode(), "isBase64Encoded": True}))
    assert (answer.status, answer.body, answer.header("location")) == (302, b"moved", "/x")
    assert [v for k, v in answer.headers if k == "set-cookie"] == ["a=1", "b=2"]


@pytest.mark.parametrize("payload", [b"not json", dumps({"statusCode": 200, "body": {"a": 1}}),
                                     dumps({"statusCode": 200, "cookies": "a=1"})])
def test_http_response_that_cannot_be_mapped_is_malformed(payload):
    """[HTTP] output that is not valid JSON, or an explicit form of the wrong types, cannot be mapped."""
    with pytest.raises(MalformedProxyResponse):
        http_response(payload)


# -- gateway responses -----------------------------------------------------------------------------------
@pytest.mark.parametrize("kind, failure, status, message", [
    ("REST", Failure.NO_ROUTE, 403, "Missing Authentication Token"),
    ("REST", Failure.FUNCTION_ERROR, 502, "Internal server error"),
    ("REST", Failure.MALFORMED_RESPONSE, 502, "Internal server error"),
    ("REST", Failure.INVOKE_REJECTED, 500, "Internal server error"),
    ("REST", Failure.INTEGRATION_TIMEOUT, 504, "Endpoint request timed out"),
    ("HTTP", Failure.NO_ROUTE, 404, "Not Found"),
    ("HTTP", Failure.FUNCTION_ERROR, 500, "Internal Server Error"),
    ("HTTP", Failure.MALFORMED_RESPONSE, 500, "Internal Server Error"),
    ("HTTP", Failure.INVOKE_REJECTED, 500, "Internal Server Error"),
    ("HTTP", Failure.INTEGRATION_TIMEOUT, 503, "Service Unavailable"),
])
def test_gateway_answers_failures_in_aws_words(kind, failure, status, message):
    """[AGW-ERR],[GWR],[KC502],[HTTP-TS] API Gateway's own status and message per API kind."""
    answer = gateway_response(kind, failure)
    assert (answer.status, json.loads(answer.body)) == (status, {"message": message})
