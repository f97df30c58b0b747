"""A function's calls are held to its execution role's policies [ROLE]; every other caller keeps full access."""

from __future__ import annotations

from typing import Any

from lambdalab.dataplane.patches.iam import ALLOWED, EXPLICIT, IMPLICIT, RoleSession, compile_policy
from tests.engine.apps import function

ACCOUNT = "123456789012"
TABLES = """\
TableA:
  Type: AWS::DynamoDB::Table
  Properties:
    TableName: A
    BillingMode: PAY_PER_REQUEST
    AttributeDefinitions: [{AttributeName: id, AttributeType: S}]
    KeySchema: [{AttributeName: id, KeyType: HASH}]
TableB:
  Type: AWS::DynamoDB::Table
  Properties:
    TableName: B
    BillingMode: PAY_PER_REQUEST
    AttributeDefinitions: [{AttributeName: id, AttributeType: S}]
    KeySchema: [{AttributeName: id, KeyType: HASH}]
"""
# Each call the event names, made with the function's own credentials; the answer is "ok" or the
# error code and message the handler's boto3 saw.
CALLER = """\
import boto3
from botocore.exceptions import ClientError

def call(service, method, **kwargs):
    try:
        answer = getattr(boto3.client(service), method)(**kwargs)
        return answer["Arn"] if method == "get_caller_identity" else "ok"
    except ClientError as error:
        return error.response["Error"]["Code"] + ": " + error.response["Error"]["Message"]

def handler(event, context):
    return [call(c["service"], c["method"], **c["args"]) for c in event["calls"]]
"""


def put(table: str, item_id: str = "1") -> dict[str, Any]:
    return {"service": "dynamodb", "method": "put_item", "args": {"TableName": table, "Item": {"id": {"S": item_id}}}}


def answers(cloud: Any, fn: str, *calls: dict[str, Any]) -> list[str]:
    result = cloud.invoke(fn, {"calls": list(calls)})
    assert result.function_error is None, result.payload
    return list(result.json)


def test_a_policy_template_allows_its_table_and_nothing_else(make_cloud: Any) -> None:
    resources = TABLES + function("Writer", extra="""
        Policies:
          - DynamoDBCrudPolicy: {TableName: !Ref TableA}
    """)
    cloud = make_cloud(resources, {"app.py": CALLER})
    on_a, on_b = answers(cloud, "Writer", put("A"), put("B"))
    assert on_a == "ok"
    assert on_b == (
        "AccessDeniedException: User: arn:aws:sts::123456789012:assumed-role/WriterRole/Writer is not authorized "
        "to perform: dynamodb:PutItem on resource: arn:aws:dynamodb:us-east-1:123456789012:table/B because no "
        "identity-based policy allows the dynamodb:PutItem action")
    # the learner's own client is not the function: full access
    cloud.client("dynamodb").put_item(TableName="B", Item={"id": {"S": "learner"}})
    assert cloud.client("dynamodb").get_item(TableName="B", Key={"id": {"S": "learner"}})["Item"]


def test_batch_and_transaction_items_need_each_table(make_cloud: Any) -> None:
    resources = TABLES + function("Writer", extra="""
        Policies:
          - DynamoDBCrudPolicy: {TableName: !Ref TableA}
    """)
    cloud = make_cloud(resources, {"app.py": CALLER})
    write = {"PutRequest": {"Item": {"id": {"S": "2"}}}}
    batch_a, batch_ab, transact_b = answers(
        cloud, "Writer",
        {"service": "dynamodb", "method": "batch_write_item", "args": {"RequestItems": {"A": [write]}}},
        {"service": "dynamodb", "method": "batch_write_item", "args": {"RequestItems": {"A": [write], "B": [write]}}},
        {"service": "dynamodb", "method": "transact_write_items",
         "args": {"TransactItems": [{"Put": {"TableName": "B", "Item": {"id": {"S": "3"}}}}]}},
    )
    assert batch_a == "ok"
    assert "dynamodb:BatchWriteItem on resource: arn:aws:dynamodb:us-east-1:123456789012:table/B" in batch_ab
    assert "dynamodb:PutItem on resource: arn:aws:dynamodb:us-east-1:123456789012:table/B" in transact_b


def test_an_explicit_deny_wins_over_an_allow(make_cloud: Any) -> None:
    resources = TABLES + function("Writer", extra="""
        Policies:
          - DynamoDBCrudPolicy: {TableName: !Ref TableA}
          - Statement:
              - Effect: Deny
                Action: dynamodb:DeleteItem
                Resource: !GetAtt TableA.Arn
    """)
    cloud = make_cloud(resources, {"app.py": CALLER})
    delete = {"service": "dynamodb", "method": "delete_item", "args": {"TableName": "A", "Key": {"id": {"S": "1"}}}}
    wrote, deleted = answers(cloud, "Writer", put("A"), delete)
    assert wrote == "ok"
    assert deleted.startswith("AccessDeniedException: ")
    assert deleted.endswith("dynamodb:DeleteItem on resource: arn:aws:dynamodb:us-east-1:123456789012:table/A "
                            "with an explicit deny in an identity-based policy")


def test_a_function_with_a_role_of_its_own(make_cloud: Any) -> None:
    resources = TABLES + """\
Outbox:
  Type: AWS::SQS::Queue
OwnRole:
  Type: AWS::IAM::Role
  Properties:
    AssumeRolePolicyDocument:
      Version: "2012-10-17"
      Statement: [{Effect: Allow, Principal: {Service: lambda.amazonaws.com}, Action: sts:AssumeRole}]
    ManagedPolicyArns: [arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole]
    Policies:
      - PolicyName: send
        PolicyDocument:
          Statement: [{Effect: Allow, Action: "sqs:Send*", Resource: !GetAtt Outbox.Arn}]
ReadB:
  Type: AWS::IAM::ManagedPolicy
  Properties:
    Roles: [!Ref OwnRole]
    PolicyDocument:
      Statement: [{Effect: Allow, Action: dynamodb:GetItem, Resource: !GetAtt TableB.Arn}]
WriteB:
  Type: AWS::IAM::Policy
  Properties:
    PolicyName: write-b
    Roles: [!Ref OwnRole]
    PolicyDocument:
      Statement: [{Effect: Allow, Action: dynamodb:PutItem, Resource: !GetAtt TableB.Arn}]
""" + function("Sender", Role="!GetAtt OwnRole.Arn")
    cloud = make_cloud(resources, {"app.py": CALLER})
    url = cloud.resource("Outbox")
    sent, read, read_b, wrote_b = answers(
        cloud, "Sender",
        {"service": "sqs", "method": "send_message", "args": {"QueueUrl": url, "MessageBody": "hi"}},
        {"service": "dynamodb", "method": "get_item", "args": {"TableName": "A", "Key": {"id": {"S": "1"}}}},
        {"service": "dynamodb", "method": "get_item", "args": {"TableName": "B", "Key": {"id": {"S": "1"}}}},
        put("B"),
    )
    assert (sent, read_b, wrote_b) == ("ok", "ok", "ok")  # inline, AWS::IAM::ManagedPolicy, AWS::IAM::Policy
    assert read.startswith("AccessDeniedException: User: arn:aws:sts::123456789012:assumed-role/OwnRole/Sender ")
    role = cloud.client("iam").get_role(RoleName="OwnRole")["Role"]
    assert role["Arn"] == f"arn:aws:iam::{ACCOUNT}:role/OwnRole"
    attached = cloud.client("iam").list_attached_role_policies(RoleName="OwnRole")["AttachedPolicies"]
    assert sorted(p["PolicyName"] for p in attached) == ["AWSLambdaBasicExecutionRole", "ReadB"]


def test_each_service_answers_its_own_denial(make_cloud: Any) -> None:
    resources = """\
Bucket:
  Type: AWS::S3::Bucket
  Properties: {BucketName: docs}
Queue:
  Type: AWS::SQS::Queue
Topic:
  Type: AWS::SNS::Topic
Stream:
  Type: AWS::Kinesis::Stream
  Properties: {ShardCount: 1}
Setting:
  Type: AWS::SSM::Parameter
  Properties: {Name: /app/setting, Type: String, Value: "on"}
""" + function("Nothing")
    cloud = make_cloud(resources, {"app.py": CALLER})
    found = answers(
        cloud, "Nothing",
        {"service": "sqs", "method": "send_message", "args": {"QueueUrl": cloud.resource("Queue"), "MessageBody": "x"}},
        {"service": "sns", "method": "publish", "args": {"TopicArn": cloud.resource("Topic"), "Message": "x"}},
        {"service": "s3", "method": "put_object", "args": {"Bucket": "docs", "Key": "a.txt", "Body": "x"}},
        {"service": "kinesis", "method": "put_record",
         "args": {"StreamName": "Stream", "Data": "x", "PartitionKey": "k"}},
        {"service": "ssm", "method": "get_parameter", "args": {"Name": "/app/setting"}},
        {"service": "sts", "method": "get_caller_identity", "args": {}},
    )

    arn = f"arn:aws:sts::{ACCOUNT}:assumed-role/NothingRole/Nothing"
    assert found == [
        f"AccessDenied: User: {arn} is not authorized to perform: sqs:sendmessage on resource: "
        f"arn:aws:sqs:us-east-1:{ACCOUNT}:Queue because no identity-based policy allows the sqs:sendmessage action",
        f"AuthorizationError: User: {arn} is not authorized to perform: sns:Publish on resource: "
        f"arn:aws:sns:us-east-1:{ACCOUNT}:Topic because no identity-based policy allows the sns:Publish action",
        f"AccessDenied: User: {arn} is not authorized to perform: s3:PutObject on resource: "
        f"arn:aws:s3:::docs/a.txt because no identity-based policy allows the s3:PutObject action",
        f"AccessDeniedException: User: {arn} is not authorized to perform: kinesis:PutRecord on resource: "
        f"arn:aws:kinesis:us-east-1:{ACCOUNT}:stream/Stream because no identity-based policy allows the "
        f"kinesis:PutRecord action",
        f"AccessDeniedException: User: {arn} is not authorized to perform: ssm:GetParameter on resource: "
        f"arn:aws:ssm:us-east-1:{ACCOUNT}:parameter/app/setting because no identity-based policy allows the "
        f"ssm:GetParameter action",
        arn,  # GetCallerIdentity needs no permission: the session of the function's role
    ]


def test_the_pollers_read_for_the_function_whatever_its_role_allows(make_cloud: Any) -> None:
    """The engine's SQS poller reads with its own credentials: a role without sqs:ReceiveMessage still
    gets its batches (SAM adds AWSLambdaSQSQueueExecutionRole for an SQS event; a role of one's own
    needs it on AWS)."""
    resources = """\
Inbox:
  Type: AWS::SQS::Queue
BareRole:
  Type: AWS::IAM::Role
  Properties:
    AssumeRolePolicyDocument:
      Statement: [{Effect: Allow, Principal: {Service: lambda.amazonaws.com}, Action: sts:AssumeRole}]
""" + function("Reader", Role="!GetAtt BareRole.Arn", extra="""
        Events:
          Inbox:
            Type: SQS
            Properties: {Queue: !GetAtt Inbox.Arn}
    """)
    handler = "def handler(event, context):\n    print('got', [r['body'] for r in event['Records']])\n"
    cloud = make_cloud(resources, {"app.py": handler})
    cloud.client("sqs").send_message(QueueUrl=cloud.resource("Inbox"), MessageBody="hello")
    cloud.run_until_idle()
    assert any("got ['hello']" in line for line in cloud.logs("Reader"))


def test_policy_evaluation_wildcards_not_action_and_not_resource() -> None:
    table = f"arn:aws:dynamodb:us-east-1:{ACCOUNT}:table/Orders"
    session = RoleSession("R", "F", ACCOUNT, [
        *compile_policy({"Statement": [
            {"Effect": "Allow", "Action": "dynamodb:Get*", "Resource": "arn:aws:dynamodb:*:*:table/Order?"},
            {"Effect": "Allow", "NotAction": ["dynamodb:*", "s3:*"], "Resource": "*"},
            {"Effect": "Deny", "Action": "sqs:*", "NotResource": "arn:aws:sqs:*:*:allowed-*"},
        ]}),
    ])
    assert session.verdict("dynamodb:GetItem", table) == ALLOWED
    assert session.verdict("DynamoDB:getitem", table) == ALLOWED  # actions ignore case
    assert session.verdict("dynamodb:GetItem", table + "2") == IMPLICIT
    assert session.verdict("dynamodb:PutItem", table) == IMPLICIT
    assert session.verdict("s3:GetObject", "arn:aws:s3:::b/k") == IMPLICIT
    assert session.verdict("sns:Publish", "arn:aws:sns:us-east-1:1:t") == ALLOWED
    assert session.verdict("sqs:SendMessage", f"arn:aws:sqs:us-east-1:{ACCOUNT}:allowed-q") == ALLOWED
    assert session.verdict("sqs:SendMessage", f"arn:aws:sqs:us-east-1:{ACCOUNT}:other") == EXPLICIT
    assert session.verdict("dynamodb:GetItem", "arn:aws:dynamodb:us-east-1:1:table/Orders.x") == IMPLICIT


def test_a_role_the_template_does_not_create_is_listed_and_left_unchecked(make_cloud: Any, capsys: Any) -> None:
    resources = TABLES + function("Outsider", Role="arn:aws:iam::123456789012:role/made-elsewhere")
    cloud = make_cloud(resources, {"app.py": CALLER})
    assert answers(cloud, "Outsider", put("B")) == ["ok"]
    assert "Outsider.Role (a role the template does not create" in capsys.readouterr().err
