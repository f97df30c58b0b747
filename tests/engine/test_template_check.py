"""Offline template checks: the course template is clean; seeded mistakes are each reported."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
import yaml

from lambdalab.cli import main
from lambdalab.template.check import check_template
from lambdalab.template.policies import missing_policies

ROOT = Path(__file__).resolve().parents[2]
GOOD_FUNCTION = """\
  Fn:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: src/
      Handler: app.handler
      Runtime: python3.12
"""
TABLE = """\
  Table:
    Type: AWS::DynamoDB::Table
    Properties:
      BillingMode: PAY_PER_REQUEST
      AttributeDefinitions: [{AttributeName: pk, AttributeType: S}]
      KeySchema: [{AttributeName: pk, KeyType: HASH}]
"""
WRITES_TABLE = GOOD_FUNCTION + "      Environment: {Variables: {TABLE_NAME: !Ref Table}}\n"


def write(tmp_path: Path, resources: str) -> Path:
    (tmp_path / "src").mkdir(exist_ok=True)
    (tmp_path / "src" / "app.py").write_text("def handler(event, context):\n    return event\n")
    template = tmp_path / "template.yaml"
    template.write_text(textwrap.dedent("""\
        AWSTemplateFormatVersion: "2010-09-09"
        Transform: AWS::Serverless-2016-10-31
        Resources:
        """) + resources)
    return template


def test_the_course_template_passes_cfn_lint_the_sam_transform_and_the_engine_rules():
    assert check_template(ROOT / "template.yaml") == []


@pytest.mark.parametrize(("resources", "expected"), [
    (GOOD_FUNCTION + "      Timout: 3\n", ["Fn", "Timout"]),
    (GOOD_FUNCTION + "      Environment: {Variables: {QUEUE: !GetAtt Queue.Nope}}\n"
     "  Queue:\n    Type: AWS::SQS::Queue\n", ["Nope"]),
    (GOOD_FUNCTION + "      ReservedConcurrentExecutions: 950\n", ["Fn", "ReservedConcurrentExecutions"]),
    (GOOD_FUNCTION.replace("python3.12", "python2.7"), ["Runtime"]),
    (GOOD_FUNCTION.replace("app.handler", "missing.handler"), ["Fn", "Handler", "missing.py"]),
    (GOOD_FUNCTION + "      Timeout: 30\n      Events:\n        Jobs:\n          Type: SQS\n"
     "          Properties: {Queue: !GetAtt Jobs.Arn}\n"
     "  Jobs:\n    Type: AWS::SQS::Queue\n    Properties: {VisibilityTimeout: 10}\n",
     ["visibility timeout", "10", "30"]),
    (GOOD_FUNCTION + "      Events:\n        Jobs:\n          Type: SQS\n"
     "          Properties: {Queue: !GetAtt Jobs.Arn, BatchSize: 20}\n"
     "  Jobs:\n    Type: AWS::SQS::Queue\n    Properties: {FifoQueue: true, VisibilityTimeout: 60}\n",
     ["BatchSize"]),
    (GOOD_FUNCTION + "  Box:\n    Type: AWS::EC2::VPC\n    Properties: {CidrBlock: 10.0.0.0/16}\n",
     ["Box", "AWS::EC2::VPC", "not supported locally"]),
    # missing policy for a table the function writes
    (WRITES_TABLE + TABLE, ["Fn.Policies", "Table", "TABLE_NAME", "DynamoDBCrudPolicy"]),
    # a policy, but on another table
    (WRITES_TABLE + "      Policies: [{DynamoDBCrudPolicy: {TableName: !Ref Other}}]\n" + TABLE
     + TABLE.replace("Table:", "Other:"), ["Fn.Policies", "Table (AWS::DynamoDB::Table)"]),
    # Lambda wants variable names of two characters or more: the engine refuses it by the schema's
    # pattern, once (cfn-lint sees it only after the transform)
    (GOOD_FUNCTION + "      Environment: {Variables: {Q: x}}\n",
     ["template.yaml:10: error: Fn.Environment.Variables.Q: is not a valid name here", "[a-zA-Z][a-zA-Z0-9_]+"]),
    # cfn-lint's error does not hide the engine's own
    (GOOD_FUNCTION + "  Jobs:\n    Type: AWS::SQS::Queue\n    Properties: {VisibilityTimeout: 50000}\n"
     "  Box:\n    Type: AWS::EC2::VPC\n    Properties: {CidrBlock: 10.0.0.0/16}\n",
     ["VisibilityTimeout", "50000", "Box", "not supported locally"]),
])
def test_a_seeded_mistake_is_reported_with_where_it_is(tmp_path, resources, expected):
    findings = check_template(write(tmp_path, resources))
    text = "\n".join(str(f) for f in findings)
    assert any(f.is_error for f in findings), text
    for word in expected:
        assert word in text, text


@pytest.mark.parametrize(("resources", "finding"), [
    ("  Stream:\n    Type: AWS::Kinesis::Stream\n    Properties: {ShardCount: [2]}\n",
     "template.yaml:12: error: Stream.ShardCount: must be an integer, got [2]"),
    ("  Jobs:\n    Type: AWS::SQS::Queue\n    Properties:\n      RedrivePolicy: '{\"deadLetterTargetArn\": "
     "\"arn:aws:sqs:us-east-1:123456789012:Dlq\", \"maxReceiveCount\": \"lots\"}'\n",
     "template.yaml:13: error: Jobs.RedrivePolicy.maxReceiveCount: must be a whole number of receives, 1 or more, "
     "got 'lots'"),
    ("  Table:\n    Type: AWS::DynamoDB::Table\n    Properties:\n      BillingMode: PAY_PER_REQUEST\n"
     "      AttributeDefinitions: [{AttributeName: pk, AttributeType: S}]\n      KeySchema: [{AttributeName: pk, "
     "KeyType: PRIMARY}]\n", "template.yaml:15: error: Table.KeySchema[0].KeyType: must be HASH; got 'PRIMARY'"),
])
def test_a_value_of_the_wrong_type_is_one_finding_in_the_words_start_uses(tmp_path, resources, finding):
    """cfn-lint finds a wrong type too (E3012, E3018): the engine's refusal of the same property
    on the same line says it once, as ``LocalCloud.start`` does; a value inside JSON text only the
    engine reads."""
    findings = check_template(write(tmp_path, GOOD_FUNCTION + resources))
    assert [str(f) for f in findings if f.is_error] == [finding]


@pytest.mark.parametrize(("name", "why"), [("missing.yaml", "template file not found: "), ("folder", " is a folder, ")])
def test_a_template_that_is_not_a_file_is_one_finding(tmp_path, name, why, capfd):
    (tmp_path / "folder").mkdir()
    [finding] = check_template(tmp_path / name)
    assert finding.is_error and why in finding.message
    assert capfd.readouterr().err == ""


def test_a_warning_is_shown_once_and_does_not_fail_the_check(tmp_path, capsys):
    """cfn-lint's W rules are advice: printed as warnings, once although both passes see them."""
    template = write(tmp_path, GOOD_FUNCTION + "  Topic:\n    Type: AWS::SNS::Topic\n"
                     "  Copy:\n    Type: AWS::SNS::Subscription\n    DependsOn: Topic\n"
                     "    Properties: {TopicArn: !Ref Topic, Protocol: sqs, Endpoint: !GetAtt Audit.Arn}\n"
                     "  Audit:\n    Type: AWS::SQS::Queue\n")
    [finding] = check_template(template)
    assert (finding.severity, finding.is_error) == ("warning", False)
    assert str(finding).startswith("template.yaml:14: warning: W3005 Resources/Copy/DependsOn")
    assert main(["template", "check", str(template)]) == 0
    assert "0 error(s), 1 warning(s)" in capsys.readouterr().out


def policy_findings(function: str, *others: str) -> list[str]:
    """The missing-policy rule alone, on a function with a table, a queue, a topic and a bucket."""
    template = yaml.safe_load(textwrap.dedent("""\
        Resources:
          Table: {Type: AWS::DynamoDB::Table}
          Queue: {Type: AWS::SQS::Queue}
          Topic: {Type: AWS::SNS::Topic}
          Bucket: {Type: AWS::S3::Bucket}
          Stream: {Type: AWS::Kinesis::Stream}
        """))
    template["Resources"]["Fn"] = {"Type": "AWS::Serverless::Function", "Properties": yaml.safe_load(function)}
    for other in others:
        template["Resources"].update(yaml.safe_load(other))
    return [message for _, message in missing_policies(template)]


USES = "Environment: {Variables: {TABLE: {Ref: Table}, QUEUE: {'Fn::GetAtt': [Queue, QueueName]}}}\n"


@pytest.mark.parametrize("function", [
    USES + "Policies: [{DynamoDBCrudPolicy: {TableName: {Ref: Table}}}, "
           "{SQSSendMessagePolicy: {QueueName: {'Fn::GetAtt': [Queue, QueueName]}}}]",
    USES + "Policies: [{Statement: [{Effect: Allow, Action: ['dynamodb:PutItem', 'sqs:SendMessage'], "
           "Resource: [{'Fn::GetAtt': [Table, Arn]}, {'Fn::GetAtt': [Queue, Arn]}]}]}]",
    USES + "Policies: [AmazonDynamoDBFullAccess, AmazonSQSFullAccess]",
    USES + "Policies: [arn:aws:iam::123456789012:policy/team-data]",
    USES + "Policies: {Statement: {Effect: Allow, Action: '*', Resource: '*'}}",
    USES + "Policies: [{DynamoDBReadPolicy: {TableName: orders-prod}}, {SQSPollerPolicy: {QueueName: jobs}}]",
    USES + "Role: arn:aws:iam::123456789012:role/own",
    USES + "Policies: [{DynamoDBCrudPolicy: {TableName: {Ref: Table}}}]\n"
           "Events: {Jobs: {Type: SQS, Properties: {Queue: {'Fn::GetAtt': [Queue, Arn]}}}}",
    USES + "Policies: [{DynamoDBCrudPolicy: {TableName: {Ref: Table}}}]\n"
           "EventInvokeConfig: {DestinationConfig: {OnFailure: {Type: SQS, "
           "Destination: {'Fn::GetAtt': [Queue, Arn]}}}}",
    "Environment: {Variables: {BUCKET: {'Fn::Sub': '${Bucket}'}}}\n"
    "Policies: [{S3ReadPolicy: {BucketName: {'Fn::Sub': '${AWS::StackName}-documents-${AWS::AccountId}'}}}]",
    "Environment: {Variables: {GREETING: Hello, ARN: {Ref: AWS::StackName}}}",
])
def test_a_grant_the_rule_cannot_rule_out_is_not_reported(function):
    """Conservative: policy templates, inline statements, managed policies, names it cannot resolve,
    an own role, and the policies SAM adds for event sources and destinations all count as grants."""
    assert policy_findings(function) == []


@pytest.mark.parametrize(("function", "missing"), [
    (USES + "Policies: [{DynamoDBCrudPolicy: {TableName: {Ref: Table}}}]", ["Queue"]),
    (USES + "Policies: [AWSLambdaBasicExecutionRole, {S3CrudPolicy: {BucketName: {Ref: Bucket}}}]",
     ["Table", "Queue"]),
    ("Environment: {Variables: {TOPIC: {Ref: Topic}, STREAM: {Ref: Stream}}}\n"
     "Policies: [{Statement: [{Effect: Allow, Action: 'sns:Publish', Resource: {Ref: Other}}]}]", ["Topic", "Stream"]),
    ("Environment: {Variables: {BUCKET: {'Fn::Sub': 'https://${Bucket.RegionalDomainName}'}}}\n"
     "Events: {Jobs: {Type: SQS, Properties: {Queue: {'Fn::GetAtt': [Queue, Arn]}}}}", ["Bucket"]),
])
def test_a_resource_no_policy_grants_is_named_with_the_function_and_policies(function, missing):
    found = policy_findings(function, "Other: {Type: AWS::SNS::Topic}")
    assert [m.split(" grant nothing on ")[1].split(" ")[0] for m in found] == missing
    assert all(m.startswith("Fn.Policies: ") for m in found)
