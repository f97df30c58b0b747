"""moto's Step Functions: its ASL interpreter runs every execution, its Lambda tasks go to the
engine's Lambda API, and its waits (Wait states, Retry intervals) pass on the engine's clock [SFN].

moto runs executions only when its ``execute_state_machine`` setting is on, calls Lambda on
``localhost:MOTO_PORT`` (its own server, whatever the process's endpoints), and waits in wall time.
Here the interpreter is always on, a Lambda task calls ``AWS_ENDPOINT_URL_LAMBDA`` (so the engine
journals it, with its concurrency and throttles, under the execution that called it), and a wait
calls ``CLOCK.sleep``, which the state-machine source points at the cloud's clock.
"""

from __future__ import annotations

import os
import secrets
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any

from lambdalab.dataplane.patches.registry import Patch, released

RESPONSES = "moto.stepfunctions.responses"
BACKEND = "moto.stepfunctions.parser.models.StepFunctionsParserBackend"
LAMBDA_TASKS = "moto.stepfunctions.parser.asl.component.state.exec.state_task.lambda_eval_utils"
FUNCTION_TASK = "moto.stepfunctions.parser.asl.component.state.exec.state_task.state_task_lambda.StateTaskLambda"
ERROR_EQUALS = "moto.stepfunctions.parser.asl.component.common.error_name.error_equals_decl.ErrorEqualsDecl"
# Headers on a Lambda task's Invoke naming who called: the Lambda API journals the invocation as
# ``states:<state machine>`` with the execution's ARN [SFN].
SOURCE_HEADER = "X-Lambdalab-Source"
EXECUTION_HEADER = "X-Lambdalab-Execution"
# Only the engine's process knows this: a function's own Invoke cannot pose as a state machine's.
ENGINE_HEADER = "X-Lambdalab-Engine"
ENGINE_TOKEN = secrets.token_hex(16)
# Errors States.ALL does not match: terminal, they end the execution whatever its Catch [SFN].
UNCATCHABLE = frozenset({"States.DataLimitExceeded", "States.Runtime"})
WAIT = "moto.stepfunctions.parser.asl.component.state.wait.wait_function.wait_function.WaitFunction"
RETRIER_MODULE = "moto.stepfunctions.parser.asl.component.common.retry.retrier_decl"
RETRIER = f"{RETRIER_MODULE}.RetrierDecl"


def execution_arn(env: Any) -> str:
    """The ARN of the execution an interpreter environment belongs to."""
    return str(env.states.context_object.context_object_data["Execution"]["Id"])


def state_machine_name(arn: str) -> str:
    """``Flow`` of ``arn:aws:states:<region>:<account>:execution:Flow:<execution>`` (or ``express:``)."""
    parts = arn.split(":")
    return parts[6] if len(parts) > 6 else arn


class Clock:
    """Where the interpreter's waits go: ``sleep(execution_arn, seconds)``; wall time until a cloud
    with state machines points it at its clock."""

    def __init__(self) -> None:
        self.sleep: Callable[[str, float], None] = lambda arn, seconds: time.sleep(seconds)
        self._env = threading.local()  # the environment of the Retry being evaluated in this thread
        self._caller = threading.local()  # the execution whose Lambda task this thread runs

    def env(self) -> Any:
        return getattr(self._env, "value", None)

    def set_env(self, env: Any) -> None:
        self._env.value = env

    def caller(self) -> str | None:
        return getattr(self._caller, "value", None)

    def set_caller(self, execution: str | None) -> None:
        self._caller.value = execution


CLOCK = Clock()


def parser_backend(account: str, region: str) -> Any:
    from moto.stepfunctions.parser.models import stepfunctions_parser_backends

    return stepfunctions_parser_backends[account][region]


def start_execution(self: Any, state_machine_arn: str, name: str | None = None, execution_input: Any = None,
                    trace_header: Any = None) -> Any:
    """StartExecution without a name: AWS names the execution with a UUID (moto names it ``None``, so a
    second unnamed execution would already exist)."""
    return released(BACKEND, "start_execution")(self, state_machine_arn, name or str(uuid.uuid4()),
                                                execution_input, trace_header)


def engine_client(region: str, service: str, state_credentials: Any = None) -> Any:
    """A client of the engine's endpoints: Lambda's own API for ``lambda``, the data plane otherwise;
    moto's settings otherwise (no retries, no parameter validation)."""
    from botocore.config import Config
    from moto.stepfunctions.parser.asl.component.common.timeouts.timeout import TimeoutSeconds

    from lambdalab.dataplane.server import SESSION_LOCK, shared_session

    endpoint = os.environ.get("AWS_ENDPOINT_URL_LAMBDA" if service == "lambda" else "AWS_ENDPOINT_URL")
    config = Config(parameter_validation=False, retries={"max_attempts": 0, "total_max_attempts": 1},
                    connect_timeout=TimeoutSeconds.DEFAULT_TIMEOUT_SECONDS,
                    read_timeout=TimeoutSeconds.DEFAULT_TIMEOUT_SECONDS, proxies={})
    with SESSION_LOCK:  # botocore sessions are not thread-safe
        client = shared_session(region).client(service, endpoint_url=endpoint, aws_access_key_id="testing",
                                               aws_secret_access_key="testing", config=config)
    execution = CLOCK.caller()
    if service == "lambda" and execution is not None:
        def name_the_caller(request: Any, **kwargs: Any) -> None:
            request.headers[SOURCE_HEADER] = f"states:{state_machine_name(execution)}"
            request.headers[EXECUTION_HEADER] = execution
            request.headers[ENGINE_HEADER] = ENGINE_TOKEN

        client.meta.events.register("before-sign.lambda.Invoke", name_the_caller)
    return client


def lambda_task(env: Any, parameters: dict[str, Any], region: str, state_credentials: Any) -> None:
    """A Lambda task's Invoke, its execution known to the client that sends it."""
    CLOCK.set_caller(execution_arn(env))
    try:
        released(LAMBDA_TASKS, "execute_lambda_function_integration")(
            env=env, parameters=parameters, region=region, state_credentials=state_credentials)
    finally:
        CLOCK.set_caller(None)


def function_task_error(self: Any, env: Any, ex: Exception) -> Any:
    """A Task whose Resource is a function ARN reports a Lambda API error as ``Lambda.<code>``
    (``Lambda.TooManyRequestsException`` for a throttle), as the lambda:invoke integration does;
    moto names them all ``Exception``."""
    from botocore.exceptions import ClientError

    if not isinstance(ex, ClientError):
        return released(FUNCTION_TASK, "_from_error")(self, env, ex)
    from moto.stepfunctions.parser.api import HistoryEventType
    from moto.stepfunctions.parser.asl.component.common.error_name.custom_error_name import CustomErrorName
    from moto.stepfunctions.parser.asl.component.common.error_name.failure_event import FailureEvent

    error, cause = f"Lambda.{ex.response['Error']['Code']}", ex.response["Error"]["Message"]
    details: Any = {"lambdaFunctionFailedEventDetails": {"error": error, "cause": cause}}
    return FailureEvent(env=env, error_name=CustomErrorName(error), event_type=HistoryEventType.LambdaFunctionFailed,
                        event_details=details)


def error_equals(self: Any, env: Any) -> None:
    """``ErrorEquals`` as AWS matches it: States.ALL matches any error but the terminal ones."""
    error_name = env.stack[-1]
    released(ERROR_EQUALS, "_eval_body")(self, env)
    if getattr(error_name, "error_name", None) in UNCATCHABLE:
        env.stack[-1] = error_name in self.error_names  # named as such, not by the wildcard


def wait_on_clock(self: Any, env: Any, wait_seconds: int) -> None:
    """A Wait state's wait, on the engine's clock."""
    if wait_seconds > 0:
        CLOCK.sleep(execution_arn(env), float(wait_seconds))


def retry_with_env(self: Any, env: Any) -> None:
    """A Retry evaluated with its environment known, so its interval is slept on the right clock."""
    CLOCK.set_env(env)
    try:
        released(RETRIER, "_eval_body")(self, env)
    finally:
        CLOCK.set_env(None)


class RetryTime:
    """Stands in for ``time`` in moto's retrier: its ``sleep`` is the interval before a retry."""

    @staticmethod
    def sleep(seconds: float) -> None:
        env = CLOCK.env()
        if env is None or seconds <= 0:
            time.sleep(max(seconds, 0))
            return
        CLOCK.sleep(execution_arn(env), float(seconds))


PATCHES = (
    Patch(RESPONSES, "get_backend", parser_backend,
          "executions run in moto's ASL interpreter (its execute_state_machine setting, always on)", "e736380f7d9c"),
    Patch(BACKEND, "start_execution", start_execution,
          "an execution started without a name is named with a UUID", "0f8d9dd57baf"),
    Patch(LAMBDA_TASKS, "boto_client_for", engine_client,
          "Lambda tasks call the engine's Lambda API, not localhost:MOTO_PORT", "1f44dc2ac8aa"),
    Patch(LAMBDA_TASKS, "execute_lambda_function_integration", lambda_task,
          "the engine journals a Lambda task under its execution", "f8c714c35a24"),
    Patch(FUNCTION_TASK, "_from_error", function_task_error,
          "a function-ARN task names a Lambda API error Lambda.<code>", "1a3cdc6f4b30"),
    Patch(ERROR_EQUALS, "_eval_body", error_equals,
          "States.ALL does not match States.DataLimitExceeded or States.Runtime", "aeda14a0cc01"),
    Patch(WAIT, "_wait_interval", wait_on_clock, "a Wait state waits on the engine's clock", "8f954dee8037"),
    Patch(RETRIER, "_eval_body", retry_with_env, "the Retry's execution is known to its sleep", "48463fff19ce"),
    Patch(RETRIER_MODULE, "time", RetryTime(), "a Retry interval passes on the engine's clock", "27a7d04ade6a"),
)
