"""moto's Step Functions: its ASL interpreter runs every execution, its Lambda tasks go to the
engine's Lambda API, and its waits (Wait states, Retry intervals) pass on the engine's clock [SFN].

moto runs executions only when its ``execute_state_machine`` setting is on, calls Lambda on
``localhost:MOTO_PORT`` (its own server, whatever the process's endpoints), and waits in wall time.
Here the interpreter is always on, a Lambda task calls ``AWS_ENDPOINT_URL_LAMBDA`` (so the engine
journals it, with its concurrency and throttles, under the execution that called it), and a wait
calls ``CLOCK.sleep``, which the state-machine source points at the cloud's clock.
"""

from __future__ import annotations

import datetime
import json
import os
import random
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
# Names the task's call, so the engine can say when it has arrived (``stepfunctions_workers``).
CALL_HEADER = "X-Lambdalab-Call"
ENGINE_TOKEN = secrets.token_hex(16)
# Errors States.ALL does not match: terminal, they end the execution whatever its Catch [SFN].
# What a Lambda task's error is named when its function did not answer (crash, timeout, out of memory).
UNKNOWN_LAMBDA_ERROR = "Lambda.Unknown"
UNCATCHABLE = frozenset({"States.DataLimitExceeded", "States.Runtime"})
WAIT = "moto.stepfunctions.parser.asl.component.state.wait.wait_function.wait_function.WaitFunction"
RETRIER_MODULE = "moto.stepfunctions.parser.asl.component.common.retry.retrier_decl"
RETRIER = f"{RETRIER_MODULE}.RetrierDecl"
PARSER = "moto.stepfunctions.parser"
# moto's modules that date an execution, its history events, its states' EnteredTime and its Map runs
DATED = (f"{PARSER}.models", f"{PARSER}.backend.execution", f"{PARSER}.asl.eval.event.event_manager",
         f"{PARSER}.asl.component.state.state",
         f"{PARSER}.asl.component.state.exec.state_map.iteration.itemprocessor.map_run_record")
JITTER = "moto.stepfunctions.parser.asl.component.common.retry.jitter_strategy_decl.JitterStrategyDecl"


def execution_arn(env: Any) -> str:
    """The ARN of the execution an interpreter environment belongs to."""
    return str(env.states.context_object.context_object_data["Execution"]["Id"])


def state_machine_name(arn: str) -> str:
    """``Flow`` of ``arn:aws:states:<region>:<account>:execution:Flow:<execution>`` (or ``express:``)."""
    parts = arn.split(":")
    return parts[6] if len(parts) > 6 else arn


class Clock:
    """Where the interpreter's waits go: ``sleep(execution_arn, seconds)``, and what it dates with:
    ``now()``; wall time until a cloud with state machines points them at its clock."""

    def __init__(self) -> None:
        self.sleep: Callable[[str, float], None] = lambda arn, seconds: time.sleep(seconds)
        self.now: Callable[[], float] = time.time  # epoch seconds: what executions are dated with
        self._env = threading.local()  # the environment of the Retry being evaluated in this thread
        self._caller = threading.local()  # the execution whose Lambda task this thread runs

    def env(self) -> Any:
        return getattr(self._env, "value", None)

    def set_env(self, env: Any) -> None:
        self._env.value = env

    def caller(self) -> str | None:
        return getattr(self._caller, "value", None)

    def call(self) -> str | None:
        return getattr(self._caller, "call", None)

    def set_caller(self, execution: str | None, call: str | None = None) -> None:
        self._caller.value, self._caller.call = execution, call


CLOCK = Clock()


def parser_backend(account: str, region: str) -> Any:
    from moto.stepfunctions.parser.models import stepfunctions_parser_backends

    return stepfunctions_parser_backends[account][region]


def start_execution(self: Any, state_machine_arn: str, name: str | None = None, execution_input: Any = None,
                    trace_header: Any = None) -> Any:
    """StartExecution without a name: AWS names the execution with a UUID (moto names it ``None``, so a
    second unnamed execution would already exist)."""
    return released(BACKEND, "start_execution")(self, state_machine_arn, name or unnamed(self, state_machine_arn),
                                                execution_input, trace_header)


def unnamed(backend: Any, state_machine_arn: str) -> str:
    """A UUID for the state machine's next unnamed execution, drawn from its ARN and how many executions
    it has had: the same scenario names its executions alike, so its journal repeats."""
    try:
        earlier = len(backend.describe_state_machine(state_machine_arn).executions)
    except Exception:  # no such state machine: moto's StartExecution says so
        return str(uuid.uuid4())
    return str(uuid.UUID(int=random.Random(f"{state_machine_arn}#{earlier}").getrandbits(128), version=4))


def full_jitter(self: Any, env: Any) -> None:
    """``JitterStrategy: FULL``: a retry interval drawn from [0, interval) by a generator seeded with
    the execution, the state, the Map item and the retry count, not the process's ``random``: the
    same scenario waits alike whatever the machine's speed or its threads' order."""
    if str(self.jitter_strategy) != "FULL":
        return
    context = env.states.context_object.context_object_data
    state = context.get("State") or {}
    item = (context.get("Map") or {}).get("Item") or {}
    seed = f"{context['Execution']['Id']}|{state.get('Name')}|{item.get('Index')}|{state.get('RetryCount')}"
    interval = env.stack.pop()
    env.stack.append(random.Random(seed).uniform(0, interval))


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
    execution, call = CLOCK.caller(), CLOCK.call()
    if service == "lambda" and execution is not None:
        def name_the_caller(request: Any, **kwargs: Any) -> None:
            request.headers[SOURCE_HEADER] = f"states:{state_machine_name(execution)}"
            request.headers[EXECUTION_HEADER] = execution
            request.headers[ENGINE_HEADER] = ENGINE_TOKEN
            if call is not None:
                request.headers[CALL_HEADER] = call

        client.meta.events.register("before-sign.lambda.Invoke", name_the_caller)
    return client


def lambda_task(env: Any, parameters: dict[str, Any], region: str, state_credentials: Any) -> None:
    """A Lambda task's Invoke, its execution known to the client that sends it; a function that did
    not answer (its process exited, timed out or ran out of memory) is the task error Lambda.Unknown."""
    from moto.stepfunctions.parser.asl.component.state.exec.state_task.lambda_eval_utils import (
        LambdaFunctionErrorException,
    )

    from lambdalab.dataplane.patches.stepfunctions_workers import WORKERS

    execution, call = execution_arn(env), uuid.uuid4().hex
    WORKERS.call_began(execution, call)
    CLOCK.set_caller(execution, call)
    try:
        released(LAMBDA_TASKS, "execute_lambda_function_integration")(
            env=env, parameters=parameters, region=region, state_credentials=state_credentials)
    except LambdaFunctionErrorException as exc:
        raise LambdaFunctionErrorException(exc.function_error, unanswered_as_unknown(exc.payload)) from None
    finally:
        CLOCK.set_caller(None)
        WORKERS.call_returned(call)


def unanswered_as_unknown(payload: str) -> str:
    """An error payload that says the function did not answer (no ``errorType``, as a timeout's, or
    the runtime's own), as Step Functions reports it: ``Lambda.Unknown``, the runtime's type kept in
    the message; a handler's error as it is."""
    from lambdalab.runtime.outcomes import ErrorType

    try:
        error = json.loads(payload)
    except ValueError:
        error = {"errorMessage": payload}
    if not isinstance(error, dict):
        error = {"errorMessage": payload}
    if "errorType" in error and error["errorType"] not in {kind.value for kind in ErrorType}:
        return payload
    message = ": ".join(str(part) for part in (error.get("errorType"), error.get("errorMessage")) if part)
    return json.dumps({**error, "errorType": UNKNOWN_LAMBDA_ERROR, "errorMessage": message}, separators=(",", ":"))


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


class _ClockNow:
    """Stands in for ``datetime.datetime`` where moto dates with it: ``now`` reads ``CLOCK``."""

    @staticmethod
    def now(tz: datetime.tzinfo | None = None) -> datetime.datetime:
        return datetime.datetime.fromtimestamp(CLOCK.now(), tz)

    def __getattr__(self, name: str) -> Any:
        return getattr(datetime.datetime, name)


class ClockDatetime:
    """Stands in for the ``datetime`` module in moto's Step Functions modules that date executions:
    DescribeExecution, ListExecutions and GetExecutionHistory show the engine's clock."""

    datetime = _ClockNow()

    def __getattr__(self, name: str) -> Any:
        return getattr(datetime, name)



def error_name_of(error_name: Any) -> Any:
    """An iteration's or a branch's error name as its parent state reports it: a ``States.`` name
    (a Map iteration over 256 KB, a task timeout) stays the States error it is; moto makes every
    one a custom name, which refuses the ``States.`` prefix, and fails the execution with
    States.Runtime instead."""
    from moto.stepfunctions.parser.asl.component.common.error_name.custom_error_name import CustomErrorName
    from moto.stepfunctions.parser.asl.component.common.error_name.states_error_name import StatesErrorName

    if isinstance(error_name, str) and error_name.startswith("States."):
        try:
            return StatesErrorName.from_name(error_name)
        except ValueError:
            pass
    return CustomErrorName(error_name=error_name)


def timeout_on_clock(self: Any, env: Any) -> None:
    """A state's ``TimeoutSeconds`` counted on the engine's clock: a task whose Lambda ran longer
    than that (its sleeps and calls are virtual, so it ends quickly in wall time) fails with
    States.Timeout, as on AWS, where the function itself still runs to its end. The error comes
    when the task ends, not at the deadline: what follows (a Retry's wait) starts from there."""
    from moto.stepfunctions.parser.asl.component.common.timeouts.timeout import EvalTimeoutError

    self.timeout.eval(env=env)
    seconds = env.stack.pop()
    if self.timeout.is_default_value():
        released(EXECUTE_STATE, "_evaluate_with_timeout")(self, env)
        return
    began = CLOCK.now()
    released(EXECUTE_STATE, "_evaluate_with_timeout")(self, env)
    if CLOCK.now() - began > float(seconds):
        env.stack.pop()  # the late result is not the state's
        raise EvalTimeoutError()

EXECUTE_STATE = "moto.stepfunctions.parser.asl.component.state.exec.execute_state.ExecutionState"
ITERATION_WORKER = "moto.stepfunctions.parser.asl.component.state.exec.state_map.iteration.iteration_worker"
BRANCHES = "moto.stepfunctions.parser.asl.component.state.exec.state_parallel.branches_decl"

PATCHES = (
    Patch(EXECUTE_STATE, "_evaluate_with_timeout", timeout_on_clock,
          "a state's TimeoutSeconds counts on the engine's clock", "c56deda08a42"),
    Patch(ITERATION_WORKER, "CustomErrorName", error_name_of,
          "a Map iteration's States error (States.DataLimitExceeded) is reported as such", "40a96f8ab369"),
    Patch(BRANCHES, "CustomErrorName", error_name_of,
          "a Parallel branch's States error is reported as such", "40a96f8ab369"),
    Patch(RESPONSES, "get_backend", parser_backend,
          "executions run in moto's ASL interpreter (its execute_state_machine setting, always on)", "e736380f7d9c"),
    Patch(BACKEND, "start_execution", start_execution,
          "an execution started without a name is named with a UUID", "0f8d9dd57baf"),
    Patch(LAMBDA_TASKS, "boto_client_for", engine_client,
          "Lambda tasks call the engine's Lambda API, not localhost:MOTO_PORT", "1f44dc2ac8aa"),
    Patch(LAMBDA_TASKS, "execute_lambda_function_integration", lambda_task,
          "the engine journals a Lambda task under its execution; a function that did not answer is Lambda.Unknown",
          "f8c714c35a24"),
    Patch(FUNCTION_TASK, "_from_error", function_task_error,
          "a function-ARN task names a Lambda API error Lambda.<code>", "1a3cdc6f4b30"),
    Patch(ERROR_EQUALS, "_eval_body", error_equals,
          "States.ALL does not match States.DataLimitExceeded or States.Runtime", "aeda14a0cc01"),
    Patch(WAIT, "_wait_interval", wait_on_clock, "a Wait state waits on the engine's clock", "8f954dee8037"),
    Patch(RETRIER, "_eval_body", retry_with_env, "the Retry's execution is known to its sleep", "48463fff19ce"),
    Patch(RETRIER_MODULE, "time", RetryTime(), "a Retry interval passes on the engine's clock", "27a7d04ade6a"),
    Patch(JITTER, "_eval_body", full_jitter,
          "a FULL jitter is drawn from a generator seeded by execution, state, item and retry", "13a10f4ac093"),
    *(Patch(module, "datetime", ClockDatetime(), "executions are dated on the engine's clock", "b807f2264b2a")
      for module in DATED),
)
