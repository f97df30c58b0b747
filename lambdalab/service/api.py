"""The Lambda API over HTTP, so the stock boto3 ``lambda`` client works (AWS_ENDPOINT_URL_LAMBDA).

Serves Invoke, GetFunction, ListFunctions, Get/Put/DeleteFunctionConcurrency, GetAccountSettings,
and Put/Update/Get/Delete/ListFunctionEventInvokeConfig(s) and Get/List/UpdateEventSourceMapping(s)
(through what the event sources register with the service: ``lambdalab.service.registrations``).
Every other operation is refused with ``NotSupportedLocally`` rather than answered wrongly.
"""

from __future__ import annotations

import hmac
import json
import uuid
from collections.abc import Callable
from typing import Any
from urllib.parse import unquote

from werkzeug.exceptions import HTTPException, NotFound
from werkzeug.routing import Map, Rule
from werkzeug.wrappers import Request, Response

from lambdalab.config import FunctionConfig
from lambdalab.dataplane.patches import stepfunctions
from lambdalab.dataplane.patches.stepfunctions_workers import WORKERS
from lambdalab.errors import AwsApiError, InvalidParameterValueException, NotSupportedLocally, ResourceNotFoundException
from lambdalab.service.invoke import LambdaService

_FUNCTION = "/2015-03-31/functions/<path:name>"
_EIC = "/2019-09-25/functions/<path:name>/event-invoke-config"
_ESM = "/2015-03-31/event-source-mappings/"


def _served(path: str, **handlers: str) -> list[Rule]:
    """``path``'s rules: HTTP method -> the ``LambdaApi`` method serving it (the operation's name)."""
    return [Rule(path, methods=[method], endpoint=handler) for method, handler in handlers.items()]


ROUTES = Map([
    *_served(f"{_FUNCTION}/invocations", POST="invoke"),
    *_served("/2015-03-31/functions/", GET="list_functions"),
    *_served("/2015-03-31/functions/<name>", GET="get_function"),
    *_served(f"{_FUNCTION}/configuration", GET="get_function_configuration"),
    *_served("/2017-10-31/functions/<path:name>/concurrency", PUT="put_function_concurrency",
             DELETE="delete_function_concurrency"),
    *_served("/2019-09-30/functions/<path:name>/concurrency", GET="get_function_concurrency"),
    *_served("/2016-08-19/account-settings/", GET="get_account_settings"),
    # Put (replace), Update (patch), Get and Delete FunctionEventInvokeConfig
    *_served(_EIC, **dict.fromkeys(("PUT", "POST", "GET", "DELETE"), "function_event_invoke_config")),
    *_served(f"{_EIC}/list", GET="list_function_event_invoke_configs"),
    *_served(_ESM, GET="list_event_source_mappings"),
    *_served(f"{_ESM}<name>", GET="get_event_source_mapping", PUT="update_event_source_mapping"),
    # Versions, aliases and resource policies do not exist locally: refused by the operation's name.
    *_served("/2015-03-31/functions/<name>/versions", GET="ListVersionsByFunction"),
    *_served("/2015-03-31/functions/<name>/aliases", GET="ListAliases"),
    *_served("/2015-03-31/functions/<name>/aliases/<alias>", GET="GetAlias"),
    *_served("/2015-03-31/functions/<name>/policy", GET="GetPolicy"),
], strict_slashes=False)
REFUSED_BY_NAME = ("ListVersionsByFunction", "ListAliases", "GetAlias", "GetPolicy")


def function_configuration(fn: FunctionConfig) -> dict[str, Any]:
    return {
        "FunctionName": fn.FunctionName,
        "FunctionArn": fn.FunctionArn,
        "Runtime": fn.Runtime,
        "Handler": fn.Handler,
        "Timeout": fn.Timeout,
        "MemorySize": fn.MemorySize,
        "Version": "$LATEST",
        "State": "Active",
        "LastUpdateStatus": "Successful",
        "PackageType": "Zip",
        "Architectures": list(fn.Architectures),
        "Environment": {"Variables": dict(fn.Environment)},
        **({"DeadLetterConfig": {"TargetArn": fn.DeadLetterQueue}} if fn.DeadLetterQueue else {}),
    }


class LambdaApi:
    """A WSGI app translating the Lambda REST API onto a LambdaService."""

    def __init__(self, service: LambdaService, source: str = "lambda-api"):
        self.service = service
        self.source = source

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        request = Request(environ)
        try:
            endpoint, args = ROUTES.bind_to_environ(environ).match()
            if endpoint in REFUSED_BY_NAME:
                raise NotSupportedLocally(f"lambdalab does not support the Lambda operation {endpoint} locally")
            handler: Callable[[Request, str], Response] = getattr(self, str(endpoint))
            response = handler(request, unquote(args.get("name", "")))
        except AwsApiError as exc:
            response = error_response(exc)
        except (NotFound, HTTPException):
            response = error_response(NotSupportedLocally(
                f"lambdalab does not support the Lambda operation {request.method} {request.path} locally"
            ))
        return response(environ, start_response)

    def invoke(self, request: Request, name: str) -> Response:
        caller = _state_machine_caller(request, self.source)
        call = caller.pop("call", None)
        if call:  # the task's thread now waits on the engine, which answers it from this thread
            WORKERS.call_arrived(call)
            WORKERS.serving(call)
        try:
            result = self.service.invoke(
                name,
                request.get_data(),
                invocation_type=request.headers.get("X-Amz-Invocation-Type", "RequestResponse"),
                log_type=request.headers.get("X-Amz-Log-Type"),
                client_context=request.headers.get("X-Amz-Client-Context"),
                qualifier=request.args.get("Qualifier"),
                **caller,
            )
        finally:
            if call:
                WORKERS.call_answered(call)
                WORKERS.serving(None)
        headers = {"x-amzn-RequestId": result.request_id, "X-Amz-Executed-Version": result.executed_version}
        if result.function_error:
            headers["X-Amz-Function-Error"] = result.function_error
        if result.log_result:
            headers["X-Amz-Log-Result"] = result.log_result
        return Response(result.payload, status=result.status, headers=headers, content_type="application/json")

    def list_functions(self, request: Request, name: str) -> Response:
        return _json({"Functions": [function_configuration(f) for f in self.service.functions()]})

    def get_function(self, request: Request, name: str) -> Response:
        fn = self.service.function(name)
        body: dict[str, Any] = {
            "Configuration": function_configuration(fn),
            "Code": {"RepositoryType": "S3", "Location": fn.CodeUri.as_uri()},
        }
        reserved = self.service.concurrency.reserved(fn.FunctionName)
        if reserved is not None:
            body["Concurrency"] = {"ReservedConcurrentExecutions": reserved}
        return _json(body)

    def get_function_configuration(self, request: Request, name: str) -> Response:
        return _json(function_configuration(self.service.function(name)))

    def put_function_concurrency(self, request: Request, name: str) -> Response:
        fn = self.service.function(name)
        try:
            value = int(json.loads(request.get_data() or b"{}")["ReservedConcurrentExecutions"])
        except (KeyError, ValueError, TypeError):
            raise InvalidParameterValueException("ReservedConcurrentExecutions must be an integer") from None
        self.service.concurrency.set_reserved(fn.FunctionName, value)
        return _json({"ReservedConcurrentExecutions": value})

    def delete_function_concurrency(self, request: Request, name: str) -> Response:
        fn = self.service.function(name)
        self.service.concurrency.set_reserved(fn.FunctionName, None)
        return Response(status=204)

    def get_function_concurrency(self, request: Request, name: str) -> Response:
        reserved = self.service.concurrency.reserved(self.service.function(name).FunctionName)
        return _json({} if reserved is None else {"ReservedConcurrentExecutions": reserved})

    def function_event_invoke_config(self, request: Request, name: str) -> Response:
        """Put (replace), Update (patch), Get, Delete FunctionEventInvokeConfig ($LATEST only)."""
        if request.args.get("Qualifier", "$LATEST") != "$LATEST":
            raise NotSupportedLocally("Only the $LATEST qualifier is supported locally")
        configs = self.service.event_invoke_configs()
        if request.method == "GET":
            return _json(configs.get(self.service.function(name)))
        if request.method == "DELETE":
            configs.delete(self.service.function(name))
            return Response(status=204)
        try:
            body = json.loads(request.get_data() or b"{}")
        except ValueError:
            raise InvalidParameterValueException("the request body is not JSON") from None
        return _json(configs.put(self.service.function(name), body, patch=request.method == "POST"))

    def list_function_event_invoke_configs(self, request: Request, name: str) -> Response:
        return _json(self.service.event_invoke_configs().list(self.service.function(name)))

    def get_account_settings(self, request: Request, name: str) -> Response:
        c = self.service.concurrency
        return _json({
            "AccountLimit": {
                "ConcurrentExecutions": c.account_limit,
                "UnreservedConcurrentExecutions": c.account_limit - c.total_reserved(),
            },
            "AccountUsage": {"FunctionCount": len(self.service.functions())},
        })

    # -- event-source mappings (registered by the source modules; Create/Delete are refused) --
    def list_event_source_mappings(self, request: Request, name: str) -> Response:
        arn, function = request.args.get("EventSourceArn"), request.args.get("FunctionName")
        wanted = self.service.function(function).FunctionArn if function else None
        found = [m.describe() for m in self.service.event_source_mappings.values()]
        found = [m for m in found if (arn is None or m["EventSourceArn"] == arn)
                 and (wanted is None or m["FunctionArn"] == wanted)]
        return _json({"EventSourceMappings": found})

    def _mapping(self, uuid: str) -> Any:
        if uuid not in self.service.event_source_mappings:
            raise ResourceNotFoundException(f"The resource you requested does not exist. (Service: Lambda, "
                                            f"Status Code: 404, UUID: {uuid})")
        return self.service.event_source_mappings[uuid]

    def get_event_source_mapping(self, request: Request, name: str) -> Response:
        return _json(self._mapping(name).describe())

    def update_event_source_mapping(self, request: Request, name: str) -> Response:
        mapping = self._mapping(name)
        try:
            changes = json.loads(request.get_data() or b"{}")
        except ValueError:
            raise InvalidParameterValueException("the request body is not JSON") from None
        return _json(mapping.update(**changes), status=202)


def _json(body: Any, status: int = 200) -> Response:
    return Response(json.dumps(body), status=status, content_type="application/json")


def error_response(exc: AwsApiError) -> Response:
    return Response(
        json.dumps(exc.body()),
        status=exc.status,
        # Every answer of AWS's carries a request ID; botocore's error reports (and Step Functions' causes) quote it.
        headers={"x-amzn-ErrorType": exc.code, "x-amzn-RequestId": exc.request_id or str(uuid.uuid4())},
        content_type="application/json",
    )


def _state_machine_caller(request: Request, default_source: str) -> dict[str, Any]:
    """A state machine's Lambda task names its execution (``dataplane.patches.stepfunctions``); the
    engine's token proves the call came from the engine's process, not from a function."""
    if not hmac.compare_digest(request.headers.get(stepfunctions.ENGINE_HEADER, ""), stepfunctions.ENGINE_TOKEN):
        return {"source": default_source, "execution": None, "call": None}
    call = request.headers.get(stepfunctions.CALL_HEADER)
    return {"source": request.headers.get(stepfunctions.SOURCE_HEADER, default_source),
            "execution": request.headers.get(stepfunctions.EXECUTION_HEADER), "call": call}
