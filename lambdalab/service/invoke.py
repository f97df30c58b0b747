"""The Lambda service: Invoke with AWS's limits and errors, warm environment pools, concurrency.

Sync invokes answer 200 even when the function failed (``X-Amz-Function-Error: Unhandled``) [INV];
throttles raise TooManyRequestsException with its Reason [TMR]; payloads over 6 MB are refused
(1 MB for Event) [INV]. Every attempt lands in the journal, every log line in the log store.
"""

from __future__ import annotations

import base64
import itertools
import json
import random
import re
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, TypeVar

from lambdalab.clock import Clock
from lambdalab.config import FunctionConfig
from lambdalab.dataplane.patches.stepfunctions_workers import WORKERS
from lambdalab.errors import (
    AwsApiError,
    ConfigurationError,
    InvalidParameterValueException,
    InvalidRequestContentException,
    NotSupportedLocally,
    RequestTooLargeException,
    ResourceNotFoundException,
    TooManyRequestsException,
)
from lambdalab.observe.journal import Invocation, Journal, Outcome
from lambdalab.observe.logstore import LogEvent, LogStore
from lambdalab.runtime import lifetime
from lambdalab.runtime.environment import ExecutionEnvironment, InvocationResult
from lambdalab.runtime.reports import billed_ms
from lambdalab.service.callfaults import CallFaults
from lambdalab.service.concurrency import Concurrency
from lambdalab.service.faults import Faults, crashed
from lambdalab.service.points import AttemptPoints
from lambdalab.service.registrations import EventInvokeConfigs, EventQueue, EventSourceMapping
from lambdalab.service.scheduler import Scheduler

SYNC_PAYLOAD_LIMIT = 6 * 1024 * 1024
ASYNC_PAYLOAD_LIMIT = 1024 * 1024
LOG_TAIL_BYTES = 4096
CLIENT_CONTEXT_LIMIT = 3583  # bytes of base64, sync invokes only [INV]
INVOCATION_TYPES = ("RequestResponse", "Event", "DryRun")
HTTP_SOURCES = ("apigateway:", "lambda-api")  # callers the engine cannot see coming: they arrive in bursts


@dataclass(frozen=True)
class InvokeResult:
    """What Invoke answers: the status, the payload and the function-error header, as AWS."""

    status: int
    payload: bytes
    request_id: str
    function_error: str | None = None
    log_result: str | None = None  # base64, with LogType=Tail
    executed_version: str = "$LATEST"
    duration: float | None = None  # the attempt's length on the engine's clock (seconds), when it ran

    @property
    def json(self) -> Any:
        return json.loads(self.payload) if self.payload else None

    @property
    def log_tail(self) -> str:
        return base64.b64decode(self.log_result).decode(errors="replace") if self.log_result else ""


EnvironBuilder = Callable[[FunctionConfig, str], dict[str, str]]
T = TypeVar("T")


class RequestIds:
    """Request ids: seeded in virtual mode so the same scenario prints the same ids."""

    def __init__(self, seed: int | None):
        self._rng = random.Random(seed) if seed is not None else None
        self._lock = threading.Lock()

    def next(self) -> str:
        if self._rng is None:
            return str(uuid.uuid4())
        with self._lock:
            return str(uuid.UUID(int=self._rng.getrandbits(128), version=4))


class LambdaService:
    def __init__(
        self,
        functions: dict[str, FunctionConfig],
        *,
        clock: Clock,
        journal: Journal,
        concurrency: Concurrency,
        logs: LogStore,
        environ: EnvironBuilder,
        request_ids: RequestIds,
        seed: int | None = 0,
    ):
        self._functions = {f.FunctionName: f for f in functions.values()}
        self._by_logical_id = dict(functions)
        self.clock = clock
        self.journal = journal
        self.concurrency = concurrency
        self.logs = logs
        self._environ = environ
        self.request_ids = request_ids
        self._idle: dict[str, list[ExecutionEnvironment]] = {name: [] for name in self._functions}
        self._all: list[ExecutionEnvironment] = []
        self._env_seq = itertools.count(1)
        self._lock = threading.Lock()
        self._closed = False
        self.scheduler = Scheduler(seed)  # the virtual clock's interleaving of concurrent invocations
        self.call_faults = CallFaults()
        self.faults = Faults(self.function, self.call_faults, self.scheduler, virtual=clock.virtual)
        # What the event sources register (see lambdalab.service.registrations).
        self._event_queue: EventQueue | None = None
        self._event_invoke_configs: EventInvokeConfigs | None = None
        self._mappings: dict[str, EventSourceMapping] = {}  # by UUID
        for fn in self._functions.values():
            if fn.ReservedConcurrentExecutions is not None:
                try:
                    concurrency.set_reserved(fn.FunctionName, fn.ReservedConcurrentExecutions)
                except InvalidParameterValueException as exc:
                    raise ConfigurationError(exc.message, fn.logical_id, "ReservedConcurrentExecutions") from None

    # -- lookup -------------------------------------------------------------------------------
    def function(self, name: str, qualifier: str | None = None) -> FunctionConfig:
        """By name, logical id or ARN (``...:function:Name`` with an optional ``:$LATEST``).

        Locally a function has no published versions or aliases, so any other qualifier names a
        function that does not exist, and AWS answers that with ResourceNotFoundException.
        """
        key = name
        if key.startswith("arn:"):
            parts = key.split(":")
            key = parts[6] if len(parts) > 6 else key
            if len(parts) > 7 and parts[7]:
                qualifier = qualifier or parts[7]
        fn = self._functions.get(key) or self._by_logical_id.get(key)
        suffix = f":{qualifier}" if qualifier and qualifier != "$LATEST" else ""
        if fn is None or suffix:
            raise ResourceNotFoundException(
                f"Function not found: arn:aws:lambda:us-east-1:123456789012:function:{key}{suffix}"
            )
        return fn

    def functions(self) -> list[FunctionConfig]:
        return list(self._functions.values())

    # -- what the event sources register --------------------------------------------------------
    def add_event_source_mapping(self, uuid: str, mapping: EventSourceMapping) -> None:
        """A mapping Get/List/UpdateEventSourceMapping show and change, by its UUID."""
        self._mappings[uuid] = mapping

    @property
    def event_source_mappings(self) -> Mapping[str, EventSourceMapping]:
        """The registered mappings by UUID, read-only."""
        return MappingProxyType(self._mappings)

    def set_async_queue(self, queue: EventQueue, configs: EventInvokeConfigs) -> None:
        """Where Event invokes go from now on, and what serves the FunctionEventInvokeConfig operations."""
        self._event_queue, self._event_invoke_configs = queue, configs

    def async_queue(self) -> EventQueue:
        return _registered(self._event_queue, "asynchronous invocation")

    def event_invoke_configs(self) -> EventInvokeConfigs:
        return _registered(self._event_invoke_configs, "an event-invoke configuration")

    # -- invoke -------------------------------------------------------------------------------
    def invoke(
        self,
        name: str,
        payload: Any = None,
        *,
        invocation_type: str = "RequestResponse",
        log_type: str | None = None,
        client_context: str | None = None,
        source: str = "invoke",
        qualifier: str | None = None,
        execution: str | None = None,
    ) -> InvokeResult:
        """``execution``: the ARN of the state machine execution whose task this is [SFN], journalled."""
        fn = self.function(name, qualifier)
        if client_context is not None and len(client_context) > CLIENT_CONTEXT_LIMIT:
            raise InvalidParameterValueException(
                f"Client context must be at most {CLIENT_CONTEXT_LIMIT} bytes (base64-encoded JSON)"
            )
        if invocation_type not in INVOCATION_TYPES:
            raise InvalidParameterValueException(f"Unsupported InvocationType: {invocation_type}")
        body = _payload_bytes(payload)
        limit = ASYNC_PAYLOAD_LIMIT if invocation_type == "Event" else SYNC_PAYLOAD_LIMIT
        if len(body) > limit:
            raise RequestTooLargeException(
                f"Request must be smaller than {limit} bytes for the InvokeFunction operation"
            )
        request_id = self.request_ids.next()
        if invocation_type == "DryRun":
            return InvokeResult(204, b"", request_id)
        if invocation_type == "Event":
            self.async_queue().enqueue(fn, body, request_id, source)  # retries, DLQ and destinations live there
            return InvokeResult(202, b"", request_id)
        return self.run_attempt(fn, body, request_id, source=source, log_type=log_type,
                                client_context=client_context, execution=execution)

    def run_attempt(
        self,
        fn: FunctionConfig,
        body: bytes,
        request_id: str,
        *,
        source: str,
        invocation_type: str = "RequestResponse",
        attempt: int = 1,
        log_type: str | None = None,
        client_context: str | None = None,
        start: float | None = None,
        expected: bool = False,
        execution: str | None = None,
    ) -> InvokeResult:
        """One attempt: a concurrency lease, an environment, the run, the journal entry.

        ``start``: the virtual instant it begins (a poller starting several batches at once passes
        the same instant to each, whichever thread runs first); default now. ``expected``: the
        scheduler was told this attempt is coming (``Scheduler.expect``).

        On the virtual clock the attempt takes its turns with the other invocations due at the same
        time, one AWS call at a time, and lasts its sleeps plus fixed costs (``service.points``); on
        the real clock it lasts what it took.
        """
        start = self.clock.now() if start is None else start
        try:
            forced = self.faults.next_forced(fn.FunctionName)
            if forced and forced[0] == "error":
                if expected:
                    self.scheduler.forget(1)
                return self._forced_error(fn, request_id, source, invocation_type, attempt, forced[1],
                                          execution)
            try:
                if forced and forced[0] == "throttle":
                    raise TooManyRequestsException(forced[1])
                self.concurrency.acquire(fn.FunctionName)
            except TooManyRequestsException as exc:
                exc.request_id = request_id
                self.journal.record(Invocation(request_id, fn.FunctionName, source, invocation_type, attempt,
                                               None, False, start, start, Outcome.THROTTLED, exc.reason,
                                               execution=execution))
                if execution is not None and self.clock.virtual:
                    self.scheduler.settle(answered=WORKERS.answer_served)
                raise
        except BaseException:
            if expected:
                self.scheduler.forget(1)
            raise
        if not self.clock.virtual:  # nothing is announced to the scheduler on the real clock
            return self._run_leased(fn, body, request_id, source, invocation_type, attempt, log_type,
                                    client_context, start, forced, None, execution)
        # A state machine's calls (source states:) are announced (``Scheduler.set_on_the_way``): no burst grace.
        turn = self.scheduler.arrive(fn.FunctionName, request_id, start, expected=expected,
                                     burst=source.startswith(HTTP_SOURCES), execution=execution)
        try:
            points = AttemptPoints(function=fn.FunctionName, request_id=request_id, start=start,
                                   timeout_s=float(fn.Timeout), scheduler=self.scheduler, faults=self.call_faults,
                                   journal=self.journal, turn=turn, engine_now=self.clock.now)
            return self._run_leased(fn, body, request_id, source, invocation_type, attempt, log_type,
                                    client_context, start, forced, points, execution)
        finally:
            if execution is not None:
                WORKERS.answer_served()  # its caller is on its way before anyone else's turn
            self.scheduler.leave(turn)

    def _run_leased(self, fn: FunctionConfig, body: bytes, request_id: str, source: str, invocation_type: str,
                    attempt: int, log_type: str | None, client_context: str | None, start: float,
                    forced: tuple[str, str] | None, points: AttemptPoints | None,
                    execution: str | None = None) -> InvokeResult:
        """The attempt once it holds a concurrency lease (and, on the virtual clock, its turn)."""
        try:
            env = self._take_environment(fn)
            if points is not None:
                points.watch(env)
            began = time.perf_counter()
            try:
                result = env.invoke(request_id, body, client_context=client_context,
                                    now_epoch_ms=int(start * 1000), on_point=points)
            except BaseException:
                env.shutdown()
                with self._lock:
                    if env in self._all:
                        self._all.remove(env)
                raise
            if forced and forced[0] == "crash":
                result = crashed(result, env, request_id)
            elapsed = time.perf_counter() - began
            # Back in the idle pool before the lease is released: the invocation that takes the
            # freed slot must find this warm environment, not start one beyond the limit.
            self._return_environment(fn, env, result)
        finally:
            self.concurrency.release(fn.FunctionName)
        end = start + elapsed if points is None else points.end(result.cold)
        self.clock.observe(end)
        log_lines = result.log_lines if points is None else _reported_on_the_clock(result.log_lines, end - start)
        self.logs.put(fn.FunctionName, [
            LogEvent(start, env_log_stream(env), request_id, line) for line in log_lines
        ])
        payload, function_error = result.payload, result.function_error
        if len(payload) > SYNC_PAYLOAD_LIMIT and invocation_type == "RequestResponse":
            payload = json.dumps({
                "errorMessage": f"Response payload size ({len(payload)} bytes) exceeded maximum allowed "
                                f"payload size ({SYNC_PAYLOAD_LIMIT} bytes).",
                "errorType": "Function.ResponseSizeTooLarge",
            }).encode()
            function_error = "Unhandled"
        outcome = Outcome.SUCCESS if function_error is None else Outcome.ERROR
        detail = None if function_error is None else (_error_type(payload) or result.error_type)
        self.journal.record(Invocation(request_id, fn.FunctionName, source, invocation_type, attempt,
                                       env.env_id, result.cold, start, end, outcome, detail,
                                       memory_mb=fn.MemorySize, execution=execution))
        tail = None
        if log_type == "Tail":
            text = "\n".join(log_lines).encode()[-LOG_TAIL_BYTES:]
            tail = base64.b64encode(text).decode()
        return InvokeResult(200, payload, request_id, function_error, tail, duration=end - start)

    # -- scripted faults ----------------------------------------------------------------------
    def _forced_error(self, fn: FunctionConfig, request_id: str, source: str, invocation_type: str,
                      attempt: int, message: str, execution: str | None = None) -> InvokeResult:
        start = self.clock.now()
        payload = json.dumps({"errorMessage": message, "errorType": "Exception", "stackTrace": []}).encode()
        self.logs.put(fn.FunctionName, [
            LogEvent(start, "lambdalab-faults", request_id, f"[ERROR] Exception: {message} (scripted fault)")
        ])
        self.journal.record(Invocation(request_id, fn.FunctionName, source, invocation_type, attempt,
                                       None, False, start, start, Outcome.ERROR, "Exception",
                                       memory_mb=fn.MemorySize, execution=execution))
        return InvokeResult(200, payload, request_id, "Unhandled")

    # -- environments -------------------------------------------------------------------------
    def _take_environment(self, fn: FunctionConfig) -> ExecutionEnvironment:
        with self._lock:
            if self._closed:
                raise AwsApiError("the local cloud is shut down")
            idle = self._idle[fn.FunctionName]
            if idle:
                return idle.pop()
            env_id = f"e{next(self._env_seq)}"
        # Lambda names a stream after the day its environment started, on the cloud's clock.
        day = time.strftime("%Y/%m/%d", time.gmtime(self.clock.now()))
        log_stream = f"{day}/[$LATEST]{int(env_id[1:]):032x}"
        env = ExecutionEnvironment(
            env_id=env_id,
            function_name=fn.FunctionName,
            handler=fn.Handler,
            code_dir=fn.CodeUri,
            timeout_s=float(fn.Timeout),
            memory_mb=fn.MemorySize,
            environ=self._environ(fn, log_stream),
            function_arn=fn.FunctionArn,
            log_group=fn.LogGroupName,
            log_stream=log_stream,
            virtual=self.clock.virtual,
        )
        with self._lock:
            self._all.append(env)
        return env

    def _return_environment(self, fn: FunctionConfig, env: ExecutionEnvironment, result: InvocationResult) -> None:
        if result.reset or not env.alive:
            env.shutdown()
            with self._lock:
                if env in self._all:
                    self._all.remove(env)
            return
        with self._lock:
            if self._closed:
                env.shutdown()
            else:
                self._idle[fn.FunctionName].append(env)

    def environments(self, function: str | None = None) -> list[str]:
        """Ids of live environments (idle or busy)."""
        with self._lock:
            return [e.env_id for e in self._all if function is None or e.function_name == function]

    def shutdown(self) -> None:
        self.scheduler.close()
        with self._lock:
            self._closed = True
            envs = list(self._all)
            self._all.clear()
            for idle in self._idle.values():
                idle.clear()
        for env in envs:
            env.shutdown()
        lifetime.sweep_engine()  # whatever an ended environment started that its session did not hold


def _registered(value: T | None, needed_by: str) -> T:
    if value is None:
        raise NotSupportedLocally(f"{needed_by} needs the async queue (lambdalab.sources.asyncinvoke)")
    return value


def env_log_stream(env: ExecutionEnvironment) -> str:
    return getattr(env, "log_stream", env.env_id)


def _payload_bytes(payload: Any) -> bytes:
    if payload is None:
        return b"{}"
    if isinstance(payload, (bytes, bytearray)):
        data = bytes(payload)
        if data.strip():
            try:
                json.loads(data)
            except ValueError as exc:
                raise InvalidRequestContentException(
                    f"Could not parse request body into json: Could not parse payload into json: {exc}"
                ) from None
        return data or b"{}"
    return json.dumps(payload).encode()


def _error_type(payload: bytes) -> str | None:
    try:
        body = json.loads(payload)
    except ValueError:
        return None
    return body.get("errorType") if isinstance(body, dict) else None


_REPORTED_DURATION = re.compile(r"\tDuration: [0-9.]+ ms\tBilled Duration: [0-9]+ ms\t")


def _reported_on_the_clock(lines: list[str], seconds: float) -> list[str]:
    """The REPORT line with the attempt's length on the engine's clock: on the virtual clock a sleep
    takes no wall time, yet Lambda reports (and bills) it."""
    ms = seconds * 1000
    figures = f"\tDuration: {ms:.2f} ms\tBilled Duration: {billed_ms(ms)} ms\t"
    return [_REPORTED_DURATION.sub(figures, line, count=1) if line.startswith("REPORT ") else line
            for line in lines]
