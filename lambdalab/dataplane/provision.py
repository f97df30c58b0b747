"""Create a template's data-plane resources (S3, SQS, SNS, Kinesis, DynamoDB, SSM) in moto.

One small class per resource type: the properties it accepts (anything else is refused by name),
those it accepts without emulating them (encryption at rest and the like: nothing a function can
observe changes, and the start notice lists them), the values inside JSON text it checks itself (a
queue's ``RedrivePolicy``: the type schemas see only a string there), its physical name, how to
create it and which ``Ref``/``Fn::GetAtt`` values it answers. Physical names are deterministic (the
logical id), so notebooks print the same names every run.

The template layer checks every value against the type's schema first (``lambdalab.template.schema``),
so ``create`` gets values of the right types; whatever still fails is refused naming the resource,
never raised as it is.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any, ClassVar

from botocore.exceptions import ClientError, ParamValidationError

from lambdalab.config import ACCOUNT_ID, REGION
from lambdalab.errors import ConfigurationError

ClientFactory = Callable[[str], Any]
ENCRYPTION = "encryption at rest"


class ResourceType:
    """Base: a CloudFormation type the data plane holds."""

    type_name: ClassVar[str]
    properties: ClassVar[frozenset[str]]
    attributes: ClassVar[frozenset[str]]  # what Fn::GetAtt can read (and Ref)
    # Accepted, not emulated: property -> what it is, for the start notice.
    not_emulated: ClassVar[dict[str, str]] = {}

    def __init__(self, logical_id: str, props: dict[str, Any]):
        self.logical_id = logical_id
        self.props = props

    def unsupported(self) -> list[ConfigurationError]:
        """A refusal for each property neither emulated nor accepted."""
        unknown = sorted(set(self.props) - self.properties - set(self.not_emulated))
        return [ConfigurationError(f"property not supported locally for {self.type_name}", self.logical_id, name)
                for name in unknown]

    def attribute_names(self) -> frozenset[str]:
        """What ``create`` will answer for ``Fn::GetAtt`` given these properties."""
        return self.attributes

    def invalid(self) -> list[ConfigurationError]:
        """A refusal for each value the type's schema cannot see into (JSON text); none by default."""
        return []

    def refusals(self) -> list[ConfigurationError]:
        """Everything refused before creating it: unsupported properties, then invalid values."""
        return self.unsupported() + self.invalid()

    def check(self) -> None:
        refusals = self.refusals()
        if refusals:
            raise refusals[0]

    def accepted_not_emulated(self) -> list[tuple[str, str]]:
        """(property, what it is) for each property given that is accepted but not emulated."""
        return [(name, what) for name, what in self.not_emulated.items() if name in self.props]

    def create(self, clients: ClientFactory) -> dict[str, Any]:
        """Create it; returns its attributes, with "Ref" for what ``!Ref`` gives."""
        raise NotImplementedError

    def provision(self, clients: ClientFactory) -> dict[str, Any]:
        """``create``, with a data-plane refusal turned into a ConfigurationError that says where,
        as CloudFormation names the resource whose creation failed."""
        try:
            return self.create(clients)
        except ClientError as exc:
            error = exc.response.get("Error", {})
            reason = f"{error.get('Code')}: {error.get('Message', '')}"
            if str(error.get("Message", "")).lstrip().startswith("<"):  # moto crashed: an HTML error page
                reason = f"HTTP {error.get('Code')}, often a property value of the wrong type"
        except ParamValidationError as exc:
            reason = " ".join(str(exc).split())
        except (TypeError, ValueError, KeyError, AttributeError) as exc:  # a value of a shape create cannot use
            reason = f"{type(exc).__name__}: {exc}"
        reason = " ".join(reason.split())  # one line
        named = [p for p in sorted(self.props) if re.search(rf"\b{re.escape(p)}\b", reason)]
        raise ConfigurationError(
            f"the local data plane (moto) refused to create this {self.type_name}: {reason}",
            self.logical_id, named[0] if len(named) == 1 else None,
        ) from None


def boolean(value: Any) -> bool:
    """A template boolean: ``true``/``false`` or their text, as CloudFormation reads them."""
    return str(value).lower() == "true"


def _json_text(logical_id: str, prop: str, value: Any) -> tuple[dict[str, Any] | None, ConfigurationError | None]:
    """A property given as a mapping or as JSON text of one (``RedrivePolicy: '{"maxReceiveCount": 3}'``)."""
    if isinstance(value, dict):
        return value, None
    try:
        parsed = json.loads(str(value))
    except ValueError as exc:
        return None, ConfigurationError(f"is not valid JSON text ({exc})", logical_id, prop)
    if not isinstance(parsed, dict):
        return None, ConfigurationError(f"must be a JSON object, got {str(value)[:60]!r}", logical_id, prop)
    return parsed, None


def _tags(props: dict[str, Any]) -> list[dict[str, str]]:
    return [{"Key": str(t["Key"]), "Value": str(t["Value"])} for t in props.get("Tags", [])]


class Bucket(ResourceType):
    type_name = "AWS::S3::Bucket"
    properties = frozenset({"BucketName", "VersioningConfiguration", "Tags"})
    attributes = frozenset({"Arn", "DomainName", "RegionalDomainName"})
    not_emulated = {"BucketEncryption": ENCRYPTION}

    def create(self, clients: ClientFactory) -> dict[str, Any]:
        name = self.props.get("BucketName") or f"lambdalab-{self.logical_id.lower()}"
        s3 = clients("s3")
        s3.create_bucket(Bucket=name)
        if "VersioningConfiguration" in self.props:
            s3.put_bucket_versioning(
                Bucket=name, VersioningConfiguration={"Status": self.props["VersioningConfiguration"]["Status"]}
            )
        return {
            "Ref": name,
            "Arn": f"arn:aws:s3:::{name}",
            "DomainName": f"{name}.s3.amazonaws.com",
            "RegionalDomainName": f"{name}.s3.{REGION}.amazonaws.com",
        }


class Queue(ResourceType):
    type_name = "AWS::SQS::Queue"
    _attributes = (
        "VisibilityTimeout", "MessageRetentionPeriod", "DelaySeconds", "ReceiveMessageWaitTimeSeconds",
        "MaximumMessageSize", "FifoQueue", "ContentBasedDeduplication", "RedrivePolicy",
        "DeduplicationScope", "FifoThroughputLimit",
    )
    properties = frozenset({"QueueName", "Tags", *_attributes})
    attributes = frozenset({"QueueUrl", "QueueName", "Arn"})
    not_emulated = {"SqsManagedSseEnabled": ENCRYPTION, "KmsMasterKeyId": ENCRYPTION,
                    "KmsDataKeyReusePeriodSeconds": ENCRYPTION,
                    "RedriveAllowPolicy": "which queues may use it as a dead-letter queue"}

    def invalid(self) -> list[ConfigurationError]:
        """``RedrivePolicy`` is JSON text (or a mapping) naming the dead-letter queue's ARN and a
        ``maxReceiveCount`` of at least 1 [SQS-RP]; ``RedriveAllowPolicy`` is JSON text too."""
        found: list[ConfigurationError] = []
        if "RedrivePolicy" in self.props:
            policy, error = _json_text(self.logical_id, "RedrivePolicy", self.props["RedrivePolicy"])
            if error is not None:
                found.append(error)
            elif policy is not None:
                found += _redrive_policy_refusals(self.logical_id, policy)
        if "RedriveAllowPolicy" in self.props:
            _, error = _json_text(self.logical_id, "RedriveAllowPolicy", self.props["RedriveAllowPolicy"])
            found += [error] if error is not None else []
        return found

    def create(self, clients: ClientFactory) -> dict[str, Any]:
        fifo = boolean(self.props.get("FifoQueue"))
        name = self.props.get("QueueName") or (self.logical_id + (".fifo" if fifo else ""))
        attributes = {}
        for key in self._attributes:
            if key in self.props:
                value = self.props[key]
                if key == "FifoQueue" and not fifo:
                    continue  # a standard queue: SQS takes FifoQueue only as true
                if isinstance(value, dict):
                    value = json.dumps(value)
                elif isinstance(value, bool):
                    value = str(value).lower()
                attributes[key] = str(value)
        url = clients("sqs").create_queue(QueueName=name, Attributes=attributes)["QueueUrl"]
        return {"Ref": url, "QueueUrl": url, "QueueName": name, "Arn": f"arn:aws:sqs:{REGION}:{ACCOUNT_ID}:{name}"}


def _redrive_policy_refusals(logical_id: str, policy: dict[str, Any]) -> list[ConfigurationError]:
    found: list[ConfigurationError] = []
    target = policy.get("deadLetterTargetArn")
    if not isinstance(target, str) or not target:
        found.append(ConfigurationError(f"must be the dead-letter queue's ARN (a string), got {target!r}",
                                        logical_id, "RedrivePolicy.deadLetterTargetArn"))
    count = policy.get("maxReceiveCount")
    if isinstance(count, bool) or not isinstance(count, (int, str)) or not str(count).strip().isdigit() \
            or int(count) < 1:
        found.append(ConfigurationError(f"must be a whole number of receives, 1 or more, got {count!r}",
                                        logical_id, "RedrivePolicy.maxReceiveCount"))
    return found


class Topic(ResourceType):
    type_name = "AWS::SNS::Topic"
    properties = frozenset({"TopicName", "DisplayName", "FifoTopic", "ContentBasedDeduplication", "Tags"})
    attributes = frozenset({"TopicArn", "TopicName"})
    not_emulated = {"KmsMasterKeyId": ENCRYPTION, "TracingConfig": "X-Ray tracing"}

    def create(self, clients: ClientFactory) -> dict[str, Any]:
        fifo = boolean(self.props.get("FifoTopic"))
        name = self.props.get("TopicName") or (self.logical_id + (".fifo" if fifo else ""))
        attributes = {"FifoTopic": "true"} if fifo else {}
        arn = clients("sns").create_topic(Name=name, Attributes=attributes)["TopicArn"]
        return {"Ref": arn, "TopicArn": arn, "TopicName": name}


class Stream(ResourceType):
    type_name = "AWS::Kinesis::Stream"
    properties = frozenset({"Name", "ShardCount", "RetentionPeriodHours", "StreamModeDetails", "Tags"})
    attributes = frozenset({"Arn"})
    not_emulated = {"StreamEncryption": ENCRYPTION}

    def create(self, clients: ClientFactory) -> dict[str, Any]:
        name = self.props.get("Name") or self.logical_id
        kinesis = clients("kinesis")
        kinesis.create_stream(StreamName=name, ShardCount=int(self.props.get("ShardCount", 1)))
        arn = kinesis.describe_stream_summary(StreamName=name)["StreamDescriptionSummary"]["StreamARN"]
        return {"Ref": name, "Arn": arn}


class Table(ResourceType):
    type_name = "AWS::DynamoDB::Table"
    _passed = (
        "AttributeDefinitions", "KeySchema", "BillingMode", "ProvisionedThroughput",
        "GlobalSecondaryIndexes", "LocalSecondaryIndexes", "StreamSpecification",
    )
    properties = frozenset({"TableName", "TimeToLiveSpecification", "Tags", *_passed})
    attributes = frozenset({"Arn", "StreamArn"})
    not_emulated = {"SSESpecification": ENCRYPTION, "PointInTimeRecoverySpecification": "point-in-time recovery"}

    def attribute_names(self) -> frozenset[str]:
        """``StreamArn`` only with a ``StreamSpecification``."""
        return self.attributes if "StreamSpecification" in self.props else self.attributes - {"StreamArn"}

    def create(self, clients: ClientFactory) -> dict[str, Any]:
        name = self.props.get("TableName") or self.logical_id
        args: dict[str, Any] = {k: self.props[k] for k in self._passed if k in self.props}
        if "StreamSpecification" in args:
            args["StreamSpecification"] = {"StreamEnabled": True, **args["StreamSpecification"]}
        if args.get("BillingMode") != "PROVISIONED" and "ProvisionedThroughput" not in args:
            args["BillingMode"] = "PAY_PER_REQUEST"
        ddb = clients("dynamodb")
        table = ddb.create_table(TableName=name, **args)["TableDescription"]
        ttl = self.props.get("TimeToLiveSpecification")
        if ttl:
            ddb.update_time_to_live(TableName=name, TimeToLiveSpecification=ttl)
        return {"Ref": name, "Arn": table["TableArn"], "StreamArn": table.get("LatestStreamArn")}


class Parameter(ResourceType):
    type_name = "AWS::SSM::Parameter"
    properties = frozenset({"Name", "Type", "Value", "Description", "Tier", "Tags"})
    attributes = frozenset({"Type", "Value"})

    def create(self, clients: ClientFactory) -> dict[str, Any]:
        name = self.props.get("Name") or self.logical_id
        kind = self.props.get("Type", "String")
        clients("ssm").put_parameter(Name=name, Type=kind, Value=str(self.props["Value"]))
        return {"Ref": name, "Type": kind, "Value": self.props["Value"]}


DATA_PLANE_TYPES: dict[str, type[ResourceType]] = {
    cls.type_name: cls for cls in (Bucket, Queue, Topic, Stream, Table, Parameter)
}

# Accepted, but IAM is not enforced locally: every function may call every local resource.
NOT_ENFORCED_TYPES: dict[str, Callable[[str, dict[str, Any]], dict[str, Any]]] = {
    "AWS::IAM::Role": lambda lid, p: {
        "Ref": p.get("RoleName", lid), "Arn": f"arn:aws:iam::{ACCOUNT_ID}:role/{p.get('RoleName', lid)}",
    },
    "AWS::IAM::Policy": lambda lid, p: {"Ref": lid},
    "AWS::IAM::ManagedPolicy": lambda lid, p: {"Ref": f"arn:aws:iam::{ACCOUNT_ID}:policy/{lid}"},
    "AWS::Lambda::Permission": lambda lid, p: {"Ref": lid},
    "AWS::SQS::QueuePolicy": lambda lid, p: {"Ref": lid},
    "AWS::SNS::TopicPolicy": lambda lid, p: {"Ref": lid},
    "AWS::Lambda::LayerVersionPermission": lambda lid, p: {"Ref": lid},
}

# Accepted, with nothing behind them locally (the start notice lists them): type -> (what it is,
# its Ref/GetAtt values).
NOT_EMULATED_TYPES: dict[str, tuple[str, Callable[[str, dict[str, Any]], dict[str, Any]]]] = {
    "AWS::Logs::LogGroup": ("a log group (logs stay in cloud.logs())", lambda lid, p: {
        "Ref": p.get("LogGroupName", lid),
        "Arn": f"arn:aws:logs:{REGION}:{ACCOUNT_ID}:log-group:{p.get('LogGroupName', lid)}:*",
    }),
}
