"""``StackCloud``: a deployed CloudFormation stack, seen through the part of ``LocalCloud``'s public
API that graded checks can use on a real cloud: ``client``, ``resource``, ``attribute``, ``api_url``.

Nothing here emulates anything. Physical ids come from CloudFormation (ListStackResources),
attributes from the service that owns the resource, and every client from boto3's default
credential chain and region, so the answers are AWS's. ``endpoint_url`` points the clients at a
stand-in for AWS instead (the test suite uses a moto server); the engine's own features (faults,
the journal, the virtual clock) have no counterpart on a stack and raise ``StackError`` by name.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from lambdalab import LambdaLabError

# Where API Gateway serves a stage. ``{endpoint}`` is the endpoint override, for a stand-in.
AWS_API_URL = "https://{api_id}.execute-api.{region}.amazonaws.com/{stage}"
API_URL_VARIABLE = "LAMBDALAB_API_URL"
ENDPOINT_VARIABLE = "AWS_ENDPOINT_URL"  # boto3's own name for a global endpoint override

# LocalCloud features that exist only because the engine runs the functions itself.
LOCAL_ONLY = {
    "faults": "scripted faults are injected by the local engine",
    "journal": "the journal records the local engine's invocations",
    "advance": "only the local engine's virtual clock can be moved",
    "run_until_idle": "only the local engine knows when no event, retry or poll is left",
    "now": "the virtual clock exists only locally",
    "invoke": "use client('lambda').invoke with the function's physical name",
    "logs": "read CloudWatch Logs for the function's log group",
}


class StackError(LambdaLabError):
    """The stack, a resource or an attribute cannot be resolved, or the feature is local only."""


@dataclass(frozen=True)
class StackResource:
    """One row of ListStackResources."""

    logical_id: str
    type: str
    physical_id: str


class StackCloud:
    """A deployed stack by name; resources are read once, on first use."""

    def __init__(self, stack_name: str, *, region: str | None = None, endpoint_url: str | None = None,
                 api_url_format: str | None = None):
        import boto3

        self.stack_name = stack_name
        self.endpoint_url = endpoint_url
        self._session = boto3.session.Session(region_name=region)
        if not self._session.region_name:
            raise StackError("no AWS region: set AWS_REGION (or AWS_DEFAULT_REGION) or a profile's region")
        self.region: str = self._session.region_name
        self._api_url_format = api_url_format or AWS_API_URL
        self._clients: dict[str, Any] = {}
        self._lock = threading.Lock()
        self._resources: dict[str, StackResource] | None = None

    def __repr__(self) -> str:
        return f"StackCloud({self.stack_name!r}, region={self.region!r})"

    # -- the public API, as LocalCloud's --------------------------------------------------------
    def client(self, service: str, **kwargs: Any) -> Any:
        """A boto3 client from the default credential chain (shared per service unless kwargs)."""
        options = {"endpoint_url": self.endpoint_url, **kwargs} if self.endpoint_url else kwargs
        if kwargs:
            return self._session.client(service, **options)
        with self._lock:
            if service not in self._clients:
                self._clients[service] = self._session.client(service, **options)
            return self._clients[service]

    def resource(self, logical_id: str) -> str:
        """What ``!Ref`` gave in the stack: the physical id (queue URL, table name, topic ARN...)."""
        return self.stack_resource(logical_id).physical_id

    def attribute(self, logical_id: str, name: str) -> str:
        """What ``!GetAtt logical_id.name`` gives, asked of the resource's own service."""
        res = self.stack_resource(logical_id)
        derive = _ATTRIBUTES.get((res.type, name))
        if derive is None:
            raise StackError(f"{logical_id}.{name} ({res.type}) cannot be read from a deployed stack here")
        return derive(self, res.physical_id)

    def api_url(self, api: str) -> str:
        """Base URL of an API's stage (REST or HTTP API), by logical id, e.g. "ServerlessRestApi"."""
        res = self.stack_resource(api)
        if res.type == "AWS::ApiGateway::RestApi":
            answer = self.client("apigateway").get_stages(restApiId=res.physical_id)
            stages = [s["stageName"] for s in answer.get("item", [])]
            stage = self._stage_of(api, stages, "AWS::ApiGateway::Stage")
        elif res.type == "AWS::ApiGatewayV2::Api":
            answer = self.client("apigatewayv2").get_stages(ApiId=res.physical_id)
            stages = [s["StageName"] for s in answer.get("Items", [])]
            stage = self._stage_of(api, stages, "AWS::ApiGatewayV2::Stage")
        else:
            raise StackError(f"{api} is a {res.type}, not an API Gateway API")
        url = self._api_url_format.format(api_id=res.physical_id, region=self.region, endpoint=self.endpoint_url or "",
                                          stage="" if stage == "$default" else stage)
        return url.rstrip("/")

    def __getattr__(self, name: str) -> Any:
        if name in LOCAL_ONLY:
            raise StackError(f"`{name}` is local only ({LOCAL_ONLY[name]}): mark the check "
                             f"@pytest.mark.local_only(reason=...)")
        raise AttributeError(name)

    # -- the stack ------------------------------------------------------------------------------
    def resources(self) -> dict[str, StackResource]:
        """Every resource of the stack by logical id (ListStackResources, all pages), read once."""
        if self._resources is None:
            from botocore.exceptions import ClientError

            found: dict[str, StackResource] = {}
            pages = self.client("cloudformation").get_paginator("list_stack_resources")
            try:
                for page in pages.paginate(StackName=self.stack_name):
                    for row in page["StackResourceSummaries"]:
                        found[row["LogicalResourceId"]] = StackResource(
                            row["LogicalResourceId"], row["ResourceType"], row.get("PhysicalResourceId", ""))
            except ClientError as exc:
                raise StackError(f"stack {self.stack_name!r} in {self.region}: {exc}") from None
            self._resources = found
        return self._resources

    def stack_resource(self, logical_id: str) -> StackResource:
        found = self.resources()
        if logical_id not in found:
            raise StackError(f"stack {self.stack_name!r} has no resource {logical_id!r}; it has {sorted(found)}")
        return found[logical_id]

    def _stage_of(self, api: str, stages: list[str], stage_type: str) -> str:
        """The stage the stack declares for the API; SAM also leaves a stage named "Stage" behind."""
        declared = {r.physical_id for r in self.resources().values() if r.type == stage_type}
        chosen = [s for s in stages if s in declared] or stages
        if len(chosen) != 1:
            raise StackError(f"cannot tell which stage of {api} to use: it has {sorted(stages)}")
        return chosen[0]


def _queue_arn(cloud: StackCloud, url: str) -> str:
    answer = cloud.client("sqs").get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])
    return str(answer["Attributes"]["QueueArn"])


def _table_arn(cloud: StackCloud, name: str) -> str:
    return str(cloud.client("dynamodb").describe_table(TableName=name)["Table"]["TableArn"])


def _table_stream_arn(cloud: StackCloud, name: str) -> str:
    table = cloud.client("dynamodb").describe_table(TableName=name)["Table"]
    if "LatestStreamArn" not in table:
        raise StackError(f"table {name} has no stream")
    return str(table["LatestStreamArn"])


def _stream_arn(cloud: StackCloud, name: str) -> str:
    summary = cloud.client("kinesis").describe_stream_summary(StreamName=name)["StreamDescriptionSummary"]
    return str(summary["StreamARN"])


def _function_arn(cloud: StackCloud, name: str) -> str:
    return str(cloud.client("lambda").get_function_configuration(FunctionName=name)["FunctionArn"])


def _bucket_arn(cloud: StackCloud, name: str) -> str:
    return f"arn:{cloud._session.get_partition_for_region(cloud.region)}:s3:::{name}"


_ATTRIBUTES: dict[tuple[str, str], Callable[[StackCloud, str], str]] = {
    ("AWS::SQS::Queue", "Arn"): _queue_arn,
    ("AWS::SQS::Queue", "QueueUrl"): lambda _, url: url,
    ("AWS::SQS::Queue", "QueueName"): lambda _, url: url.rstrip("/").rsplit("/", 1)[-1],
    ("AWS::SNS::Topic", "TopicArn"): lambda _, arn: arn,
    ("AWS::SNS::Topic", "TopicName"): lambda _, arn: arn.rsplit(":", 1)[-1],
    ("AWS::DynamoDB::Table", "Arn"): _table_arn,
    ("AWS::DynamoDB::Table", "StreamArn"): _table_stream_arn,
    ("AWS::Kinesis::Stream", "Arn"): _stream_arn,
    ("AWS::Lambda::Function", "Arn"): _function_arn,
    ("AWS::S3::Bucket", "Arn"): _bucket_arn,
}
