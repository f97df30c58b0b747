"""Grading a deployed stack: the course template created through moto's CloudFormation stands in
for AWS, so the `--cloud aws` path (resolution, local-only skips, the report) runs in every build.

moto's CloudFormation creates the data plane, the functions, their roles and mappings, but runs no
function and serves no API stage. So the stand-in's API answers as API Gateway does when its Lambda
integration cannot run (502), and records what it was asked: checks that call the API run, reach
the stack's stage, and fail; the tests assert the mechanics, not a grade.
"""

from __future__ import annotations

import json
import os
import re
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from lambdalab.dataplane.server import DataPlane
from lambdalab.httpserver import LocalServer
from lambdalab.template.load import CODE_BUCKET, load_template
from lambdalab_course import cli, cli_labs
from lambdalab_course.report import LOCAL_ONLY
from lambdalab_course.runner import run_checks
from lambdalab_course.stack import StackCloud, StackError

ROOT = Path(__file__).resolve().parents[2]
STACK = "lambdalab-graded"
REGION = "us-east-1"
# What moto says of the types it skips (see moto_template).
pytestmark = pytest.mark.filterwarnings("ignore:Tried to parse AWS.*not supported by moto:UserWarning")
LAB01_LOCAL_ONLY = {
    "test_client_retries_throttled_calls_until_they_succeed",
    "test_a_retry_after_a_lost_answer_reuses_the_key_and_creates_one_order",
    "test_a_duplicate_arriving_while_the_first_runs_gets_409",
    "test_a_burst_over_reserved_concurrency_fails_only_the_throttled_calls",
    "test_retrying_clients_get_a_burst_through_with_exactly_one_order_each",
    "test_two_racing_posts_with_one_key_create_one_order",
    "test_a_claim_lapses_once_its_request_cannot_be_running",
    "test_a_failing_dependency_gives_a_retryable_5xx",
    "test_a_retry_after_the_orders_write_lost_its_answer_creates_one_order",
}


def moto_template(cfn: dict[str, Any]) -> dict[str, Any]:
    """The SAM-transformed template, adjusted where moto's CloudFormation cannot follow it.

    As transformed, the template fails in moto: its ``AWS::ApiGateway::RestApi`` needs a ``Name``
    (AWS takes it from the OpenAPI body's title) and moto never imports the body, so SAM's
    deployment of an API without methods is refused. So the REST API gets its ``Name``, and its
    deployment and stage are left out (``serve_rest_api`` adds the stage). A FIFO queue without a
    ``QueueName`` is named ``<stack>-<logical id>.fifo``: CloudFormation's generated name ends in
    ``.fifo``, moto's does not, and moto then refuses the queue. Types moto's
    CloudFormation does not know (the HTTP API, SNS subscriptions, queue policies, event invoke
    configs) stay in: moto skips them with a warning, and they are absent from the stack.
    """
    template = json.loads(json.dumps(cfn))
    dropped = {"AWS::ApiGateway::Deployment", "AWS::ApiGateway::Stage"}
    kept = {lid: res for lid, res in template["Resources"].items() if res["Type"] not in dropped}
    for lid, res in kept.items():
        props = res.get("Properties", {})
        if res["Type"] == "AWS::ApiGateway::RestApi":
            props["Name"] = props["Body"]["info"]["title"]
        if res["Type"] == "AWS::SQS::Queue" and props.get("FifoQueue") and "QueueName" not in props:
            props["QueueName"] = {"Fn::Sub": f"${{AWS::StackName}}-{lid}.fifo"}
        if "DependsOn" in res:
            needs = res["DependsOn"] if isinstance(res["DependsOn"], list) else [res["DependsOn"]]
            res["DependsOn"] = [d for d in needs if d in kept]
    template["Resources"] = kept
    return template


def serve_rest_api(plane: DataPlane, physical: dict[str, str], body: dict[str, Any], stage: str) -> None:
    """What SAM's deployment does on AWS, through the API Gateway API: a method per route of the
    OpenAPI body, its Lambda proxy integration, and the stage."""
    api, rest_api_id = plane.client("apigateway"), physical["ServerlessRestApi"]

    def function_arn(found: re.Match[str]) -> str:
        return str(plane.client("lambda").get_function_configuration(FunctionName=physical[found[1]])["FunctionArn"])

    ids = {r["path"]: r["id"] for r in api.get_resources(restApiId=rest_api_id)["items"]}
    for path, methods in sorted(body["paths"].items()):
        parent = "/"
        for part in path.strip("/").split("/"):
            here = f"{parent.rstrip('/')}/{part}"
            if here not in ids:
                ids[here] = api.create_resource(restApiId=rest_api_id, parentId=ids[parent], pathPart=part)["id"]
            parent = here
        for method, spec in methods.items():
            uri = re.sub(r"\$\{(\w+)\.Arn\}", function_arn, spec["x-amazon-apigateway-integration"]["uri"]["Fn::Sub"])
            api.put_method(restApiId=rest_api_id, resourceId=ids[path], httpMethod=method.upper(),
                           authorizationType="NONE")
            api.put_integration(restApiId=rest_api_id, resourceId=ids[path], httpMethod=method.upper(),
                                type="AWS_PROXY", integrationHttpMethod="POST",
                                uri=uri.replace("${AWS::Region}", REGION).replace("${AWS::Partition}", "aws"))
    api.create_deployment(restApiId=rest_api_id, stageName=stage)


@pytest.fixture(scope="module")
def standin() -> Iterator[DataPlane]:
    """A moto server with the course template created as the stack ``STACK``."""
    plane = DataPlane(REGION).start()
    try:
        plane.reset()
        loaded = load_template(ROOT / "template.yaml")
        s3 = plane.client("s3")
        s3.create_bucket(Bucket=CODE_BUCKET)
        for logical_id in loaded.code_uris:  # the transform points each CodeUri here
            s3.put_object(Bucket=CODE_BUCKET, Key=logical_id, Body=b"code")
        cfn = plane.client("cloudformation")
        cfn.create_stack(StackName=STACK, TemplateBody=json.dumps(moto_template(loaded.cfn)),
                         Capabilities=["CAPABILITY_IAM"])
        assert cfn.describe_stacks(StackName=STACK)["Stacks"][0]["StackStatus"] == "CREATE_COMPLETE"
        rows = cfn.list_stack_resources(StackName=STACK)["StackResourceSummaries"]
        physical = {r["LogicalResourceId"]: r["PhysicalResourceId"] for r in rows}
        serve_rest_api(plane, physical, loaded.cfn["Resources"]["ServerlessRestApi"]["Properties"]["Body"], "Prod")
        yield plane
    finally:
        plane.stop()


class FailingIntegration:
    """A WSGI app answering every request as API Gateway does when the function cannot run."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, str]] = []

    def __call__(self, environ: dict[str, Any], start_response: Any) -> list[bytes]:
        self.requests.append((environ["REQUEST_METHOD"], environ["PATH_INFO"]))
        start_response("502 Bad Gateway", [("Content-Type", "application/json")])
        return [b'{"message": "Internal server error"}']


@pytest.fixture(scope="module")
def api_gateway() -> Iterator[tuple[str, FailingIntegration]]:
    """The stand-in's API endpoint: the URL format (``LAMBDALAB_API_URL``) and what it was asked."""
    app = FailingIntegration()
    server = LocalServer(app, "stand-in-api-gateway")
    yield f"{server.url}/restapis/{{api_id}}/{{stage}}", app
    server.stop()


@pytest.fixture
def aws(standin: DataPlane, api_gateway: tuple[str, FailingIntegration], monkeypatch: pytest.MonkeyPatch) -> DataPlane:
    """The process (and the pytest processes it starts) pointed at the stand-in, as an AWS profile would be."""
    for name, value in {
        "AWS_ENDPOINT_URL": standin.endpoint_url, "AWS_DEFAULT_REGION": REGION, "AWS_REGION": REGION,
        "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_SESSION_TOKEN": "testing",
        "AWS_CONFIG_FILE": os.devnull, "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
        "LAMBDALAB_API_URL": api_gateway[0], "NO_PROXY": "127.0.0.1,localhost",
    }.items():
        monkeypatch.setenv(name, value)
    for name in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "LAMBDALAB_CLOUD", "LAMBDALAB_STACK"):
        monkeypatch.delenv(name, raising=False)
    return standin


def test_a_stack_cloud_resolves_physical_ids_attributes_and_the_api_url(aws: DataPlane) -> None:
    """Checks see the same names on a stack as locally: Ref is the physical id CloudFormation
    reports, GetAtt comes from the resource's own service (design: grading a deployed stack)."""
    cloud = StackCloud(STACK, endpoint_url=aws.endpoint_url, api_url_format="{endpoint}/restapis/{api_id}/{stage}")
    rows = aws.client("cloudformation").list_stack_resources(StackName=STACK)["StackResourceSummaries"]
    physical = {r["LogicalResourceId"]: r["PhysicalResourceId"] for r in rows}
    table = cloud.resource("OrdersTable")
    assert table == physical["OrdersTable"] and table.startswith(f"{STACK}-OrdersTable-")
    assert cloud.client("dynamodb").describe_table(TableName=table)["Table"]["TableStatus"] == "ACTIVE"
    queue = cloud.resource("IntakeFailuresQueue")
    assert cloud.attribute("IntakeFailuresQueue", "Arn") == \
        aws.client("sqs").get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    assert re.fullmatch(r"arn:aws:dynamodb:us-east-1:\d{12}:table/.+/stream/.+",
                        cloud.attribute("AccountsTable", "StreamArn"))
    assert cloud.attribute("TransactionsStream", "Arn").startswith("arn:aws:kinesis:us-east-1:")
    assert cloud.attribute("OrdersFunction", "Arn").endswith(f":function:{physical['OrdersFunction']}")
    assert cloud.attribute("DocumentsBucket", "Arn") == f"arn:aws:s3:::{physical['DocumentsBucket']}"
    api = physical["ServerlessRestApi"]
    assert cloud.api_url("ServerlessRestApi") == f"{aws.endpoint_url}/restapis/{api}/Prod"
    on_aws = StackCloud(STACK, endpoint_url=aws.endpoint_url)
    assert on_aws.api_url("ServerlessRestApi") == f"https://{api}.execute-api.{REGION}.amazonaws.com/Prod"


def test_what_a_stack_cannot_answer_is_refused_by_name(aws: DataPlane) -> None:
    """Nothing resolves to a guess: an unknown id, an attribute not derivable, an engine-only
    feature each raise, naming what was asked (design: refuse, never ignore)."""
    cloud = StackCloud(STACK, endpoint_url=aws.endpoint_url)
    with pytest.raises(StackError, match="has no resource 'NoSuchTable'"):
        cloud.resource("NoSuchTable")
    with pytest.raises(StackError, match=r"OrdersTable\.Color"):
        cloud.attribute("OrdersTable", "Color")
    with pytest.raises(StackError, match="`journal` is local only"):
        _ = cloud.journal
    with pytest.raises(StackError, match="not an API Gateway API"):
        cloud.api_url("OrdersTable")
    with pytest.raises(StackError, match="'no-such-stack'"):
        StackCloud("no-such-stack", endpoint_url=aws.endpoint_url).resource("OrdersTable")


def test_grading_lab_01_on_a_stack_reports_local_only_checks_as_not_run(
        aws: DataPlane, api_gateway: tuple[str, FailingIntegration], tmp_path: Path) -> None:
    """`--cloud aws` runs the real-time checks against the stack and reports every engine-only
    check as "local only" with its reason and no points, never as passed (design: grading a
    deployed stack)."""
    report = run_checks(ROOT, "01_request_response", "solutions", tmp_path / "report",
                                cloud="aws", stack=STACK)
    assert (report["cloud"], report["stack"]) == ("aws", STACK)
    checks = {c["check"]: c for c in report["checks"]}
    local = {name for name, c in checks.items() if c["outcome"] == LOCAL_ONLY}
    assert local == LAB01_LOCAL_ONLY
    assert all(checks[n]["earned"] == 0 and checks[n]["reason"].startswith("local only: ") for n in local)
    ran = {name: c["outcome"] for name, c in checks.items() if name not in local}
    assert set(ran.values()) <= {"passed", "failed"} and len(ran) == 6, ran
    # the one check that needs no cloud passes; the API ones reach the stack's stage, and fail there
    assert ran["test_client_caps_its_backoff_and_retries_dropped_connections"] == "passed"
    assert ran["test_orders_api_maps_outcomes_to_status_codes"] == "failed"
    api = StackCloud(STACK, endpoint_url=aws.endpoint_url).resource("ServerlessRestApi")
    assert ("POST", f"/restapis/{api}/Prod/orders") in api_gateway[1].requests
    assert report["earned"] < report["points"]
    table = (tmp_path / "report.md").read_text()
    assert f"Graded on the deployed stack {STACK}" in table
    assert "| 01_request_response | test_client_retries_throttled_calls_until_they_succeed | 0/2 | local only |" \
        in table
    assert "- test_client_retries_throttled_calls_until_they_succeed: local only: scripts Lambda throttles" in table


def test_a_local_only_check_runs_locally_and_is_never_passed_on_aws(tmp_path: Path) -> None:
    """The marker changes nothing locally; on AWS such a check earns nothing even if it would pass,
    and no fixture of it runs (design: grading a deployed stack)."""
    tests = tmp_path / "tests" / "labs"
    tests.mkdir(parents=True)
    (tmp_path / "template.yaml").write_text("Resources: {}\n")
    (tests / "test_01_demo.py").write_text(textwrap.dedent('''\
        import pytest

        @pytest.fixture
        def engine():
            raise AssertionError("a local-only check's fixtures must not run on AWS")

        @pytest.mark.points(2)
        @pytest.mark.local_only(reason="reads the journal")
        def test_engine_only(engine):
            pass

        @pytest.mark.points(1)
        def test_anywhere():
            assert True
    '''))
    local = run_checks(tmp_path, "01_demo", "solutions", tmp_path / "local")
    assert [(c["check"], c["outcome"]) for c in local["checks"]] == [("test_engine_only", "failed"),
                                                                      ("test_anywhere", "passed")]
    remote = run_checks(tmp_path, "01_demo", "solutions", tmp_path / "aws", cloud="aws", stack="any")
    assert [(c["check"], c["outcome"], c["earned"], c["reason"]) for c in remote["checks"]] == [
        ("test_engine_only", "local only", 0, "local only: reads the journal"), ("test_anywhere", "passed", 1, "")]
    assert (remote["earned"], remote["points"]) == (1, 3)


def test_grade_on_aws_needs_a_stack_and_passes_it_to_the_checks(monkeypatch: pytest.MonkeyPatch,
                                                                capsys: pytest.CaptureFixture[str]) -> None:
    """`lambdalab grade --cloud aws` without a stack is refused; with one, the graded pytest
    process is told the cloud and the stack (design: the command line)."""
    for name in ("LAMBDALAB_CLOUD", "LAMBDALAB_STACK"):
        monkeypatch.delenv(name, raising=False)
    assert cli.main(["grade", "--cloud", "aws"]) == 2
    assert "--stack NAME" in capsys.readouterr().err
    seen: dict[str, Any] = {}

    def fake_grade(root: Path, lab: str | None, target: str, verbose: bool = False) -> int:
        seen.update(lab=lab, cloud=os.environ.get("LAMBDALAB_CLOUD"), stack=os.environ.get("LAMBDALAB_STACK"))
        return 0

    monkeypatch.setattr(cli_labs, "cmd_grade", fake_grade)
    assert cli.main(["grade", "--cloud", "aws", "--stack", STACK, "01_request_response"]) == 0
    assert seen == {"lab": "01_request_response", "cloud": "aws", "stack": STACK}
    assert "LAMBDALAB_STACK" not in os.environ
