"""What the local API Gateway honours of SAM Api/HttpApi events, SAM APIs and OpenAPI bodies.

The local gateway matches a request to a route and hands it to a Lambda proxy integration; it
checks no API key, runs no authorizer, applies no resource policy and validates no parameter or
model. A template asking for any of them would be served without it (a request without its API key
answered 200 where AWS answers 403 INVALID_API_KEY [GWR]), so each is refused with a
ConfigurationError naming the logical id and the property path as written: the SAM event
(``Fn.Events.Create.Properties.Auth``), the SAM API (``Api.Auth``) or the OpenAPI body
(``Api.DefinitionBody.paths./orders.post.security``).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from lambdalab.errors import ConfigurationError

AUTH = "API Gateway authorization (API keys, authorizers, scopes, resource policies) is not supported locally"
PARAMETERS = "API Gateway request parameters (required headers, query strings, validation) are not supported locally"
MODELS = "API Gateway request models and validation are not supported locally"
# The SAM event properties the local gateway honours; any other is refused.
SAM_EVENT_PROPERTIES = {
    "Api": frozenset({"Path", "Method", "RestApiId", "TimeoutInMillis"}),
    "HttpApi": frozenset({"Path", "Method", "ApiId", "TimeoutInMillis", "PayloadFormatVersion"}),
}
SAM_EVENT_REFUSALS = {
    "Auth": AUTH,
    "RequestParameters": PARAMETERS,
    "RequestModel": MODELS,
    "RouteSettings": "per-route settings (throttling, logging, metrics) are not supported locally",
}
SAM_API_TYPES = {"AWS::Serverless::Api": "Api", "AWS::Serverless::HttpApi": "HttpApi"}
METHODS = frozenset({"get", "put", "post", "delete", "options", "head", "patch", "trace",
                     "x-amazon-apigateway-any-method"})
INTEGRATION = "x-amazon-apigateway-integration"
# OpenAPI keys that describe an API without changing what API Gateway does with a request.
DOCUMENTATION = frozenset({"summary", "description", "externalDocs", "tags", "operationId", "deprecated",
                           "responses", "produces", "consumes"})
BODY_KEYS = frozenset({"swagger", "openapi", "info", "paths", "tags", "externalDocs", "definitions", "components",
                       "host", "schemes", "produces", "consumes", "x-amazon-apigateway-cors"})
BODY_REFUSALS = {
    "securityDefinitions": AUTH,
    "security": AUTH,
    "x-amazon-apigateway-policy": AUTH,
    "x-amazon-apigateway-api-key-source": AUTH,
    "x-amazon-apigateway-request-validators": MODELS,
    "x-amazon-apigateway-request-validator": MODELS,
}
COMPONENT_KEYS = frozenset({"schemas", "examples", "headers", "links"})
OPERATION_REFUSALS = {
    "security": AUTH,
    "x-amazon-apigateway-auth": AUTH,
    "parameters": PARAMETERS,
    "requestBody": MODELS,
    "x-amazon-apigateway-request-validator": MODELS,
}


def sam_api_refusals(sam: dict[str, Any]) -> list[ConfigurationError]:
    """Every API Gateway setting of SAM's APIs and Api/HttpApi events, in the template as written,
    that the local gateway would ignore."""
    found = []
    glob = sam.get("Globals") or {}
    for section in SAM_API_TYPES.values():
        if isinstance(glob.get(section), dict) and "Auth" in glob[section]:
            found.append(ConfigurationError(AUTH, "Globals", f"{section}.Auth"))
    for lid, res in (sam.get("Resources") or {}).items():
        if not isinstance(res, dict):
            continue
        props = res.get("Properties") or {}
        if res.get("Type") in SAM_API_TYPES and "Auth" in props:
            found.append(ConfigurationError(AUTH, lid, "Auth"))
        if res.get("Type") != "AWS::Serverless::Function" or not isinstance(props.get("Events"), dict):
            continue
        for name, event in props["Events"].items():
            kind = event.get("Type") if isinstance(event, dict) else None
            if kind not in SAM_EVENT_PROPERTIES:
                continue
            for prop in sorted(set(event.get("Properties") or {}) - SAM_EVENT_PROPERTIES[kind]):
                message = SAM_EVENT_REFUSALS.get(prop, f"property not supported locally for an {kind} event")
                found.append(ConfigurationError(message, lid, f"Events.{name}.Properties.{prop}"))
    return found


def operations(lid: str, where: str, body: dict[str, Any],
               refusals: list[ConfigurationError] | None = None) -> Iterator[tuple[str, str, dict[str, Any], str]]:
    """Each operation of an OpenAPI ``body`` as (path, method, integration, property path of the
    integration), after refusing whatever in it the local gateway would ignore; ``where`` names the
    body's property (``Body``, or ``DefinitionBody`` for a SAM API). With ``refusals``, every refusal
    is added to it and the operations it concerns are left out, so that all of them come at once;
    without, the first is raised."""
    def refuse(message: str, at: str) -> None:
        if refusals is None:
            raise ConfigurationError(message, lid, at)
        refusals.append(ConfigurationError(message, lid, at))

    for key in body:
        if key in BODY_REFUSALS or key not in BODY_KEYS:
            refuse(BODY_REFUSALS.get(key, "OpenAPI setting not supported locally"), f"{where}.{key}")
    for key in body.get("components") or {}:
        if key not in COMPONENT_KEYS:
            refuse(AUTH if key == "securitySchemes" else "OpenAPI setting not supported locally",
                   f"{where}.components.{key}")
    for path, item in (body.get("paths") or {}).items():
        item_where = f"{where}.paths.{path}"
        if not isinstance(item, dict):
            refuse("a path must map methods to operations", item_where)
            continue
        for method, op in item.items():
            at = f"{item_where}.{method}"
            if method == "parameters":
                if not _path_parameters_only(op):
                    refuse(PARAMETERS, at)
                continue
            if method in ("summary", "description"):
                continue
            if method not in METHODS:
                refuse("OpenAPI setting not supported locally", at)
                continue
            if not isinstance(op, dict) or not op.get(INTEGRATION):
                refuse(f"an operation without {INTEGRATION} is not supported locally "
                       "(only Lambda proxy integrations are)", at)
                continue
            for key in op:
                if key == "parameters":
                    if not _path_parameters_only(op[key]):
                        refuse(PARAMETERS, f"{at}.parameters")
                elif key in OPERATION_REFUSALS and op[key] not in ([], None):
                    refuse(OPERATION_REFUSALS[key], f"{at}.{key}")
                elif key not in DOCUMENTATION and key not in OPERATION_REFUSALS and key != INTEGRATION:
                    refuse("OpenAPI setting not supported locally", f"{at}.{key}")
            yield path, method, op[INTEGRATION], f"{at}.{INTEGRATION}"  # its integration is checked too


def _path_parameters_only(parameters: Any) -> bool:
    """Path parameters only name the path's own variables, which the gateway passes on; any other
    parameter (query string, header, body) is a request check the gateway does not make."""
    if not parameters:
        return True
    return isinstance(parameters, list) and all(isinstance(p, dict) and p.get("in") == "path" for p in parameters)
