"""Create a template's data-plane resources (S3, SQS, SNS, Kinesis, DynamoDB, SSM, IAM roles) in moto.

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


class Role(ResourceType):
    """An execution role: created in moto's IAM with its inline and managed policies, which a
    function using it is held to (``lambdalab.dataplane.roles``) [ROLE]."""

    type_name = "AWS::IAM::Role"
    properties = frozenset({"AssumeRolePolicyDocument", "ManagedPolicyArns", "Policies", "RoleName", "Path",
                            "Description", "MaxSessionDuration", "Tags"})
    attributes = frozenset({"Arn", "RoleId"})
    not_emulated = {"PermissionsBoundary": "a permissions boundary (not evaluated locally)"}

    def create(self, clients: ClientFactory) -> dict[str, Any]:
        name = str(self.props.get("RoleName") or self.logical_id)
        iam = clients("iam")
        args: dict[str, Any] = {k: self.props[k] for k in ("Path", "Description") if k in self.props}
        if "MaxSessionDuration" in self.props:
            args["MaxSessionDuration"] = int(self.props["MaxSessionDuration"])
        if self.props.get("Tags"):
            args["Tags"] = _tags(self.props)
        role = iam.create_role(RoleName=name, AssumeRolePolicyDocument=_document(
            self.props.get("AssumeRolePolicyDocument", {})), **args)["Role"]
        for policy in self.props.get("Policies") or []:
            iam.put_role_policy(RoleName=name, PolicyName=str(policy["PolicyName"]),
                                PolicyDocument=_document(policy["PolicyDocument"]))
        for arn in self.props.get("ManagedPolicyArns") or []:
            attach_managed_policy(iam, name, str(arn))
        return {"Ref": name, "Arn": role["Arn"], "RoleId": role["RoleId"]}


class Policy(ResourceType):
    """An inline policy put on each of its ``Roles``."""

    type_name = "AWS::IAM::Policy"
    properties = frozenset({"PolicyName", "PolicyDocument", "Roles"})
    attributes = frozenset({"Id"})
    not_emulated = {"Users": "policies of IAM users", "Groups": "policies of IAM groups"}

    def create(self, clients: ClientFactory) -> dict[str, Any]:
        iam = clients("iam")
        for role in self.props.get("Roles") or []:
            iam.put_role_policy(RoleName=_role_name(role), PolicyName=str(self.props["PolicyName"]),
                                PolicyDocument=_document(self.props["PolicyDocument"]))
        return {"Ref": self.logical_id, "Id": self.logical_id}


class ManagedPolicy(ResourceType):
    """A customer managed policy, attached to each of its ``Roles``."""

    type_name = "AWS::IAM::ManagedPolicy"
    properties = frozenset({"ManagedPolicyName", "PolicyDocument", "Roles", "Path", "Description"})
    attributes = frozenset({"PolicyArn"})
    not_emulated = {"Users": "policies of IAM users", "Groups": "policies of IAM groups"}

    def create(self, clients: ClientFactory) -> dict[str, Any]:
        iam = clients("iam")
        args = {k: self.props[k] for k in ("Path", "Description") if k in self.props}
        arn = iam.create_policy(PolicyName=str(self.props.get("ManagedPolicyName") or self.logical_id),
                                PolicyDocument=_document(self.props["PolicyDocument"]), **args)["Policy"]["Arn"]
        for role in self.props.get("Roles") or []:
            iam.attach_role_policy(RoleName=_role_name(role), PolicyArn=arn)
        return {"Ref": arn, "PolicyArn": arn}


def _document(value: Any) -> str:
    """A policy document as IAM takes it: JSON text. One without ``Version`` (IAM reads it as
    2008-10-17; SAM's policy templates have none) is given 2012-10-17, which moto requires."""
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            return str(value)
    if isinstance(value, dict) and "Version" not in value:
        value = {"Version": "2012-10-17", **value}
    return json.dumps(value)


def _role_name(value: Any) -> str:
    """A role's name, from its name or its ARN."""
    return str(value).rpartition("/")[2]


def attach_managed_policy(iam: Any, role: str, arn: str) -> None:
    """Attach a managed policy; one of AWS's (``arn:aws:iam::aws:policy/...``) is first loaded into
    moto, which holds none of them by default."""
    from lambdalab.dataplane.patches.iam import load_aws_managed_policy

    if ":iam::aws:policy/" in arn:
        load_aws_managed_policy(arn, ACCOUNT_ID)
    iam.attach_role_policy(RoleName=role, PolicyArn=arn)


class Alarm(ResourceType):
    """A single-metric CloudWatch alarm, evaluated on the cloud's clock [ALARM]
    (``lambdalab.observe.alarms``); metric math and anomaly detection are refused by name."""

    type_name = "AWS::CloudWatch::Alarm"
    _passed = (
        "AlarmDescription", "ActionsEnabled", "AlarmActions", "OKActions", "InsufficientDataActions",
        "ComparisonOperator", "DatapointsToAlarm", "Dimensions", "EvaluationPeriods", "ExtendedStatistic",
        "MetricName", "Namespace", "Period", "Statistic", "Threshold", "TreatMissingData", "Unit",
        "EvaluateLowSampleCountPercentile",
    )
    # Refused by name in ``invalid``, saying what they are.
    _refused = {"Metrics": "metric math alarms are not supported locally",
                "ThresholdMetricId": "anomaly detection alarms are not supported locally"}
    properties = frozenset({"AlarmName", "Tags", *_passed, *_refused})
    attributes = frozenset({"Arn"})
    not_emulated = {"EvaluateLowSampleCountPercentile": "how a percentile alarm treats few samples"}
    _comparisons = ("GreaterThanOrEqualToThreshold", "GreaterThanThreshold", "LessThanThreshold",
                    "LessThanOrEqualToThreshold")
    _statistics = ("SampleCount", "Average", "Sum", "Minimum", "Maximum")

    def invalid(self) -> list[ConfigurationError]:
        lid, props = self.logical_id, self.props
        found = [ConfigurationError(what, lid, name) for name, what in self._refused.items() if name in props]
        if found:
            return found
        operator = props.get("ComparisonOperator")
        if operator is not None and operator not in self._comparisons:
            found.append(ConfigurationError(f"{operator} compares with an anomaly detection band, which is not "
                                            "supported locally", lid, "ComparisonOperator"))
        for name in ("Namespace", "MetricName", "Period", "ComparisonOperator", "EvaluationPeriods", "Threshold"):
            if name not in props:
                found.append(ConfigurationError("is required for an alarm on one metric", lid, name))
        statistic, extended = props.get("Statistic"), props.get("ExtendedStatistic")
        if (statistic is None) == (extended is None):
            found.append(ConfigurationError("give exactly one of Statistic and ExtendedStatistic", lid,
                                            "ExtendedStatistic" if extended is not None else "Statistic"))
        elif extended is not None and not re.fullmatch(r"p(\d{1,2}(\.\d+)?|100)", str(extended)):
            found.append(ConfigurationError(f"only percentiles (p90, p99.9) are supported locally, got {extended!r}",
                                            lid, "ExtendedStatistic"))
        elif statistic is not None and statistic not in self._statistics:
            found.append(ConfigurationError(f"must be one of {', '.join(self._statistics)}, got {statistic!r}",
                                            lid, "Statistic"))
        period = str(props.get("Period", "60"))
        if not period.isdigit() or (int(period) not in (10, 20, 30) and (int(period) < 60 or int(period) % 60)):
            found.append(ConfigurationError(f"must be 10, 20, 30 or a multiple of 60 seconds, got {period}",
                                            lid, "Period"))
        periods, to_alarm = str(props.get("EvaluationPeriods")), str(props.get("DatapointsToAlarm", 1))
        if periods.isdigit() and to_alarm.isdigit() and not 1 <= int(to_alarm) <= int(periods):
            found.append(ConfigurationError(f"must be from 1 to EvaluationPeriods ({periods}), got {to_alarm}",
                                            lid, "DatapointsToAlarm"))
        return found

    def accepted_not_emulated(self) -> list[tuple[str, str]]:
        """Actions other than an SNS topic (Auto Scaling, EC2, Systems Manager, Lambda) do nothing locally."""
        found = super().accepted_not_emulated()
        for name in ("AlarmActions", "OKActions", "InsufficientDataActions"):
            if any(not str(arn).startswith("arn:aws:sns:") for arn in self.props.get(name) or []):
                found.append((name, "alarm actions other than an SNS topic"))
        return found

    def create(self, clients: ClientFactory) -> dict[str, Any]:
        name = self.props.get("AlarmName") or self.logical_id
        args: dict[str, Any] = {key: self.props[key] for key in self._passed if key in self.props}
        for key in ("Period", "EvaluationPeriods", "DatapointsToAlarm"):
            if key in args:
                args[key] = int(args[key])
        args["Threshold"] = float(args["Threshold"])
        if "ActionsEnabled" in args:
            args["ActionsEnabled"] = boolean(args["ActionsEnabled"])
        args["Dimensions"] = [{"Name": str(d["Name"]), "Value": str(d["Value"])} for d in args.get("Dimensions", [])]
        if "Tags" in self.props:
            args["Tags"] = _tags(self.props)
        clients("cloudwatch").put_metric_alarm(AlarmName=name, **args)
        return {"Ref": name, "Arn": f"arn:aws:cloudwatch:{REGION}:{ACCOUNT_ID}:alarm:{name}"}


DATA_PLANE_TYPES: dict[str, type[ResourceType]] = {
    cls.type_name: cls for cls in (Bucket, Queue, Topic, Stream, Table, Parameter, Role, Policy, ManagedPolicy, Alarm)
}

# Accepted, with nothing enforced locally.
NOT_ENFORCED_TYPES: dict[str, Callable[[str, dict[str, Any]], dict[str, Any]]] = {
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

# Fired by the engine's clock (lambdalab.sources.schedules), not by moto: type -> its Ref/GetAtt values.
SCHEDULE_TYPES: dict[str, Callable[[str, dict[str, Any]], dict[str, Any]]] = {
    "AWS::Events::Rule": lambda lid, p: {
        "Ref": p.get("Name", lid), "Arn": f"arn:aws:events:{REGION}:{ACCOUNT_ID}:rule/{p.get('Name', lid)}",
    },
    "AWS::Scheduler::Schedule": lambda lid, p: {
        "Ref": p.get("Name", lid),
        "Arn": f"arn:aws:scheduler:{REGION}:{ACCOUNT_ID}:schedule/{p.get('GroupName', 'default')}/{p.get('Name', lid)}",
    },
}
