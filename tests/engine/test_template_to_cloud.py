"""Template -> cloud: SAM transformed offline, resources provisioned in moto, clear refusals."""

from __future__ import annotations

import json
import os
import re
import textwrap

import boto3
import pytest

from lambdalab import ConfigurationError, LocalCloud
from tests.engine.apps import function, write_app

ECHO_ENV = """
import os
def handler(event, context):
    return {k: os.environ.get(k) for k in event["keys"]}
"""


def test_resources_are_provisioned_and_refs_resolve_into_function_environments(make_cloud):
    """!Ref / !GetAtt / !Sub in environment variables resolve to the local physical values, as
    CloudFormation would resolve them (design: template model and intrinsics)."""
    cloud = make_cloud(
        textwrap.dedent("""
        Table:
          Type: AWS::DynamoDB::Table
          Properties:
            AttributeDefinitions: [{AttributeName: pk, AttributeType: S}]
            KeySchema: [{AttributeName: pk, KeyType: HASH}]
            BillingMode: PAY_PER_REQUEST
        Queue:
          Type: AWS::SQS::Queue
        Bucket:
          Type: AWS::S3::Bucket
        Topic:
          Type: AWS::SNS::Topic
        Stream:
          Type: AWS::Kinesis::Stream
          Properties: {ShardCount: 2}
        Param:
          Type: AWS::SSM::Parameter
          Properties: {Type: String, Value: blue}
        """) + function("Fn", extra="""
            Environment:
              Variables:
                TABLE: !Ref Table
                QUEUE_ARN: !GetAtt Queue.Arn
                GREETING: !Sub "hello from ${AWS::Region} to ${Bucket}"
        """),
        {"app.py": ECHO_ENV},
    )
    assert cloud.resource("Table") == "Table"
    assert cloud.client("dynamodb").describe_table(TableName="Table")["Table"]["TableStatus"] == "ACTIVE"
    cloud.client("sqs").send_message(QueueUrl=cloud.resource("Queue"), MessageBody="x")
    cloud.client("s3").put_object(Bucket=cloud.resource("Bucket"), Key="k", Body=b"v")
    cloud.client("sns").publish(TopicArn=cloud.resource("Topic"), Message="m")
    assert len(cloud.client("kinesis").list_shards(StreamName="Stream")["Shards"]) == 2
    assert cloud.client("ssm").get_parameter(Name=cloud.resource("Param"))["Parameter"]["Value"] == "blue"
    env = cloud.invoke("Fn", {"keys": ["TABLE", "QUEUE_ARN", "GREETING"]}).json
    assert env == {
        "TABLE": "Table",
        "QUEUE_ARN": "arn:aws:sqs:us-east-1:123456789012:Queue",
        "GREETING": f"hello from us-east-1 to {cloud.resource('Bucket')}",
    }


def test_functions_get_aws_reserved_variables_and_never_the_users_credentials(monkeypatch, make_cloud):
    """Lambda builds the environment from scratch: reserved variables, the template's, and the
    function role's credentials [ENV]; locally the credentials are a session of the role from the
    local STS [ROLE], and endpoints are local."""
    # monkeypatch comes first so it is undone after the cloud's close restores the environment.
    monkeypatch.setenv("AWS_PROFILE", "my-real-account")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAREALKEY")
    monkeypatch.setenv("SOME_HOST_VARIABLE", "leak")
    cloud = make_cloud(function("Fn", MemorySize=256), {"app.py": ECHO_ENV})
    keys = ["AWS_LAMBDA_FUNCTION_NAME", "AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "_HANDLER", "AWS_REGION",
            "AWS_PROFILE", "AWS_ACCESS_KEY_ID", "SOME_HOST_VARIABLE", "AWS_ENDPOINT_URL"]
    env = cloud.invoke("Fn", {"keys": keys}).json
    assert env["AWS_LAMBDA_FUNCTION_NAME"] == "Fn"
    assert env["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"] == "256"
    assert env["_HANDLER"] == "app.handler"
    assert env["AWS_REGION"] == "us-east-1"
    assert env["AWS_PROFILE"] is None and env["SOME_HOST_VARIABLE"] is None
    assert env["AWS_ACCESS_KEY_ID"].startswith("ASIA")  # temporary credentials, never the user's
    assert env["AWS_ENDPOINT_URL"].startswith("http://127.0.0.1:")


def test_while_a_cloud_is_open_plain_boto3_clients_talk_to_it(make_cloud):
    """An open cloud points the process environment at itself and restores it on close, so learner
    code written for AWS runs unchanged (design: LocalCloud, the public entry point)."""
    cloud = make_cloud("Queue:\n  Type: AWS::SQS::Queue\n", {})
    assert boto3.client("sqs").get_queue_url(QueueName="Queue")["QueueUrl"] == cloud.resource("Queue")
    cloud.close()
    assert "AWS_ENDPOINT_URL" not in __import__("os").environ


@pytest.mark.parametrize(("resources", "handlers", "names"), [
    ("Fn:\n  Type: AWS::Serverless::Function\n  Properties: {CodeUri: src/, Handler: app.handler\n",
     {}, ["line"]),
    (function("Fn", handler="missing.handler"), {"app.py": ""}, ["Fn", "Handler", "missing.py"]),
    ("Box:\n  Type: AWS::EC2::Instance\n  Properties: {ImageId: ami-1}\n", {}, ["Box", "AWS::EC2::Instance"]),
    ("Site:\n  Type: AWS::S3::Bucket\n  Properties: {WebsiteConfiguration: {IndexDocument: index.html}}\n", {},
     ["Site", "WebsiteConfiguration"]),
    (function("Fn", Layers="[arn:aws:lambda:us-east-1:123456789012:layer:x:1]"), {"app.py": ""},
     ["Fn", "Layers"]),
    (function("Fn", Runtime="nodejs20.x"), {"app.py": ""}, ["Fn", "Runtime", "nodejs20.x"]),
    (function("Fn", Timeout=901), {"app.py": ""}, ["Fn", "Timeout", "901"]),
    (function("Fn", Environment="{Variables: {T: !Ref Nowhere}}"), {"app.py": ""}, ["Fn", "Nowhere"]),
    (function("Fn", extra="""
        Events:
          Slow: {Type: HttpApi, Properties: {Path: /x, Method: get, TimeoutInMillis: 60000}}
     """), {"app.py": ""}, ["timeoutInMillis", "60000", "30000"]),
    ("Api:\n  Type: AWS::Serverless::Api\n  Properties: {StageName: dev, Variables: {color: red}}\n"
     + function("Fn", extra="""
        Events:
          Get: {Type: Api, Properties: {RestApiId: !Ref Api, Path: /x, Method: get}}
     """), {"app.py": ""}, ["Variables", "not supported locally"]),
])
def test_a_template_the_engine_cannot_honour_is_refused_naming_the_resource_and_property(
        tmp_path, resources, handlers, names):
    """Nothing is silently skipped: a malformed template, a missing handler module, or a type or
    property not emulated locally stops the start with a ConfigurationError that says where
    (design: refuse, never ignore; HTTP API integration timeouts [HTTP-Q])."""
    template = write_app(tmp_path, resources, handlers)
    with pytest.raises(ConfigurationError) as raised:
        LocalCloud.start(template).close()
    for name in names:
        assert name in str(raised.value)


def test_a_missing_template_file_is_a_clear_error(tmp_path):
    """A missing template is a ConfigurationError, not a traceback (design: refuse, never ignore)."""
    with pytest.raises(ConfigurationError, match="template file not found"):
        LocalCloud.start(tmp_path / "nope.yaml")


def test_transforming_a_template_leaves_no_translator_metrics_to_warn_about(tmp_path):
    """The SAM translator counts its work for CloudWatch and warns "There are unpublished metrics"
    when the counts are collected: a transform leaves none behind."""
    from samtranslator.metrics.method_decorator import MetricsMethodWrapperSingleton

    from lambdalab.template.load import load_template

    template = write_app(tmp_path, function("Fn"), {"app.py": "def handler(event, context):\n    return 1\n"})
    load_template(template)
    assert MetricsMethodWrapperSingleton.get_instance().metrics_cache == {}


def test_the_project_template_starts_and_lists_its_functions():
    """The course's own template provisions cleanly (it is what every notebook starts), and
    ListFunctions lists its functions [INV] (design: lessons use the engine's public API only)."""
    with LocalCloud.start("template.yaml") as cloud:
        names = {f["FunctionName"] for f in cloud.client("lambda").list_functions()["Functions"]}
        assert {"OrdersFunction", "HelloFunction"} <= names
        assert json.loads(cloud.invoke("HelloFunction", {"name": "Ada"}).payload)["message"] == "Hello, Ada!"


@pytest.mark.parametrize(("resources", "where", "names"), [
    ("Table:\n  Type: AWS::DynamoDB::Table\n  Properties:\n"
     "    AttributeDefinitions: [{AttributeName: pk, AttributeType: S}]\n"
     "    KeySchema: [{AttributeName: id, KeyType: HASH}]\n",
     ("Table", "AttributeDefinitions"),
     ["ValidationException", "Some index key attributes are not defined in AttributeDefinitions"]),
    ("Stream:\n  Type: AWS::Kinesis::Stream\n  Properties: {ShardCount: 0}\n",
     ("Stream", "ShardCount"), ["Invalid value for parameter ShardCount"]),
    # refused by the type's schema before moto sees it, naming the property
    ("Q:\n  Type: AWS::SQS::Queue\n  Properties: {VisibilityTimeout: many}\n",
     ("Q", "VisibilityTimeout"), ["must be an integer, got 'many'"]),
])
def test_a_resource_the_data_plane_rejects_is_refused_naming_it_with_the_data_planes_reason(
        tmp_path, resources, where, names):
    """A creation the data plane rejects (a DynamoDB key attribute missing from
    AttributeDefinitions) stops the start with a ConfigurationError naming the logical id, the
    property when the reason names one (else the resource type) and moto's words, never a raw
    ClientError (design: refuse, never ignore)."""
    template = write_app(tmp_path, resources, {})
    with pytest.raises(ConfigurationError) as raised:
        LocalCloud.start(template).close()
    assert (raised.value.logical_id, raised.value.property) == where
    for name in names:
        assert name in str(raised.value)


def test_a_create_that_fails_on_a_value_is_refused_naming_the_resource_not_raised_as_it_is():
    """The last guard behind the schema check: a value ``create`` cannot use (``int([2])``) is a
    ConfigurationError naming the resource, in one line, not a TypeError traceback."""
    from unittest import mock

    from lambdalab.dataplane.provision import Stream

    with pytest.raises(ConfigurationError) as raised:
        Stream("Stream", {"ShardCount": [2]}).provision(lambda service: mock.MagicMock())
    assert raised.value.logical_id == "Stream"
    assert "TypeError" in str(raised.value) and "\n" not in str(raised.value)


def test_a_request_moto_crashes_on_is_answered_500_and_its_traceback_stays_off_the_terminal(caplog):
    """werkzeug logs a crashed request's traceback as an error after the 500 is sent: it went to the
    learner's terminal, above the engine's one-line refusal. Now it is a debug record."""
    import logging
    import threading
    import time

    from botocore.exceptions import ClientError

    from lambdalab.config import REGION
    from lambdalab.dataplane.server import DataPlane

    caplog.set_level(logging.DEBUG)
    before = set(threading.enumerate())
    with DataPlane(REGION).start() as plane:
        with pytest.raises(ClientError) as raised:
            plane.client("sqs").create_queue(QueueName="crash", Attributes={"VisibilityTimeout": "many"})
        assert raised.value.response["ResponseMetadata"]["HTTPStatusCode"] == 500
        deadline = time.monotonic() + 10  # the request's thread logs after answering: let it finish
        while any(t.is_alive() for t in set(threading.enumerate()) - before
                  if "process_request" in t.name) and time.monotonic() < deadline:
            time.sleep(0.01)
    shown = [r for r in caplog.records if r.levelno >= logging.INFO and "Error on request" in r.getMessage()]
    assert not shown
    assert any("Traceback" in r.getMessage() for r in caplog.records if r.levelno == logging.DEBUG)


ENVIRONMENT_REFUSAL = ("Lambda was unable to configure your environment variables because the environment "
                       "variables you have provided contains reserved keys that are currently not supported "
                       "for modification. Reserved keys used in this request: ")


@pytest.mark.parametrize("key", ["AWS_REGION", "_X_AMZN_TRACE_ID", "AWS_LAMBDA_FUNCTION_NAME", "LAMBDA_TASK_ROOT"])
def test_template_environment_variables_with_reserved_keys_are_refused_in_lambdas_words(tmp_path, key):
    """Keys Lambda sets itself are reserved and cannot be set in a function's configuration; Lambda
    refuses them naming the keys (L configuration-envvars.html, defined runtime environment
    variables). Refused when the template is loaded, before any resource exists."""
    template = write_app(tmp_path, function("Fn", Environment=f"{{Variables: {{{key}: x, OK: y}}}}"), {"app.py": ""})
    with pytest.raises(ConfigurationError) as raised:
        LocalCloud.start(template).close()
    assert (raised.value.logical_id, raised.value.property) == ("Fn", f"Environment.Variables.{key}")
    location, refusal = str(raised.value).split(": ", 1)  # the line of the variable as written
    assert re.fullmatch(r"template\.yaml:\d+", location)
    assert refusal == f"Fn.Environment.Variables.{key}: {ENVIRONMENT_REFUSAL}{key}"


@pytest.mark.parametrize("key", ["AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3"])
def test_endpoint_variables_are_refused_because_the_engine_owns_them(tmp_path, key):
    """AWS_ENDPOINT_URL and AWS_ENDPOINT_URL_<SERVICE> are not reserved on AWS, but locally they are
    how a function's boto3 reaches the local cloud, so setting them is refused, saying why
    (design: refuse, never ignore; [ENV] the environment is built from scratch)."""
    template = write_app(tmp_path, function("Fn", Environment=f"{{Variables: {{{key}: http://x}}}}"),
                         {"app.py": ""})
    with pytest.raises(ConfigurationError, match="engine owns") as raised:
        LocalCloud.start(template).close()
    assert (raised.value.logical_id, raised.value.property) == ("Fn", f"Environment.Variables.{key}")


@pytest.mark.parametrize(("key", "words"), [
    ("AWS_SESSION_TOKEN", ENVIRONMENT_REFUSAL), ("AWS_ENDPOINT_URL_SQS", "engine owns"),
])
def test_env_vars_overrides_are_held_to_the_same_rules(tmp_path, key, words):
    """``env_vars`` stands for a function's configured variables (like ``sam local invoke
    --env-vars``), so reserved keys are refused as Lambda refuses them (L configuration-envvars.html)
    and the endpoint variables as the engine's own."""
    template = write_app(tmp_path, function("Fn"), {"app.py": ""})
    with pytest.raises(ConfigurationError) as raised:
        LocalCloud.start(template, env_vars={"Fn": {key: "x"}}).close()
    assert (raised.value.logical_id, raised.value.property) == ("Fn", f"Environment.Variables.{key}")
    assert words in str(raised.value)


def rest_body(operation: str, top: str = "") -> str:
    """A SAM Api ``OrdersApi`` with an OpenAPI DefinitionBody: POST /orders is ``operation`` (YAML
    lines under the method), ``top`` more keys of the body, and ``OrdersFunction`` behind it."""
    lines = textwrap.indent(textwrap.dedent(operation).strip("\n"), " " * 12)
    extra = textwrap.indent(textwrap.dedent(top).strip("\n"), " " * 6)
    return textwrap.dedent("""
        OrdersApi:
          Type: AWS::Serverless::Api
          Properties:
            StageName: Prod
            DefinitionBody:
              swagger: "2.0"
              info: {title: orders, version: "1"}
              paths:
                /orders:
                  post:
        """).lstrip("\n") + lines + "\n" + (extra + "\n" if top else "") + function("OrdersFunction")


INTEGRATION = """
x-amazon-apigateway-integration:
  type: aws_proxy
  httpMethod: POST
  uri: !Sub arn:aws:apigateway:${AWS::Region}:lambda:path/2015-03-31/functions/${OrdersFunction.Arn}/invocations
"""
JWT = "{Authorizers: {Jwt: {JwtConfiguration: {issuer: 'https://issuer', audience: [a]}, " \
      "IdentitySource: $request.header.Authorization}}, DefaultAuthorizer: Jwt}"


@pytest.mark.parametrize(("resources", "where", "words"), [
    (function("OrdersFunction", extra="""
        Events:
          CreateOrder: {Type: Api, Properties: {Path: /orders, Method: post, Auth: {ApiKeyRequired: true}}}
     """), ("OrdersFunction", "Events.CreateOrder.Properties.Auth"), "authorization (API keys"),
    (function("OrdersFunction", extra="""
        Events:
          FindOrders:
            Type: Api
            Properties: {Path: /orders, Method: get, RequestParameters: [method.request.querystring.customer]}
     """), ("OrdersFunction", "Events.FindOrders.Properties.RequestParameters"), "request parameters"),
    ("OrdersApi:\n  Type: AWS::Serverless::Api\n"
     "  Properties: {StageName: Prod, Models: {Order: {type: object}}}\n" + function("OrdersFunction", extra="""
        Events:
          CreateOrder:
            Type: Api
            Properties: {RestApiId: !Ref OrdersApi, Path: /orders, Method: post, RequestModel: {Model: Order}}
     """), ("OrdersFunction", "Events.CreateOrder.Properties.RequestModel"), "request models"),
    ("OrdersApi:\n  Type: AWS::Serverless::Api\n  Properties: {StageName: Prod, Auth: {ApiKeyRequired: true}}\n"
     + function("OrdersFunction", extra="""
        Events:
          CreateOrder: {Type: Api, Properties: {RestApiId: !Ref OrdersApi, Path: /orders, Method: post}}
     """), ("OrdersApi", "Auth"), "authorization"),
    (f"OrdersHttpApi:\n  Type: AWS::Serverless::HttpApi\n  Properties: {{Auth: {JWT}}}\n"
     + function("OrdersFunction", extra="""
        Events:
          CreateOrder: {Type: HttpApi, Properties: {ApiId: !Ref OrdersHttpApi, Path: /orders, Method: post}}
     """), ("OrdersHttpApi", "Auth"), "authorization"),
    (rest_body(INTEGRATION + "security: [{api_key: []}]"),
     ("OrdersApi", "DefinitionBody.paths./orders.post.security"), "authorization"),
    (rest_body(INTEGRATION + "parameters: [{name: customer, in: query, required: true, type: string}]"),
     ("OrdersApi", "DefinitionBody.paths./orders.post.parameters"), "request parameters"),
    (rest_body(INTEGRATION, top="securityDefinitions: {api_key: {type: apiKey, name: x-api-key, in: header}}"),
     ("OrdersApi", "DefinitionBody.securityDefinitions"), "authorization"),
    (rest_body("responses: {}"), ("OrdersApi", "DefinitionBody.paths./orders.post"),
     "without x-amazon-apigateway-integration"),
    ("OrdersHttpApi:\n  Type: AWS::Serverless::HttpApi\n  Properties:\n    DefinitionBody:\n"
     "      openapi: 3.0.1\n      info: {title: orders, version: '1'}\n      paths: {}\n"
     "      components: {securitySchemes: {jwt: {type: oauth2}}}\n",
     ("OrdersHttpApi", "DefinitionBody.components.securitySchemes"), "authorization"),
    ("Raw:\n  Type: AWS::ApiGateway::RestApi\n  Properties:\n    Body:\n"
     "      swagger: '2.0'\n      info: {title: raw, version: '1'}\n      paths: {/x: {get: {responses: {}}}}\n",
     ("Raw", "Body.paths./x.get"), "without x-amazon-apigateway-integration"),
])
def test_api_gateway_settings_the_local_gateway_would_ignore_are_refused_naming_where(
        tmp_path, resources, where, words):
    """An API key, authorizer, scope or resource policy, a required request parameter or model, or
    an operation without a Lambda proxy integration would be served as if absent: a request
    without its key would get 200 where API Gateway answers 403 INVALID_API_KEY, one without a
    required parameter 200 where it answers 400 BAD_REQUEST_PARAMETERS [GWR]. So each stops the
    start, naming the logical id and the property path as written in the SAM event, the SAM API
    or the OpenAPI body (design: refuse, never ignore)."""
    template = write_app(tmp_path, resources, {"app.py": "def handler(event, context):\n    return {}\n"})
    with pytest.raises(ConfigurationError) as raised:
        LocalCloud.start(template).close()
    assert (raised.value.logical_id, raised.value.property) == where
    assert words in str(raised.value) and "not supported locally" in str(raised.value)


def test_api_gateway_authorization_set_in_globals_is_refused_naming_globals(tmp_path):
    """``Globals: Api: Auth`` applies to every SAM API; it is refused as ``Globals.Api.Auth``, before
    anything starts (design: refuse, never ignore)."""
    template = write_app(tmp_path, function("OrdersFunction", extra="""
        Events:
          CreateOrder: {Type: Api, Properties: {Path: /orders, Method: post}}
    """), {"app.py": ""})
    api_key_everywhere = "Globals:\n  Api:\n    Auth: {ApiKeyRequired: true}\n"
    template.write_text(template.read_text().replace("Globals:\n", api_key_everywhere))
    with pytest.raises(ConfigurationError) as raised:
        LocalCloud.start(template).close()
    assert (raised.value.logical_id, raised.value.property) == ("Globals", "Api.Auth")


def test_starting_a_cloud_closes_the_one_open_in_the_process_and_says_so(make_cloud, capsys):
    """moto's state is process-wide: a new cloud resets it, and the one before would fail on (or
    consume) resources of the same names. So it is closed first, with a notice; it refuses further
    work by name, its journal stays readable, and the environment points at the new cloud until
    that one closes too (design: one local cloud per process)."""
    handlers = {"app.py": "def handler(event, context):\n    return event\n"}
    before = os.environ.get("AWS_ENDPOINT_URL")
    first = make_cloud(function("Fn"), handlers)
    first.invoke("Fn", {"n": 1})
    capsys.readouterr()
    second = make_cloud(function("Fn"), handlers)
    assert "closed the local cloud started earlier in this process" in capsys.readouterr().err
    assert first.closed and not second.closed
    with pytest.raises(ConfigurationError, match="this local cloud is closed"):
        first.invoke("Fn", {"n": 2})
    with pytest.raises(ConfigurationError, match="this local cloud is closed"):
        first.run_until_idle()
    assert len(first.journal.invocations("Fn")) == 1
    assert os.environ["AWS_ENDPOINT_URL"] == second.dataplane.endpoint_url
    assert json.loads(second.invoke("Fn", {"n": 3}).payload) == {"n": 3}
    second.close()
    assert os.environ.get("AWS_ENDPOINT_URL") == before
