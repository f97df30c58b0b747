"""moto's Step Functions: its ASL interpreter runs every execution, its Lambda tasks go to the
engine's Lambda API, and its waits (Wait states, Retry intervals) pass on the engine's clock [SFN].

moto runs executions only when its ``execute_state_machine`` setting is on, calls Lambda on
``localhost:MOTO_PORT`` (its own server, whatever the process's endpoints), and waits in wall time.
Here the interpreter is always on, a Lambda task calls ``AWS_ENDPOINT_URL_LAMBDA`` (so the engine
journals it, with its concurrency and throttles), and a wait calls ``CLOCK.sleep``, which the
state-machine source points at the cloud's clock.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from typing import Any

from lambdalab.dataplane.patches.registry import Patch, released

RESPONSES = "moto.stepfunctions.responses"
LAMBDA_TASKS = "moto.stepfunctions.parser.asl.component.state.exec.state_task.lambda_eval_utils"
WAIT = "moto.stepfunctions.parser.asl.component.state.wait.wait_function.wait_function.WaitFunction"
RETRIER_MODULE = "moto.stepfunctions.parser.asl.component.common.retry.retrier_decl"
RETRIER = f"{RETRIER_MODULE}.RetrierDecl"


def execution_arn(env: Any) -> str:
    """The ARN of the execution an interpreter environment belongs to."""
    return str(env.states.context_object.context_object_data["Execution"]["Id"])


class Clock:
    """Where the interpreter's waits go: ``sleep(execution_arn, seconds)``; wall time until a cloud
    with state machines points it at its clock."""

    def __init__(self) -> None:
        self.sleep: Callable[[str, float], None] = lambda arn, seconds: time.sleep(seconds)
        self._env = threading.local()  # the environment of the Retry being evaluated in this thread

    def env(self) -> Any:
        return getattr(self._env, "value", None)

    def set_env(self, env: Any) -> None:
        self._env.value = env


CLOCK = Clock()


def parser_backend(account: str, region: str) -> Any:
    from moto.stepfunctions.parser.models import stepfunctions_parser_backends

    return stepfunctions_parser_backends[account][region]


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
        return shared_session(region).client(service, endpoint_url=endpoint, aws_access_key_id="testing",
                                             aws_secret_access_key="testing", config=config)


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
    Patch(LAMBDA_TASKS, "boto_client_for", engine_client,
          "Lambda tasks call the engine's Lambda API, not localhost:MOTO_PORT", "1f44dc2ac8aa"),
    Patch(WAIT, "_wait_interval", wait_on_clock, "a Wait state waits on the engine's clock", "8f954dee8037"),
    Patch(RETRIER, "_eval_body", retry_with_env, "the Retry's execution is known to its sleep", "48463fff19ce"),
    Patch(RETRIER_MODULE, "time", RetryTime(), "a Retry interval passes on the engine's clock", "27a7d04ade6a"),
)
