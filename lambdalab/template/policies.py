"""The missing-policy rule: a function whose Environment refers to a table, queue, topic, bucket or
stream that its SAM ``Policies`` grant nothing on.

Such a function fails with AccessDenied at its first call (on AWS, and locally where the engine
evaluates the role); this rule says so before anything runs. It reads the template as written and
stays conservative: anything it cannot relate to a resource (a managed policy it does not know, a
literal ARN or name, ``*``, a parameter, a condition) counts as a grant, and functions with their own
``Role`` or a connector are skipped.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from importlib.resources import files
from typing import Any

from lambdalab.template.intrinsics import references

# Resource type -> (IAM service prefix, a policy template that grants it, with its parameter).
SERVICES = {
    "AWS::DynamoDB::Table": ("dynamodb", "DynamoDBCrudPolicy: {{TableName: !Ref {}}}"),
    "AWS::SQS::Queue": ("sqs", "SQSSendMessagePolicy: {{QueueName: !GetAtt {}.QueueName}}"),
    "AWS::SNS::Topic": ("sns", "SNSPublishMessagePolicy: {{TopicName: !GetAtt {}.TopicName}}"),
    "AWS::S3::Bucket": ("s3", "S3CrudPolicy: {{BucketName: !Ref {}}}"),
    "AWS::Kinesis::Stream": ("kinesis", "KinesisCrudPolicy: {{StreamName: !Ref {}}}"),
}
# Name fragments of AWS managed policies -> the service they grant on every resource.
MANAGED_KEYWORDS = {"dynamodb": "dynamodb", "sqs": "sqs", "sns": "sns", "s3": "s3", "kinesis": "kinesis"}
# AWS managed policies that grant none of these services (logs, X-Ray, network interfaces).
MANAGED_WITHOUT_DATA = {
    "AWSLambdaBasicExecutionRole", "AWSLambdaVPCAccessExecutionRole", "AWSXRayDaemonWriteAccess",
    "AWSXrayWriteOnlyAccess", "CloudWatchLambdaInsightsExecutionRolePolicy",
}
# Event sources whose SAM execution policy reads that service on every resource.
POLLING_EVENTS = {"SQS": "sqs", "Kinesis": "kinesis", "DynamoDB": "dynamodb"}
EVERY_SERVICE = frozenset({"*"})


@dataclass(frozen=True)
class Grant:
    """Some access to ``services`` ("*" for all) on ``targets`` (logical ids; None: unknown, so any)."""

    services: frozenset[str]
    targets: frozenset[str] | None

    def covers(self, service: str, logical_id: str) -> bool:
        return bool(self.services & {service, "*"}) and (self.targets is None or logical_id in self.targets)


@cache
def _template_services() -> dict[str, frozenset[str]]:
    """Each SAM policy template's IAM services, read from the translator's own definitions."""
    data = files("samtranslator") / "policy_templates_data" / "policy_templates.json"
    templates = json.loads(data.read_text())["Templates"]
    return {name: _action_services(body["Definition"]) for name, body in templates.items()}


def _action_services(value: Any) -> frozenset[str]:
    found: set[str] = set()
    if isinstance(value, dict):
        for key, item in value.items():
            if key in ("Action", "NotAction"):
                actions = item if isinstance(item, list) else [item]
                found |= {"*" if key == "NotAction" or a == "*" else str(a).split(":")[0].lower() for a in actions}
            else:
                found |= _action_services(item)
    elif isinstance(value, list):
        for item in value:
            found |= _action_services(item)
    return frozenset(found)


def _targets(value: Any, resources: dict[str, Any]) -> frozenset[str] | None:
    """The template's resources a value names; None when it names none (a literal, ``*``, a parameter)."""
    named = frozenset(r for r in references(value) if r in resources)
    return named or None


def _managed(name: str) -> Grant:
    short = name.rsplit("/", 1)[-1]
    if ":iam::aws:policy/" not in name and name.startswith("arn:"):
        return Grant(EVERY_SERVICE, None)  # a customer managed policy: could grant anything
    if short in MANAGED_WITHOUT_DATA:
        return Grant(frozenset(), None)
    services = frozenset(s for word, s in MANAGED_KEYWORDS.items() if word in short.lower())
    return Grant(services or EVERY_SERVICE, None)


def _statements(document: dict[str, Any], resources: dict[str, Any]) -> list[Grant]:
    statements = document.get("Statement", [])
    grants = []
    for statement in statements if isinstance(statements, list) else [statements]:
        if not isinstance(statement, dict) or statement.get("Effect", "Allow") != "Allow":
            continue
        services = _action_services({k: v for k, v in statement.items() if k in ("Action", "NotAction")})
        targets = None if "NotResource" in statement else _targets(statement.get("Resource"), resources)
        grants.append(Grant(services or EVERY_SERVICE, targets))
    return grants


def policy_grants(policies: Any, resources: dict[str, Any]) -> list[Grant]:
    """What a function's SAM ``Policies`` grant, item by item."""
    items = policies if isinstance(policies, list) else [policies]
    grants: list[Grant] = []
    for item in items:
        if isinstance(item, str):
            grants.append(_managed(item))
        elif isinstance(item, dict) and "Statement" in item:
            grants += _statements(item, resources)
        elif isinstance(item, dict) and len(item) == 1 and next(iter(item)) in _template_services():
            name, parameters = next(iter(item.items()))
            grants.append(Grant(_template_services()[name], _targets(parameters, resources)))
        elif item is not None:
            grants.append(Grant(EVERY_SERVICE, None))  # an intrinsic (Ref, Fn::If ...): unknown
    return grants


def _implicit_grants(props: dict[str, Any], resources: dict[str, Any]) -> list[Grant]:
    """What SAM adds without ``Policies``: polling sources' execution policies, DLQ and destinations."""
    grants = []
    for event in (props.get("Events") or {}).values():
        if isinstance(event, dict) and event.get("Type") in POLLING_EVENTS:
            grants.append(Grant(frozenset({POLLING_EVENTS[event["Type"]]}), None))
    for key in ("DeadLetterQueue", "EventInvokeConfig"):
        if props.get(key):
            grants.append(Grant(EVERY_SERVICE, _targets(props[key], resources) or frozenset()))
    return grants


def _environment_uses(props: dict[str, Any], resources: dict[str, Any]) -> list[tuple[str, str]]:
    """(variable, logical id) for each variable naming a resource of a type the rule knows."""
    variables = (props.get("Environment") or {}).get("Variables") or {}
    uses = []
    for name, value in variables.items():
        for logical_id in sorted(references(value)):
            if resources.get(logical_id, {}).get("Type") in SERVICES:
                uses.append((name, logical_id))
    return uses


def missing_policies(sam: dict[str, Any]) -> list[tuple[str, str]]:
    """(function logical id, message) for each resource a function uses without any grant on it."""
    resources = {k: v for k, v in (sam.get("Resources") or {}).items() if isinstance(v, dict)}
    shared = ((sam.get("Globals") or {}).get("Function")) or {}
    connectors = [v for v in resources.values() if v.get("Type") == "AWS::Serverless::Connector"]
    connected = set().union(*(references(v) for v in connectors))
    findings = []
    for function_id, resource in resources.items():
        props = resource.get("Properties") or {}
        if resource.get("Type") != "AWS::Serverless::Function" or "Role" in props:
            continue
        if function_id in connected or "Connectors" in resource:
            continue
        implicit = {k: props.get(k, shared.get(k)) for k in ("Events", "DeadLetterQueue", "EventInvokeConfig")}
        grants = policy_grants(props.get("Policies") or [], resources) + _implicit_grants(implicit, resources)
        for variable, used in _environment_uses(props, resources):
            kind = resources[used]["Type"]
            service, template = SERVICES[kind]
            if not any(g.covers(service, used) for g in grants):
                findings.append((function_id, (
                    f"{function_id}.Policies: grant nothing on {used} ({kind}), which Environment variable "
                    f"{variable} refers to; on AWS the function's calls to it fail with AccessDenied. "
                    f"Add a policy template scoped to it, e.g. `- {template.format(used)}`")))
    return findings
