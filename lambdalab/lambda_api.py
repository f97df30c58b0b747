"""The Lambda API over HTTP, so the stock boto3 ``lambda`` client works (AWS_ENDPOINT_URL_LAMBDA).

Serves Invoke, GetFunction, ListFunctions, Get/Put/DeleteFunctionConcurrency, GetAccountSettings.
Every other operation is refused with ``NotSupportedLocally`` rather than answered wrongly.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any
from urllib.parse import unquote

from werkzeug.exceptions import HTTPException, NotFound
from werkzeug.routing import Map, Rule
from werkzeug.wrappers import Request, Response

from lambdalab.config import FunctionConfig
from lambdalab.errors import AwsApiError, InvalidParameterValueException, NotSupportedLocally
from lambdalab.service import LambdaService

ROUTES = Map([
    Rule("/2015-03-31/functions/<path:name>/invocations", methods=["POST"], endpoint="Invoke"),
    Rule("/2015-03-31/functions/", methods=["GET"], endpoint="ListFunctions"),
    Rule("/2015-03-31/functions/<path:name>", methods=["GET"], endpoint="GetFunction"),
    Rule("/2015-03-31/functions/<path:name>/configuration", methods=["GET"], endpoint="GetFunctionConfiguration"),
    Rule("/2017-10-31/functions/<path:name>/concurrency", methods=["PUT"], endpoint="PutFunctionConcurrency"),
    Rule("/2017-10-31/functions/<path:name>/concurrency", methods=["DELETE"], endpoint="DeleteFunctionConcurrency"),
    Rule("/2019-09-30/functions/<path:name>/concurrency", methods=["GET"], endpoint="GetFunctionConcurrency"),
    Rule("/2016-08-19/account-settings/", methods=["GET"], endpoint="GetAccountSettings"),
], strict_slashes=False)


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
        self._handlers: dict[str, Callable[[Request, str], Response]] = {
            "Invoke": self.invoke,
            "ListFunctions": self.list_functions,
            "GetFunction": self.get_function,
            "GetFunctionConfiguration": self.get_function_configuration,
            "PutFunctionConcurrency": self.put_concurrency,
            "DeleteFunctionConcurrency": self.delete_concurrency,
            "GetFunctionConcurrency": self.get_concurrency,
            "GetAccountSettings": self.account_settings,
        }

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        request = Request(environ)
        try:
            endpoint, args = ROUTES.bind_to_environ(environ).match()
            response = self._handlers[str(endpoint)](request, unquote(args.get("name", "")))
        except AwsApiError as exc:
            response = error_response(exc)
        except (NotFound, HTTPException):
            response = error_response(NotSupportedLocally(
                f"lambdalab does not support the Lambda operation {request.method} {request.path} locally"
            ))
        return response(environ, start_response)

    def invoke(self, request: Request, name: str) -> Response:
        result = self.service.invoke(
            name,
            request.get_data(),
            invocation_type=request.headers.get("X-Amz-Invocation-Type", "RequestResponse"),
            log_type=request.headers.get("X-Amz-Log-Type"),
            client_context=request.headers.get("X-Amz-Client-Context"),
            source=self.source,
        )
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

    def put_concurrency(self, request: Request, name: str) -> Response:
        fn = self.service.function(name)
        try:
            value = int(json.loads(request.get_data() or b"{}")["ReservedConcurrentExecutions"])
        except (KeyError, ValueError, TypeError):
            raise InvalidParameterValueException("ReservedConcurrentExecutions must be an integer") from None
        self.service.concurrency.set_reserved(fn.FunctionName, value)
        return _json({"ReservedConcurrentExecutions": value})

    def delete_concurrency(self, request: Request, name: str) -> Response:
        fn = self.service.function(name)
        self.service.concurrency.set_reserved(fn.FunctionName, None)
        return Response(status=204)

    def get_concurrency(self, request: Request, name: str) -> Response:
        reserved = self.service.concurrency.reserved(self.service.function(name).FunctionName)
        return _json({} if reserved is None else {"ReservedConcurrentExecutions": reserved})

    def account_settings(self, request: Request, name: str) -> Response:
        c = self.service.concurrency
        return _json({
            "AccountLimit": {
                "ConcurrentExecutions": c.account_limit,
                "UnreservedConcurrentExecutions": c.account_limit - c.total_reserved(),
            },
            "AccountUsage": {"FunctionCount": len(self.service.functions())},
        })


def _json(body: Any, status: int = 200) -> Response:
    return Response(json.dumps(body), status=status, content_type="application/json")


def error_response(exc: AwsApiError) -> Response:
    return Response(
        json.dumps(exc.body()),
        status=exc.status,
        headers={"x-amzn-ErrorType": exc.code},
        content_type="application/json",
    )
