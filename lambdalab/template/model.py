"""Turn a transformed template into what the engine runs: data-plane resources, functions, APIs.

Every resource type and property is handled, accepted as having no local effect (listed by
``not_emulated`` for the start notice), or refused with a ConfigurationError naming the logical id
and the property: nothing in a template is silently skipped. ``build_model`` first runs the whole
deployment dry (no data plane: placeholders for physical values) and raises every refusal at once.
"""

from __future__ import annotations

import functools
import hashlib
import re
import uuid
from collections.abc import Callable, Iterable
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
from lambdalab.dataplane.provision import (
    DATA_PLANE_TYPES,
    NOT_EMULATED_TYPES,
    NOT_ENFORCED_TYPES,
    SCHEDULE_TYPES,
    ClientFactory,
    ResourceType,
)
from lambdalab.errors import ConfigurationError
from lambdalab.sources.schedules.rules import Schedule, as_sam_event
from lambdalab.sources.schedules.rules import read as read_schedule
from lambdalab.sources.statemachines.resource import StateMachine
from lambdalab.template.conditions import Conditions
from lambdalab.template.cors import CORS_KEY, Cors, cors_of, mock_answer
from lambdalab.template.intrinsics import Resolver, references
from lambdalab.template.layers import LAYER_VERSION, layer_arn, layer_paths
from lambdalab.template.load import LoadedTemplate, load_template, with_definitions
from lambdalab.template.openapi import SAM_API_TYPES, operations, sam_api_refusals
from lambdalab.template.parameters import parameter_values
from lambdalab.template.refusals import Refusal, Refused, TemplateRefused, as_written, flatten, located
from lambdalab.template.schema import schema_refusals
from lambdalab.validation import integer

FUNCTION_PROPERTIES = frozenset({
    "Code", "Handler", "Runtime", "Timeout", "MemorySize", "Environment", "ReservedConcurrentExecutions",
    "Role", "Tags", "Architectures", "DeadLetterConfig", "Description", "FunctionName", "PackageType", "Layers",
})
TRACING = "X-Ray tracing"
# Accepted, not emulated: property -> what it is (the start notice lists them).
FUNCTION_NOT_EMULATED = {"TracingConfig": TRACING}
STAGE_NOT_EMULATED = {"TracingEnabled": TRACING}
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
# Resources created in moto: the data plane's, and state machines (run by lambdalab.sources.statemachines).
RESOURCE_TYPES: dict[str, type[ResourceType]] = {**DATA_PLANE_TYPES, StateMachine.type_name: StateMachine}
_FUNCTION_IN_URI = re.compile(r"\$\{(\w+)\.Arn\}")


@dataclass(frozen=True)
class Route:
    method: str  # GET, POST, ..., or ANY
    path: str  # /orders/{id}, /{proxy+}
    function: str  # logical id
    payload_format: str  # "1.0" or "2.0"
    timeout_ms: int
    # A mock integration's answer (SAM's CORS preflight on REST APIs): status and headers
    mock: tuple[int, tuple[tuple[str, str], ...]] | None = None


@dataclass(frozen=True)
class ApiConfig:
    logical_id: str
    kind: str  # "REST" (payload 1.0) or "HTTP" (API Gateway v2)
    api_id: str
    stage: str
    routes: tuple[Route, ...]
    cors: Cors | None = None  # an HTTP API's CorsConfiguration


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
    schedules: dict[str, Schedule] = field(default_factory=dict)  # rules and Scheduler schedules, checked
    layer_dirs: dict[str, Path] = field(default_factory=dict)  # SAM LayerVersion logical id -> folder
    layers: dict[str, Path] = field(default_factory=dict)  # local layer ARN -> folder
    layer_paths: dict[str, tuple[Path, ...]] = field(default_factory=dict)  # function -> its import path
    # function -> its execution role's credentials, as environment variables (lambdalab.dataplane.roles)
    role_credentials: dict[str, dict[str, str]] = field(default_factory=dict)
    # (logical id, property or None, what it is) accepted without a local effect, as transformed
    not_emulated: list[tuple[str, str | None, str]] = field(default_factory=list)

    def lookup(self, logical_id: str, attr: str) -> Any:
        if logical_id not in self.resources:
            raise ConfigurationError(f"refers to {logical_id!r}, which is not a resource of the template")
        values = self.attrs.get(logical_id)
        if isinstance(values, Placeholder):
            return values.value(attr)
        if values is None:
            raise ConfigurationError(f"{logical_id} is referenced before it exists (a cycle?)")
        if attr not in values or values[attr] is None:
            raise ConfigurationError(_no_attribute(logical_id, attr, [k for k, v in values.items() if v is not None]))
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

    def order(self, refusals: list[ConfigurationError] | None = None) -> list[str]:
        """Logical ids in dependency order (Ref, GetAtt, Sub, DependsOn); unknown references are
        raised, or added to ``refusals``."""
        done: list[str] = []
        state: dict[str, int] = {}

        def visit(lid: str) -> None:
            if state.get(lid) == 2:
                return
            if state.get(lid) == 1:
                raise ConfigurationError("circular reference between resources", lid)
            state[lid] = 1
            res = self.resources[lid]
            in_properties = references(res.get("Properties", {}))
            depends_on = res.get("DependsOn", [])
            depends_on = [depends_on] if isinstance(depends_on, str) else depends_on
            if not isinstance(depends_on, list) or not all(isinstance(d, str) for d in depends_on):
                wrong = ConfigurationError("DependsOn must be a logical id or a list of them", lid, "DependsOn")
                if refusals is None:
                    raise wrong
                refusals.append(wrong)
                depends_on = []
            for dep in sorted(in_properties | set(depends_on)):
                if dep in self.resources:
                    visit(dep)
                elif dep not in self.parameters:
                    unknown = ConfigurationError(f"refers to unknown resource or parameter {dep!r}", lid,
                                                 "DependsOn" if dep in depends_on else None)
                    if refusals is None:
                        raise unknown
                    if dep in depends_on:  # in Properties, the dry deployment names the property
                        refusals.append(unknown)
            state[lid] = 2
            done.append(lid)

        for lid in self.resources:
            visit(lid)
        return done

    def deploy(self, clients: ClientFactory | None, refusals: list[ConfigurationError] | None = None) -> None:
        """Provision the data plane and build function and API configs, in dependency order.

        Dry with no ``clients``: nothing is created, each data-plane resource answers placeholder
        values, and each refusal is added to ``refusals`` instead of raised."""
        resolver = self.resolver()
        invoke_configs: dict[str, EventInvokeConfig] = {}

        def attempt(lid: str | None, step: Callable[[], None]) -> None:
            try:
                step()
            except ConfigurationError as exc:
                placed = exc if exc.logical_id or lid is None else ConfigurationError(str(exc), lid)
                if refusals is None:
                    raise self.located(placed) from None
                refusals.append(placed)

        for lid in self.order(refusals):
            attempt(lid, lambda lid=lid: self._deploy_one(lid, resolver, clients, invoke_configs))  # type: ignore[misc]
            self.attrs.setdefault(lid, Placeholder(lid))
        for target, config in invoke_configs.items():
            attempt(target, lambda target=target, config=config: self._attach_invoke_config(target, config))  # type: ignore[misc]
        for lid, r in self.resources.items():
            if r["Type"] in API_TYPES:
                attempt(lid, lambda lid=lid: self.apis.__setitem__(lid, self._api(lid)))  # type: ignore[misc]

    def _deploy_one(self, lid: str, resolver: Resolver, clients: ClientFactory | None,
                    invoke_configs: dict[str, EventInvokeConfig]) -> None:
        """Check ``lid``'s resolved values against its type's schema, then deploy it: a value of the
        wrong type, a missing required property or a value outside its enum is refused here, with
        the engine's own refusals of the same resource, before anything is created."""
        res = self.resources[lid]
        kind = res["Type"]
        props = resolver.resolve(res.get("Properties", {}), (lid, "Properties"))
        if not isinstance(props, dict):
            raise ConfigurationError("Properties must be a mapping", lid, "Properties")
        wrong = schema_refusals(lid, kind, props)
        if not wrong:
            self._deploy_checked(lid, kind, props, clients, invoke_configs)
            return
        found: list[ConfigurationError] = list(wrong)
        bad = {re.split(r"[.\[]", str(e.property))[0] for e in wrong}
        try:  # the engine's own refusals of the other properties; nothing is created
            self._deploy_checked(lid, kind, {k: v for k, v in props.items() if k not in bad}, None, {})
        except ConfigurationError as exc:
            found += [e for e in flatten(exc) if e.property not in bad]
        except Exception:  # noqa: BLE001  # values the schema refused may break them: its refusals say why
            pass
        raise Refused(found)

    def _deploy_checked(self, lid: str, kind: str, props: dict[str, Any], clients: ClientFactory | None,
                        invoke_configs: dict[str, EventInvokeConfig]) -> None:
        if kind in API_TYPES or kind in API_PARTS:
            unknown = sorted(set(props) - API_PROPERTIES - set(STAGE_NOT_EMULATED))
            if unknown:
                raise Refused([ConfigurationError(f"property not supported locally for {kind}", lid, name)
                               for name in unknown])
            self.not_emulated += [(lid, name, what) for name, what in STAGE_NOT_EMULATED.items() if props.get(name)]
        if kind in RESOURCE_TYPES:
            if kind == "AWS::S3::Bucket" and "NotificationConfiguration" in props:
                self.bucket_notifications[lid] = props.pop("NotificationConfiguration")
            resource: ResourceType = RESOURCE_TYPES[kind](lid, props)
            refused = resource.refusals()
            if refused:
                raise Refused(refused)
            self.not_emulated += [(lid, name, what) for name, what in resource.accepted_not_emulated()]
            self.attrs[lid] = (resource.provision(clients) if clients is not None
                               else Placeholder(lid, resource.attribute_names()))
        elif kind in NOT_ENFORCED_TYPES:
            self.attrs[lid] = NOT_ENFORCED_TYPES[kind](lid, props)
        elif kind in NOT_EMULATED_TYPES:
            what, attrs = NOT_EMULATED_TYPES[kind]
            self.not_emulated.append((lid, None, f"{kind}: {what}"))
            self.attrs[lid] = attrs(lid, props)
        elif kind == LAYER_VERSION:
            arn, folder = layer_arn(lid, props, self.layer_dirs)
            self.layers[arn] = folder
            self.attrs[lid] = {"Ref": arn, "LayerVersionArn": arn}
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
        elif kind in SCHEDULE_TYPES:
            self._schedule(lid, kind, props)
        else:
            raise ConfigurationError(f"resource type {kind} is not supported locally", lid, "Type")

    def _schedule(self, lid: str, kind: str, props: dict[str, Any]) -> None:
        """A rule or Scheduler schedule, checked (refusals named as a SAM event's properties when SAM
        made it from one) and kept for the schedules source."""
        attrs = SCHEDULE_TYPES[kind](lid, props)
        arns = frozenset(f.FunctionArn for f in self.functions.values())
        machines = frozenset(v.value(a) if isinstance(v, Placeholder) else str(v[a])
                             for v in self.deployed(StateMachine.type_name).values() for a in ("Ref", "Arn"))
        schedule, refused, notices = read_schedule(lid, kind, props, str(attrs["Arn"]), arns, machines)
        event = self._sam_event_properties(lid)
        rename = (lambda p: as_sam_event(kind, p, event)) if event is not None else (lambda p: p)
        self.not_emulated += [(lid, rename(prop), what) for prop, what in notices]
        if refused:
            raise Refused([ConfigurationError(Refusal.of(e).message, lid, rename(e.property)) for e in refused])
        assert schedule is not None
        self.schedules[lid] = schedule
        self.attrs[lid] = attrs

    def _sam_event_properties(self, lid: str) -> dict[str, Any] | None:
        """The ``Properties`` of the SAM function event ``lid`` was made from, if it was."""
        owner, prop = as_written(self.template.sam, lid, "_")
        if owner == lid or not prop or not prop.startswith("Events."):
            return None
        event = prop.split(".")[1]
        written = self.template.sam["Resources"][owner].get("Properties", {}).get("Events", {}).get(event, {})
        return dict(written.get("Properties") or {})

    def _attach_invoke_config(self, target: str, config: EventInvokeConfig) -> None:
        match = [f for f in self.functions.values() if target in (f.FunctionName, f.FunctionArn)]
        if not match:
            raise ConfigurationError("FunctionName is not a function of the template", target, "FunctionName")
        self.functions[match[0].logical_id] = replace(match[0], EventInvokeConfig=config)

    def refusals(self) -> list[ConfigurationError]:
        """Every refusal a dry deployment finds, without a data plane."""
        dry = CloudModel(self.template, self.code_dirs, self.resources, self.parameters, layer_dirs=self.layer_dirs)
        found: list[ConfigurationError] = [ConfigurationError(message, lid, prop)
                                           for lid, prop, message in self.template.refusals]
        written_apis = sam_api_refusals(self.template.sam)
        found += written_apis
        for lid, res in self.resources.items():
            if res.get("Type") == "AWS::Lambda::Function":
                environment = (res.get("Properties") or {}).get("Environment") or {}
                if isinstance(environment, dict):
                    try:
                        check_environment_keys(lid, environment.get("Variables"))
                    except ConfigurationError as exc:
                        found.append(exc)
        dry_found: list[ConfigurationError] = []
        dry.deploy(None, dry_found)
        from lambdalab.sources.base import template_refusals  # lazy: the sources import this module

        dry_found += template_refusals(dry)
        if written_apis:  # an OpenAPI body SAM made from refused events would only repeat them
            dry_found = [e for e in dry_found if not self._in_generated_body(e)]
        # their code (or definition file) is nowhere to look for a handler (or states)
        unlocated = {lid for lid, _, _ in self.template.refusals}
        dry_found = [e for e in dry_found
                     if not (e.logical_id in unlocated and e.property in ("Handler", "Code", "Definition"))]
        return found + dry_found

    def located(self, exc: ConfigurationError) -> ConfigurationError:
        """``exc`` named as the template is written, with its line: a TemplateRefused (a refusal
        found after the dry run, by the data plane or an event source)."""
        if isinstance(exc, TemplateRefused):
            return exc
        return TemplateRefused(located(self.template.sam, self.template.path, [exc]), self.template.path.name)

    def _in_generated_body(self, exc: ConfigurationError) -> bool:
        written = self.template.sam.get("Resources", {}).get(exc.logical_id or "")
        props = (written.get("Properties") or {}) if isinstance(written, dict) else {}
        in_body = str(exc.property or "").startswith(("Body", "DefinitionBody"))
        return in_body and not ("DefinitionBody" in props or "Body" in props)

    def notices(self) -> list[str]:
        """What the template sets that is accepted but not emulated, named as written."""
        seen: dict[str, None] = {}
        for lid, prop, what in self.not_emulated:
            lid_written, prop_written = as_written(self.template.sam, lid, prop)
            where = ".".join(p for p in (lid_written, prop_written) if p)
            seen.setdefault(f"{where} ({what})", None)
        return list(seen)

    def _function(self, lid: str, props: dict[str, Any]) -> FunctionConfig:
        problems: list[ConfigurationError] = []

        def checked(check: Callable[[], Any], default: Any = None) -> Any:
            try:
                return check()
            except ConfigurationError as exc:
                problems.append(exc)
                return default

        for name in sorted(set(props) - FUNCTION_PROPERTIES - set(FUNCTION_NOT_EMULATED)):
            problems.append(ConfigurationError("property not supported locally for a function", lid, name))
        self.not_emulated += [(lid, name, what) for name, what in FUNCTION_NOT_EMULATED.items()
                              if name in props and _tracing_on(props[name])]
        if props.get("PackageType", "Zip") != "Zip":
            problems.append(ConfigurationError("container image functions are not supported locally", lid,
                                               "PackageType"))
        runtime = str(props.get("Runtime", ""))
        if not runtime.startswith("python3"):
            problems.append(ConfigurationError(f"runtime {runtime!r} is not supported locally (python3.x only)",
                                               lid, "Runtime"))
        handler = props.get("Handler")
        code_dir = self.code_dirs.get(lid)
        if not isinstance(handler, str) or "." not in handler:
            problems.append(ConfigurationError("Handler must look like module.function", lid, "Handler"))
        elif code_dir is None:
            problems.append(ConfigurationError("Code must come from a SAM CodeUri directory", lid, "Code"))
        else:
            checked(lambda: _check_handler_module(lid, code_dir, handler))
        timeout = checked(lambda: _int_in_range(lid, "Timeout", props.get("Timeout", 3), 1, 900), 3)
        memory = checked(lambda: _int_in_range(lid, "MemorySize", props.get("MemorySize", 128), 128, 10240), 128)
        reserved = props.get("ReservedConcurrentExecutions")
        if reserved is not None:
            asked = reserved
            reserved = checked(lambda: _int_in_range(lid, "ReservedConcurrentExecutions", asked, 0, 1000))
        env = props.get("Environment", {}).get("Variables", {}) or {}
        environment: dict[str, str] = {}
        for key, value in env.items():
            environment[str(key)] = checked(functools.partial(_env_value, lid, key, value), "")
        paths = checked(lambda: layer_paths(lid, props.get("Layers") or [], self.layers), ())
        if problems:
            raise Refused(problems) if len(problems) > 1 else problems[0]
        self.layer_paths[lid] = paths
        sam_events = self.template.sam["Resources"].get(lid, {}).get("Properties", {}).get("Events", {}) or {}
        events = tuple(
            EventSource(name, str(ev.get("Type")), dict(ev.get("Properties", {}) or {}))
            for name, ev in sam_events.items()
        )
        dlq = (props.get("DeadLetterConfig") or {}).get("TargetArn")
        assert code_dir is not None and isinstance(handler, str)
        return FunctionConfig(
            logical_id=lid,
            FunctionName=str(props.get("FunctionName") or lid),
            Handler=handler,
            Runtime=runtime,
            CodeUri=code_dir,
            Timeout=timeout,
            MemorySize=memory,
            Environment=environment,
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
        refused: list[ConfigurationError] = []
        for path, method, integration, at in operations(lid, where, body, refused):
            try:
                routes.append(self._route(lid, kind, path, method, integration, at))
            except ConfigurationError as exc:
                refused.append(exc)
        if refused:
            raise Refused(refused)
        stage = "$default" if kind == "HTTP" else "Prod"
        for other_lid, other in self.resources.items():
            p = other.get("Properties", {})
            if other["Type"] in ("AWS::ApiGateway::Stage", "AWS::ApiGatewayV2::Stage") and \
                    {"Ref": lid} in (p.get("RestApiId"), p.get("ApiId")):  # a StageName: !Ref Stage too
                stage = str(self.resolver().resolve(p.get("StageName", stage), (other_lid, "Properties.StageName")))
        return ApiConfig(lid, kind, _api_id(lid), stage, tuple(routes), cors_of(lid, f"{where}.{CORS_KEY}", body))

    def _route(self, lid: str, kind: str, path: str, method: str, integration: Any, at: str) -> Route:
        """One operation's route: a Lambda proxy integration of a template function, or SAM's mock
        answer to a CORS preflight."""
        if not isinstance(integration, dict):
            raise ConfigurationError("must be a mapping", lid, at)
        if integration.get("type") == "mock" and method == "options":
            return Route(method.upper(), path, "", "1.0", 0, mock=mock_answer(lid, at, integration))
        uri = integration.get("uri", {})
        text = uri.get("Fn::Sub", "") if isinstance(uri, dict) else str(uri)
        text = text[0] if isinstance(text, list) else text
        found = _FUNCTION_IN_URI.search(str(text))
        if integration.get("type") != "aws_proxy":
            raise ConfigurationError("only Lambda proxy integrations are supported locally", lid, at)
        if not found or self.resources.get(found.group(1), {}).get("Type") != "AWS::Lambda::Function":
            raise ConfigurationError(f"integration of {method.upper()} {path} is not a template function", lid, at)
        return Route(
            method="ANY" if method == "x-amazon-apigateway-any-method" else method.upper(),
            path=path,
            function=found.group(1),
            payload_format=str(integration.get("payloadFormatVersion", "2.0" if kind == "HTTP" else "1.0")),
            timeout_ms=_int_in_range(lid, f"{path} timeoutInMillis",
                                     integration.get("timeoutInMillis", INTEGRATION_TIMEOUT_MS[kind][1]),
                                     *INTEGRATION_TIMEOUT_MS[kind]),
        )


def _uuid(lid: str) -> str:
    """A UUID derived from the logical id, so physical ids are the same every run."""
    return str(uuid.UUID(hashlib.sha256(lid.encode()).hexdigest()[:32]))


def _api_id(lid: str) -> str:
    """A 10-character id like AWS's, derived from the logical id so it is the same every run."""
    return hashlib.sha256(lid.encode()).hexdigest()[:10]


def _env_value(lid: str, key: str, value: Any) -> str:
    if isinstance(value, (dict, list)):
        raise ConfigurationError("environment values must resolve to strings", lid, f"Environment.Variables.{key}")
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


def build_model(template: LoadedTemplate, code_path: Callable[[str], str] | None = None,
                parameter_overrides: dict[str, Any] | None = None) -> CloudModel:
    """Classify and check the template; ``code_path`` may rewrite each CodeUri and each state
    machine's local definition file (labs -> solutions);
    ``parameter_overrides`` give parameters their values, as ``sam local --parameter-overrides``.
    Every refusal is raised at once (a TemplateRefused), before anything is created."""
    if parameter_overrides:  # the SAM transform resolves some SAM properties from them
        template = load_template(template.path, parameter_overrides)
    if code_path:
        template = with_definitions(template, code_path)
    base = template.path.parent
    code_dirs = {
        lid: template.inline_dir(lid) if lid in template.inline_code
        else (base / (code_path(uri) if code_path else uri)).resolve()
        for lid, uri in template.code_uris.items()
    }
    try:
        params = parameter_values(template.cfn.get("Parameters"), parameter_overrides)
        cfn = Conditions(template.cfn.get("Conditions"), params).applied(template.cfn)
    except ConfigurationError as exc:
        raise TemplateRefused(located(template.sam, template.path, [exc]), template.path.name) from None
    layer_dirs = {lid: (base / uri).resolve() for lid, uri in template.layer_uris.items()}
    model = CloudModel(template, code_dirs, cfn["Resources"], params, layer_dirs=layer_dirs)
    refused = model.refusals()
    if refused:
        raise TemplateRefused(located(template.sam, template.path, refused), template.path.name)
    return model


class Placeholder(dict[str, Any]):
    """A resource's physical values during a dry deployment, as placeholder texts: ``Ref`` and the
    ``attributes`` it will have (any attribute when they are not known)."""

    def __init__(self, logical_id: str, attributes: frozenset[str] | None = None):
        super().__init__()
        self.logical_id = logical_id
        self.attributes = attributes

    def value(self, attr: str) -> str:
        """Shaped like an ARN, so that Fn::Split and Fn::Select of its parts still work."""
        if self.attributes is not None and attr != "Ref" and attr not in self.attributes:
            raise ConfigurationError(_no_attribute(self.logical_id, attr, self.attributes))
        return f"arn:aws:placeholder:{REGION}:{ACCOUNT_ID}:{self.logical_id}/{attr}/placeholder/0"

    @staticmethod
    def parsed(value: Any) -> tuple[str, str] | None:
        """(logical id, attribute) of a placeholder text ``value`` stands for; None for any other value."""
        found = _PLACEHOLDER.match(value) if isinstance(value, str) else None
        return (found.group(1), found.group(2)) if found else None


_PLACEHOLDER = re.compile(rf"^arn:aws:placeholder:{re.escape(REGION)}:{ACCOUNT_ID}:([\w-]+)/(\w+)/placeholder/0$")


def _no_attribute(logical_id: str, attr: str, attributes: Iterable[str]) -> str:
    names = ", ".join(sorted(set(attributes) - {"Ref"})) or "none"
    return f"{logical_id} has no attribute {attr} locally (Fn::GetAtt can read: {names})"


def _tracing_on(value: Any) -> bool:
    mode = value.get("Mode") if isinstance(value, dict) else value
    return str(mode) == "Active"


__all__ = ["ACCOUNT_ID", "REGION", "ApiConfig", "CloudModel", "Route", "build_model"]
