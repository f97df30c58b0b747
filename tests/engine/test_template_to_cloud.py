"""Template -> cloud: SAM transformed offline, resources provisioned in moto, clear refusals."""

from __future__ import annotations

import json
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
    CloudFormation would resolve them."""
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


def test_functions_get_aws_reserved_variables_and_never_the_users_credentials(make_cloud, monkeypatch):
    """Lambda builds the environment from scratch: reserved variables, the template's, and the
    function role's credentials [ENV]; locally the credentials are fake and endpoints are local."""
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
    assert env["AWS_ACCESS_KEY_ID"] == "testing"
    assert env["AWS_ENDPOINT_URL"].startswith("http://127.0.0.1:")


def test_while_a_cloud_is_open_plain_boto3_clients_talk_to_it(make_cloud):
    cloud = make_cloud("Queue:\n  Type: AWS::SQS::Queue\n", {})
    assert boto3.client("sqs").get_queue_url(QueueName="Queue")["QueueUrl"] == cloud.resource("Queue")
    cloud.close()
    assert "AWS_ENDPOINT_URL" not in __import__("os").environ


@pytest.mark.parametrize(("resources", "handlers", "names"), [
    ("Fn:\n  Type: AWS::Serverless::Function\n  Properties: {CodeUri: src/, Handler: app.handler\n",
     {}, ["line"]),
    (function("Fn", handler="missing.handler"), {"app.py": ""}, ["Fn", "Handler", "missing.py"]),
    ("Box:\n  Type: AWS::EC2::Instance\n  Properties: {ImageId: ami-1}\n", {}, ["Box", "AWS::EC2::Instance"]),
    ("Q:\n  Type: AWS::SQS::Queue\n  Properties: {KmsMasterKeyId: alias/aws/sqs}\n", {},
     ["Q", "KmsMasterKeyId"]),
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
    property not emulated locally stops the start with a ConfigurationError that says where."""
    template = write_app(tmp_path, resources, handlers)
    with pytest.raises(ConfigurationError) as raised:
        LocalCloud.start(template).close()
    for name in names:
        assert name in str(raised.value)


def test_a_missing_template_file_is_a_clear_error(tmp_path):
    with pytest.raises(ConfigurationError, match="template file not found"):
        LocalCloud.start(tmp_path / "nope.yaml")


def test_the_project_template_starts_and_lists_its_functions():
    """The course's own template provisions cleanly (it is what every notebook starts)."""
    with LocalCloud.start("template.yaml") as cloud:
        names = {f["FunctionName"] for f in cloud.client("lambda").list_functions()["Functions"]}
        assert {"OrdersFunction", "HelloFunction"} <= names
        assert json.loads(cloud.invoke("HelloFunction", {"name": "Ada"}).payload)["message"] == "Hello, Ada!"
