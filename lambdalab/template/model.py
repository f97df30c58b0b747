"""Turn a transformed template into what the engine runs: data-plane resources, functions, APIs.

Every resource type and property is either handled or refused with a ConfigurationError naming
the logical id and the property: nothing in a template is silently skipped.
"""

from __future__ import annotations

import hashlib
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from lambdalab.config import (
    ACCOUNT_ID,
    REGION,
    EventInvokeConfig,
    EventSource,
    FunctionConfig,
    check_environment_keys,
)
from lambdalab.dataplane.provision import DATA_PLANE_TYPES, NOT_ENFORCED_TYPES, ClientFactory, ResourceType
from lambdalab.errors import ConfigurationError
from lambdalab.template.intrinsics import Resolver, references
from lambdalab.template.load import LoadedTemplate
from lambdalab.template.openapi import SAM_API_TYPES, check_sam_apis, operations
from lambdalab.validation import integer

FUNCTION_PROPERTIES = frozenset({
    "Code", "Handler", "Runtime", "Timeout", "MemorySize", "Environment", "ReservedConcurrentExecutions",
    "Role", "Tags", "Architectures", "DeadLetterConfig", "Description", "FunctionName", "PackageType",
})
API_TYPES = {
    "AWS::ApiGateway::RestApi": "REST", "AWS::ApiGatewayV2::Api": "HTTP",
}
API_PARTS = {"AWS::ApiGateway::Deployment", "AWS::ApiGateway::Stage", "AWS::ApiGatewayV2::Stage"}
# What the local API Gateway honours (or that changes nothing locally, like tags and descriptions);
# any other API or stage property (throttling, stage variables, binary media types...) is refused.
API_PROPERTIES = frozenset({
    "Body", "Name", "Description", "Tags", "EndpointConfiguration", "Parameters", "FailOnWarnings",
    "DeploymentId", "RestApiId", "ApiId", "StageName", "AutoDeploy",
})
# Integration timeouts: REST 50 ms-29 s (more only by a quota request), HTTP APIs 50 ms-30 s [REST-Q],[HTTP-Q].
INTEGRATION_TIMEOUT_MS = {"REST": (50, 29000), "HTTP": (50, 30000)}
EVENT_INVOKE_CONFIG = "AWS::Lambda::EventInvokeConfig"
EVENT_SOURCE_MAPPING = "AWS::Lambda::EventSourceMapping"
SUBSCRIPTION = "AWS::SNS::Subscription"
_FUNCTION_IN_URI = re.compile(r"\$\{(\w+)\.Arn\}")


@dataclass(frozen=True)
class Route:
    method: str  # GET, POST, ..., or ANY
    path: str  # /orders/{id}, /{proxy+}
    function: str  # logical id
    payload_format: str  # "1.0" or "2.0"
    timeout_ms: int


@dataclass(frozen=True)
class ApiConfig:
    logical_id: str
    kind: str  # "REST" (payload 1.0) or "HTTP" (API Gateway v2)
    api_id: str
    stage: str
    routes: tuple[Route, ...]


@dataclass
class CloudModel:
    """The template split by who serves each resource; ``deploy`` fills in physical values."""

    template: LoadedTemplate
    code_dirs: dict[str, Path]
    resources: dict[str, dict[str, Any]]
    parameters: dict[str, Any]
    attrs: dict[str, dict[str, Any]] = field(default_factory=dict)
    functions: dict[str, FunctionConfig] = field(default_factory=dict)
    apis: dict[str, ApiConfig] = field(default_factory=dict)
    env_overrides: dict[str, dict[str, str]] = field(default_factory=dict)
    # Wiring the event-source modules read and validate (resolved properties, by logical id): the
    # data plane never sees it, because moto would try to run functions itself.
    event_source_mappings: dict[str, dict[str, Any]] = field(default_factory=dict)
    subscriptions: dict[str, dict[str, Any]] = field(default_factory=dict)
    bucket_notifications: dict[str, dict[str, Any]] = field(default_factory=dict)

    def lookup(self, logical_id: str, attr: str) -> Any:
        if logical_id not in self.resources:
            raise ConfigurationError(f"refers to {logical_id!r}, which is not a resource of the template")
        values = self.attrs.get(logical_id)
        if values is None:
            raise ConfigurationError(f"{logical_id} is referenced before it exists (a cycle?)")
        if attr not in values or values[attr] is None:
            raise ConfigurationError(f"Fn::GetAtt {attr} is not available locally", logical_id, attr)
        return values[attr]

    def deployed(self, resource_type: str) -> dict[str, dict[str, Any]]:
        """The physical values (``Ref``, ``Arn``...) of each deployed ``resource_type`` resource, by logical id."""
        return {lid: self.attrs[lid] for lid, resource in self.resources.items()
                if resource.get("Type") == resource_type and lid in self.attrs}

    def logical_id_of(self, resource_type: str, attribute: str, value: Any) -> str | None:
        """The ``resource_type`` resource whose ``attribute`` is ``value`` (the queue of an ARN), if any."""
        return next((lid for lid, attrs in self.deployed(resource_type).items() if attrs.get(attribute) == value),
                    None)

    def resolver(self) -> Resolver:
        return Resolver(self.lookup, self.parameters)

    def order(self) -> list[str]:
        """Logical ids in dependency order (Ref, GetAtt, Sub, DependsOn)."""
        done: list[str] = []
        state: dict[str, int] = {}

        def visit(lid: str) -> None:
            if state.get(lid) == 2:
                return
            if state.get(lid) == 1:
                raise ConfigurationError("circular reference between resources", lid)
            state[lid] = 1
            res = self.resources[lid]
            deps = references(res.get("Properties", {}))
            depends_on = res.get("DependsOn", [])
            deps |= set([depends_on] if isinstance(depends_on, str) else depends_on)
            for dep in sorted(deps):
                if dep in self.resources:
                    visit(dep)
                elif dep not in self.parameters:
                    raise ConfigurationError(f"refers to unknown resource or parameter {dep!r}", lid)
            state[lid] = 2
            done.append(lid)

        for lid in self.resources:
            visit(lid)
        return done

    def deploy(self, clients: ClientFactory) -> None:
        """Provision the data plane and build function and API configs, in dependency order."""
        resolver = self.resolver()
        invoke_configs: dict[str, EventInvokeConfig] = {}
        for lid in self.order():
            res = self.resources[lid]
            kind = res["Type"]
            props = resolver.resolve(res.get("Properties", {}), (lid, "Properties"))
            if kind in API_TYPES or kind in API_PARTS:
                unknown = sorted(set(props) - API_PROPERTIES)
                if unknown:
                    raise ConfigurationError(f"property not supported locally for {kind}", lid, unknown[0])
            if kind in DATA_PLANE_TYPES:
                if kind == "AWS::S3::Bucket" and "NotificationConfiguration" in props:
                    self.bucket_notifications[lid] = props.pop("NotificationConfiguration")
                resource: ResourceType = DATA_PLANE_TYPES[kind](lid, props)
                resource.check()
                self.attrs[lid] = resource.provision(clients)
            elif kind in NOT_ENFORCED_TYPES:
                self.attrs[lid] = NOT_ENFORCED_TYPES[kind](lid, props)
            elif kind == "AWS::Lambda::Function":
                fn = self._function(lid, props)
                self.functions[lid] = fn
                self.attrs[lid] = {"Ref": fn.FunctionName, "Arn": fn.FunctionArn}
            elif kind == EVENT_INVOKE_CONFIG:
                target, config = _event_invoke_config(lid, props)
                invoke_configs[target] = config
                self.attrs[lid] = {"Ref": lid}
            elif kind in API_TYPES:
                self.attrs[lid] = {"Ref": _api_id(lid), "RootResourceId": "root", "ApiEndpoint": ""}
            elif kind in API_PARTS:
                self.attrs[lid] = {"Ref": lid}
            elif kind == EVENT_SOURCE_MAPPING:
                self.event_source_mappings[lid] = props
                self.attrs[lid] = {"Ref": _uuid(lid), "Id": _uuid(lid)}
            elif kind == SUBSCRIPTION:
                self.subscriptions[lid] = props
                self.attrs[lid] = {"Ref": f"{props.get('TopicArn')}:{_uuid(lid)}"}
            else:
                raise ConfigurationError(f"resource type {kind} is not supported locally", lid, "Type")
        for target, config in invoke_configs.items():
            match = [f for f in self.functions.values() if target in (f.FunctionName, f.FunctionArn)]
            if not match:
                raise ConfigurationError("FunctionName is not a function of the template", target, "FunctionName")
            self.functions[match[0].logical_id] = replace(match[0], EventInvokeConfig=config)
        self.apis = {lid: self._api(lid) for lid, r in self.resources.items() if r["Type"] in API_TYPES}

    def _function(self, lid: str, props: dict[str, Any]) -> FunctionConfig:
        unknown = sorted(set(props) - FUNCTION_PROPERTIES)
        if unknown:
            raise ConfigurationError("property not supported locally for a function", lid, unknown[0])
        if props.get("PackageType", "Zip") != "Zip":
            raise ConfigurationError("container image functions are not supported locally", lid, "PackageType")
        runtime = str(props.get("Runtime", ""))
        if not runtime.startswith("python3"):
            raise ConfigurationError(f"runtime {runtime!r} is not supported locally (python3.x only)", lid, "Runtime")
        handler = props.get("Handler")
        if not isinstance(handler, str) or "." not in handler:
            raise ConfigurationError("Handler must look like module.function", lid, "Handler")
        if lid not in self.code_dirs:
            raise ConfigurationError("Code must come from a SAM CodeUri directory", lid, "Code")
        code_dir = self.code_dirs[lid]
        _check_handler_module(lid, code_dir, handler)
        timeout = _int_in_range(lid, "Timeout", props.get("Timeout", 3), 1, 900)
        memory = _int_in_range(lid, "MemorySize", props.get("MemorySize", 128), 128, 10240)
        reserved = props.get("ReservedConcurrentExecutions")
        if reserved is not None:
            reserved = _int_in_range(lid, "ReservedConcurrentExecutions", reserved, 0, 1000)
        env = props.get("Environment", {}).get("Variables", {}) or {}
        sam_events = self.template.sam["Resources"].get(lid, {}).get("Properties", {}).get("Events", {}) or {}
        events = tuple(
            EventSource(name, str(ev.get("Type")), dict(ev.get("Properties", {}) or {}))
            for name, ev in sam_events.items()
        )
        dlq = (props.get("DeadLetterConfig") or {}).get("TargetArn")
        return FunctionConfig(
            logical_id=lid,
            FunctionName=str(props.get("FunctionName") or lid),
            Handler=handler,
            Runtime=runtime,
            CodeUri=code_dir,
            Timeout=timeout,
            MemorySize=memory,
            Environment={str(k): _env_value(lid, k, v) for k, v in env.items()},
            ReservedConcurrentExecutions=reserved,
            DeadLetterQueue=dlq,
            Events=events,
            Architectures=tuple(props.get("Architectures", ["x86_64"])),
        )

    def _api(self, lid: str) -> ApiConfig:
        res = self.resources[lid]
        kind = API_TYPES[res["Type"]]
        body = res.get("Properties", {}).get("Body")
        if not isinstance(body, dict):
            raise ConfigurationError("an API needs an inline definition (Body) locally", lid, "Body")
        sam_type = self.template.sam["Resources"].get(lid, {}).get("Type")
        where = "DefinitionBody" if sam_type in SAM_API_TYPES else "Body"
        routes = []
        for path, method, integration, at in operations(lid, where, body):
            uri = integration.get("uri", {})
            text = uri.get("Fn::Sub", "") if isinstance(uri, dict) else str(uri)
            text = text[0] if isinstance(text, list) else text
            found = _FUNCTION_IN_URI.search(str(text))
            if integration.get("type") != "aws_proxy":
                raise ConfigurationError("only Lambda proxy integrations are supported locally", lid, at)
            if not found or found.group(1) not in self.functions:
                raise ConfigurationError(f"integration of {method.upper()} {path} is not a template function", lid, at)
            routes.append(Route(
                method="ANY" if method == "x-amazon-apigateway-any-method" else method.upper(),
                path=path,
                function=found.group(1),
                payload_format=str(integration.get("payloadFormatVersion", "2.0" if kind == "HTTP" else "1.0")),
                timeout_ms=_int_in_range(lid, f"{path} timeoutInMillis",
                                         integration.get("timeoutInMillis", INTEGRATION_TIMEOUT_MS[kind][1]),
                                         *INTEGRATION_TIMEOUT_MS[kind]),
            ))
        stage = "$default" if kind == "HTTP" else "Prod"
        for other in self.resources.values():
            p = other.get("Properties", {})
            if other["Type"] in ("AWS::ApiGateway::Stage", "AWS::ApiGatewayV2::Stage") and \
                    {"Ref": lid} in (p.get("RestApiId"), p.get("ApiId")):
                stage = str(p.get("StageName", stage))
        return ApiConfig(lid, kind, _api_id(lid), stage, tuple(routes))


def _uuid(lid: str) -> str:
    """A UUID derived from the logical id, so physical ids are the same every run."""
    return str(uuid.UUID(hashlib.sha256(lid.encode()).hexdigest()[:32]))


def _api_id(lid: str) -> str:
    """A 10-character id like AWS's, derived from the logical id so it is the same every run."""
    return hashlib.sha256(lid.encode()).hexdigest()[:10]


def _env_value(lid: str, key: str, value: Any) -> str:
    if isinstance(value, (dict, list)):
        raise ConfigurationError("environment values must resolve to strings", lid, f"Environment.{key}")
    return str(value).lower() if isinstance(value, bool) else str(value)


def _int_in_range(lid: str, prop: str, value: Any, low: int, high: int) -> int:
    return integer(value, low, high, refuse=lambda problem: ConfigurationError(str(problem), lid, prop))


def _check_handler_module(lid: str, code_dir: Path, handler: str) -> None:
    if not code_dir.is_dir():
        raise ConfigurationError(f"CodeUri directory {code_dir} does not exist", lid, "CodeUri")
    module = handler.rsplit(".", 1)[0].replace(".", "/")
    if not ((code_dir / f"{module}.py").is_file() or (code_dir / module / "__init__.py").is_file()):
        raise ConfigurationError(f"handler module {module}.py not found in {code_dir}", lid, "Handler")


def _event_invoke_config(lid: str, props: dict[str, Any]) -> tuple[str, EventInvokeConfig]:
    allowed = {"FunctionName", "Qualifier", "MaximumRetryAttempts", "MaximumEventAgeInSeconds", "DestinationConfig"}
    unknown = sorted(set(props) - allowed)
    if unknown:
        raise ConfigurationError("property not supported locally", lid, unknown[0])
    if props.get("Qualifier", "$LATEST") != "$LATEST":
        raise ConfigurationError("only the $LATEST qualifier is supported locally", lid, "Qualifier")
    dest = props.get("DestinationConfig", {}) or {}
    config = EventInvokeConfig(
        MaximumRetryAttempts=_int_in_range(lid, "MaximumRetryAttempts", props.get("MaximumRetryAttempts", 2), 0, 2),
        MaximumEventAgeInSeconds=_int_in_range(
            lid, "MaximumEventAgeInSeconds", props.get("MaximumEventAgeInSeconds", 21600), 60, 21600
        ),
        OnSuccess=(dest.get("OnSuccess") or {}).get("Destination"),
        OnFailure=(dest.get("OnFailure") or {}).get("Destination"),
    )
    return str(props["FunctionName"]), config


def build_model(template: LoadedTemplate, code_path: Callable[[str], str] | None = None) -> CloudModel:
    """Classify and check the template; ``code_path`` may rewrite each CodeUri (labs -> solutions)."""
    base = template.path.parent
    code_dirs = {
        lid: (base / (code_path(uri) if code_path else uri)).resolve() for lid, uri in template.code_uris.items()
    }
    params = {
        name: spec["Default"]
        for name, spec in (template.cfn.get("Parameters") or {}).items()
        if isinstance(spec, dict) and "Default" in spec
    }
    missing = [n for n in (template.cfn.get("Parameters") or {}) if n not in params]
    if missing:
        raise ConfigurationError("parameters need a Default to run locally", missing[0], "Default")
    if template.cfn.get("Conditions"):
        raise ConfigurationError("Conditions are not supported locally", "Conditions")
    check_sam_apis(template.sam)
    resources = template.cfn["Resources"]
    for lid, res in resources.items():
        if "Condition" in res:
            raise ConfigurationError("Conditions are not supported locally", lid, "Condition")
        if res.get("Type") == "AWS::Lambda::Function":
            environment = (res.get("Properties") or {}).get("Environment") or {}
            if isinstance(environment, dict):
                check_environment_keys(lid, environment.get("Variables"))
    return CloudModel(template, code_dirs, resources, params)


__all__ = ["ACCOUNT_ID", "REGION", "ApiConfig", "CloudModel", "Route", "build_model"]
