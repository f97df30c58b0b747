"""Offline template checks: the course template is clean; seeded mistakes are each reported."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from lambdalab.template.check import check_template

ROOT = Path(__file__).resolve().parents[2]
GOOD_FUNCTION = """\
  Fn:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: src/
      Handler: app.handler
      Runtime: python3.12
"""


def test_the_course_template_passes_cfn_lint_the_sam_transform_and_the_engine_rules():
    assert check_template(ROOT / "template.yaml") == []


@pytest.mark.parametrize(("resources", "expected"), [
    (GOOD_FUNCTION + "      Timout: 3\n", ["Fn", "Timout"]),
    (GOOD_FUNCTION + "      Environment: {Variables: {Q: !GetAtt Queue.Nope}}\n"
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
])
def test_a_seeded_mistake_is_reported_with_where_it_is(tmp_path, resources, expected):
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "app.py").write_text("def handler(event, context):\n    return event\n")
    template = tmp_path / "template.yaml"
    template.write_text(textwrap.dedent("""\
        AWSTemplateFormatVersion: "2010-09-09"
        Transform: AWS::Serverless-2016-10-31
        Resources:
        """) + resources)
    findings = "\n".join(check_template(template))
    for word in expected:
        assert word in findings, findings
