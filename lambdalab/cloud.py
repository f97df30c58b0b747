"""``LocalCloud``: the public entry point. Template in, a running local cloud out.

    with LocalCloud.start("template.yaml") as cloud:
        cloud.invoke("OrdersFunction", {"id": 1})

While a cloud is open, the process environment points plain ``boto3.client(...)`` calls at it
(endpoints, region, fake credentials), so learner code written for AWS talks to it unchanged.
"""

from __future__ import annotations

import atexit
import os
import shutil
import sys
import tempfile
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from lambdalab import heap, isolation
from lambdalab.clock import IDLE_HORIZON_S, Clock, RealClock, VirtualClock
from lambdalab.config import ACCOUNT_ID, REGION, FunctionConfig, check_environment_keys
from lambdalab.dataplane import roles
from lambdalab.dataplane.server import DataPlane
from lambdalab.environ import set_environ
from lambdalab.errors import ConfigurationError
from lambdalab.httpserver import LocalServer
from lambdalab.observe.alarms import watch_alarms
from lambdalab.observe.journal import Journal
from lambdalab.observe.logstore import LogStore
from lambdalab.observe.metrics import LambdaMetrics
from lambdalab.runtime import lifetime
from lambdalab.service.api import LambdaApi
from lambdalab.service.concurrency import Concurrency
from lambdalab.service.faults import Faults
from lambdalab.service.invoke import InvokeResult, LambdaService, RequestIds
from lambdalab.sources.apigateway import ApiGatewayServer
from lambdalab.sources.asyncinvoke.queue import AsyncQueue
from lambdalab.sources.base import SourceContext, Sources, find_mapping
from lambdalab.sources.sqs.poller import SqsPoller
from lambdalab.sources.streams.poller import StreamPoller
from lambdalab.template import CloudModel, build_model, load_template

FAKE_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
}
# Variables that could lead a boto3 client to the user's real account (a profile, config or
# credentials file, a role, a container's credentials): removed from the process while a cloud is
# open, and never passed to a function, neither from here nor from its own variables.
_USER_AWS_VARIABLES = (
    "AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE",
    "AWS_SECURITY_TOKEN", "AWS_CREDENTIAL_EXPIRATION", "AWS_ROLE_ARN", "AWS_ROLE_SESSION_NAME",
    "AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "AWS_CONTAINER_CREDENTIALS_FULL_URI",
    "AWS_CONTAINER_AUTHORIZATION_TOKEN", "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE",
)
# What a function's boto3 reads instead, even when a handler drops the fake keys: no file, and no
# instance role from EC2's metadata service (a learner's Cloud9 or SageMaker machine has one).
_FUNCTION_AWS_PINS = {
    "AWS_CONFIG_FILE": os.devnull, "AWS_SHARED_CREDENTIALS_FILE": os.devnull, "AWS_EC2_METADATA_DISABLED": "true",
}
_warned_runtimes: set[str] = set()
# moto's state is process-wide, so a process runs one local cloud at a time: the one open now.
_open_cloud: LocalCloud | None = None
_open_cloud_lock = threading.Lock()
_guarded_pid = 0  # the process that registered the exit hook
REPLACED = ("lambdalab: closed the local cloud started earlier in this process; a process runs one "
            "local cloud at a time (moto's state is shared by the whole process)")


class LocalCloud:
    """A moto data plane, the template's resources, the Lambda service and its HTTP endpoints."""

    def __init__(self, model: CloudModel, dataplane: DataPlane, clock: Clock, *, seed: int | None,
                 account_concurrency: int, quiet: bool, log_dir: Path | None = None):
        self.model = model
        self.dataplane = dataplane
        self.clock = clock
        self.journal = Journal(clock.now())
        self._metrics = LambdaMetrics()  # AWS/Lambda in the data plane's CloudWatch [MET]
        self.journal.subscribe(self._metrics.attempt)
        self.concurrency = Concurrency(account_concurrency)
        self._logs = LogStore(log_dir)
        self._saved_environ: dict[str, str | None] = {}
        self._let_functions_in: Callable[[], None] = lambda: None  # see lambdalab.isolation
        self._function_home: str | None = None  # the functions' HOME, made by the first one
        self._home_lock = threading.Lock()
        self.service = LambdaService(
            model.functions, clock=clock, journal=self.journal, concurrency=self.concurrency,
            logs=self._logs, environ=self.function_environment, request_ids=RequestIds(seed),
        )
        self._lambda_server = LocalServer(LambdaApi(self.service), "lambdalab-lambda-api")
        self._closers: list[Callable[[], None]] = []
        self._quiet = quiet
        self._closed = False
        self.api_gateways: dict[str, Any] = {}
        self.sources = Sources()
        try:
            self._start_api_gateways()
            self._closers.append(self.sources.close)
            self.sources.attach_all(SourceContext(clock=clock, service=self.service, dataplane=dataplane, model=model,
                                                  metrics=self._metrics))
            self.sources.add([self._metrics])  # polled last: each round's datapoints go out together
            self.sources.add(watch_alarms(clock, model, dataplane, self.journal, self._metrics))  # [ALARM]
        except BaseException:  # refused (an event source's check): stop what started; the data plane is start's
            for closer in reversed(self._closers):
                closer()
            self.service.shutdown()
            self._lambda_server.stop()
            raise
        clock.set_poll(self.sources.poll)
        if isinstance(clock, VirtualClock):
            clock.set_busy(self.service.scheduler.busy)

    # -- lifecycle ------------------------------------------------------------------------------
    @classmethod
    def start(
        cls,
        template: str | Path = "template.yaml",
        clock: str = "virtual",
        *,
        seed: int | None = 0,
        account_concurrency: int = 1000,
        code_path: Callable[[str], str] | None = None,
        quiet: bool = True,
        log_dir: Path | None = None,
        env_vars: dict[str, dict[str, str]] | None = None,
        parameter_overrides: dict[str, Any] | None = None,
    ) -> LocalCloud:
        """Provision ``template`` on a fresh moto server and start serving its functions.

        ``clock``: "virtual" (deterministic, time jumps) or "real" (wall clock, for ``lambdalab up``).
        ``code_path`` rewrites each function's CodeUri (e.g. point labs/ at solutions/).
        ``env_vars`` overrides environment variables per function logical id, like
        ``sam local invoke --env-vars``: ``{"OrdersFunction": {"PAYMENT_LATENCY_MS": "200"}}``.
        ``parameter_overrides`` gives the template's parameters their values, like
        ``sam local --parameter-overrides``: ``{"Stage": "dev"}``.
        """
        if clock not in ("virtual", "real"):
            raise ConfigurationError(f"clock must be 'virtual' or 'real', got {clock!r}")
        model, dataplane = provision(template, code_path, env_vars, parameter_overrides)
        try:
            the_clock: Clock = VirtualClock() if clock == "virtual" else RealClock()
            cloud = cls(model, dataplane, the_clock, seed=seed if clock == "virtual" else None,
                        account_concurrency=account_concurrency, quiet=quiet, log_dir=log_dir)
        except BaseException as exc:
            dataplane.stop()
            if isinstance(exc, ConfigurationError):  # an event source's refusal, named as written
                raise model.located(exc) from None
            raise
        cloud._point_process_here()
        cloud._warn_runtime_once()
        if model.notices():
            print("lambdalab: accepted but not emulated locally: " + "; ".join(model.notices()), file=sys.stderr)
        heap.cloud_started()
        _guard_this_process()
        global _open_cloud
        with _open_cloud_lock:
            _open_cloud = cloud
        return cloud

    def close(self) -> None:
        """Stop every source, environment and server, and restore the process environment."""
        if self._closed:
            return
        self._closed = True
        global _open_cloud
        with _open_cloud_lock:
            if _open_cloud is self:
                _open_cloud = None
        self.clock.close()  # no more timers or real-time polls
        self.service.scheduler.close()  # invocations waiting for a turn or at a pause go on, to their end
        for closer in reversed(self._closers):
            closer()
        self._closers.clear()
        self.service.shutdown()
        self._lambda_server.stop()
        self.dataplane.stop()
        if self._function_home is not None:
            shutil.rmtree(self._function_home, ignore_errors=True)
        set_environ(self._saved_environ)
        self._saved_environ = {}
        self._let_functions_in()
        heap.cloud_closed()

    def __enter__(self) -> LocalCloud:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- endpoints and environment ------------------------------------------------------------
    @property
    def lambda_endpoint(self) -> str:
        return self._lambda_server.url

    def endpoints(self) -> dict[str, str]:
        return {"AWS_ENDPOINT_URL": self.dataplane.endpoint_url, "AWS_ENDPOINT_URL_LAMBDA": self.lambda_endpoint}

    def client_environment(self) -> dict[str, str]:
        """What any process needs so that plain boto3 calls reach this cloud."""
        return {**self.endpoints(), **FAKE_CREDENTIALS, "AWS_DEFAULT_REGION": REGION, "AWS_REGION": REGION}

    def _point_process_here(self) -> None:
        wanted: dict[str, str | None] = {**self.client_environment()}
        wanted.update({k: None for k in _USER_AWS_VARIABLES})
        self._saved_environ = set_environ(wanted)
        self._let_functions_in = isolation.keep_functions_out()

    def function_environment(self, fn: FunctionConfig, log_stream: str) -> dict[str, str]:
        """A function's process environment, built from scratch as Lambda does: nothing of the
        learner's but PATH, a HOME of the cloud's own (empty, removed on close) so no ~/.aws is found,
        and no variable that leads boto3 to a profile, a file or a role (docs/architecture.md, Isolation).
        Its credentials are a session of its execution role, made when the cloud started, so its calls
        are held to the role's policies [ROLE]; a role the template does not create leaves it the
        engine's fake keys."""
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "LANG": "en_US.UTF-8",
            "TZ": ":UTC",
            "HOME": self._home(),
            "AWS_LAMBDA_FUNCTION_NAME": fn.FunctionName,
            "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(fn.MemorySize),
            "AWS_LAMBDA_LOG_GROUP_NAME": fn.LogGroupName,
            "AWS_LAMBDA_LOG_STREAM_NAME": log_stream,
            "AWS_LAMBDA_INITIALIZATION_TYPE": "on-demand",
            "AWS_EXECUTION_ENV": f"AWS_Lambda_{fn.Runtime}",
            "_HANDLER": fn.Handler,
            "LAMBDA_TASK_ROOT": str(fn.CodeUri),
            "LAMBDA_RUNTIME_DIR": str(Path(__file__).parent / "runtime"),
            **self.client_environment(),
            **self.model.role_credentials.get(fn.logical_id, {}),  # its execution role's [ROLE]
            **_layers_and_tracing(self.model.layer_paths.get(fn.logical_id, ())),
            **fn.Environment,
            **self.model.env_overrides.get(fn.logical_id, {}),
        }
        for key in _USER_AWS_VARIABLES:
            env.pop(key, None)
        env.update(_FUNCTION_AWS_PINS)
        return env

    def _home(self) -> str:
        with self._home_lock:
            if self._function_home is None:
                _remove_homes_of_ended_engines()
                self._function_home = tempfile.mkdtemp(prefix=f"{_HOME_PREFIX}{os.getpid()}-")
            return self._function_home

    def _warn_runtime_once(self) -> None:
        """Say once per process and Runtime which Python really runs the functions.

        Said on every machine, matching or not, so a notebook's output is the same wherever it runs
        (its sanitize file masks the versions)."""
        host = f"python{sys.version_info.major}.{sys.version_info.minor}"
        for fn in self.model.functions.values():
            if fn.Runtime in _warned_runtimes:
                continue
            _warned_runtimes.add(fn.Runtime)
            if fn.Runtime == host:
                print(f"lambdalab: functions declare Runtime {fn.Runtime} and run on this machine's {host}.",
                      file=sys.stderr)
            else:
                print(f"lambdalab: functions declare Runtime {fn.Runtime} but run on this machine's {host}; "
                      f"code that relies on a difference between them may behave differently on AWS.",
                      file=sys.stderr)

    def _start_api_gateways(self) -> None:
        for lid, api in self.model.apis.items():
            server = ApiGatewayServer(api, self.service, self.clock)
            self.api_gateways[lid] = server
            self._closers.append(server.stop)

    # -- the public API -------------------------------------------------------------------------
    def client(self, service: str, **kwargs: Any) -> Any:
        """A plain boto3 client on this cloud's endpoints (``kwargs`` as ``boto3.client`` takes them);
        a ``stepfunctions`` client also answers StartSyncExecution, which moto lacks."""
        self._require_open()
        endpoint = self.lambda_endpoint if service == "lambda" else self.dataplane.endpoint_url
        client = self.dataplane.new_client(service, endpoint_url=endpoint, **kwargs)
        if service == "stepfunctions":
            from lambdalab.sources.statemachines.sync import answer_sync_executions  # lazy: a rare client

            answer_sync_executions(client, self)
        return client

    def resource(self, logical_id: str) -> str:
        """What ``!Ref`` gives in CloudFormation: queue URL, bucket name, topic ARN, table name..."""
        return self.model.lookup(logical_id, "Ref")

    def attribute(self, logical_id: str, name: str) -> Any:
        """What ``!GetAtt logical_id.name`` gives (e.g. ``Arn``, ``StreamArn``)."""
        return self.model.lookup(logical_id, name)

    def invoke(self, function: str, event: Any = None, invocation_type: str = "RequestResponse",
               log_type: str | None = None, client_context: str | None = None) -> InvokeResult:
        """Invoke like the Lambda API: RequestResponse (default), Event (202) or DryRun (204)."""
        self._require_open()
        return self.service.invoke(function, event, invocation_type=invocation_type, log_type=log_type,
                                   client_context=client_context)

    def run_until_idle(self, max_virtual_seconds: float | None = None) -> int:
        """Drive every queued event, retry and poller until nothing is left to do, including
        invocations still running in other threads (an API request that already timed out).

        ``max_virtual_seconds`` stops it after that much time on the cloud's clock even if work
        remains (a stream shard retrying a failing batch until its records expire, two days on
        AWS's defaults): a notebook cell then ends instead of looking frozen. Returns the steps run."""
        self._require_open()
        horizon = IDLE_HORIZON_S if max_virtual_seconds is None else max(0.0, float(max_virtual_seconds))
        limit = self.clock.now() + horizon
        steps = self.clock.run_until_idle(horizon)
        # Invocations paused at a call (``faults.pause``) keep their lease until resumed.
        while self.concurrency.running() > len(self.service.scheduler.held()):
            self.concurrency.wait_until_idle(timeout=0.02)
            steps += self.clock.run_until_idle(max(0.0, limit - self.clock.now()))
        return steps

    def advance(self, seconds: float) -> None:
        """Move the virtual clock forward, running whatever falls due on the way."""
        self._require_open()
        self.clock.advance(seconds)

    def now(self) -> float:
        """The engine's clock: epoch seconds, virtual unless the cloud runs in real time."""
        return self.clock.now()

    def logs(self, function: str, request_id: str | None = None) -> list[str]:
        """The function's CloudWatch-style log lines (START/END/REPORT and what the handler printed)."""
        return self._logs.lines(self.service.function(function).FunctionName, request_id)

    def api_url(self, api: str) -> str:
        """Base URL of a local API Gateway stage (logical id, e.g. "ServerlessRestApi")."""
        self._require_open()
        return str(self._api_gateway(api).url)

    def api_execution_log(self, api: str) -> list[str]:
        """API Gateway's own log lines for a local API (its CloudWatch execution log), oldest first."""
        return self._api_gateway(api).execution_log

    def _api_gateway(self, api: str) -> ApiGatewayServer:
        if api not in self.api_gateways:
            raise ConfigurationError(f"no API named {api!r}; the template has {sorted(self.api_gateways)}")
        return self.api_gateways[api]

    def function(self, name: str) -> FunctionConfig:
        """A function's configuration (GetFunctionConfiguration) by logical id, name or ARN:
        ``FunctionName``, ``Timeout``, ``MemorySize``, ``Environment``..."""
        return self.service.function(name)

    def event_source_mappings(self) -> dict[str, SqsPoller | StreamPoller]:
        """The SQS and stream event-source mappings by logical id (ListEventSourceMappings)."""
        registry = self.service.event_source_mappings
        registered = registry() if callable(registry) else registry
        found = {m.config.logical_id: m for m in registered.values() if isinstance(m, (SqsPoller, StreamPoller))}
        return dict(sorted(found.items()))

    def event_source_mapping(self, name: str) -> SqsPoller | StreamPoller:
        """One event-source mapping (GetEventSourceMapping) by its logical id or UUID, or by the
        logical id or name of its function or queue or stream when only one mapping matches: its
        ``config``, its ``stats`` and ``reset_stats()``."""
        return find_mapping(self.event_source_mappings(), name, "SQS or stream", _mapping_source)

    def queue_attributes(self, queue: str) -> dict[str, str]:
        """A queue's attributes by logical id or URL, as GetQueueAttributes (``All``) gives them: strings."""
        self._require_open()
        if queue in self.model.resources:
            if self.model.resources[queue].get("Type") != "AWS::SQS::Queue":
                raise ConfigurationError("is not an SQS queue", queue)
            queue = self.resource(queue)
        return self.dataplane.queue_attributes(queue)

    def async_queue(self) -> AsyncQueue:
        """Where Event invokes, S3 notifications and SNS deliveries wait: ``pending()``, ``stats``."""
        queue = self.service.async_queue()
        assert isinstance(queue, AsyncQueue)
        return queue

    @property
    def faults(self) -> Faults:
        """Scripted faults: ``throttle``, ``fail``, ``crash``, ``duplicate_delivery``, ``replay``, ``clear``."""
        self._require_open()
        return self.service.faults

    @property
    def closed(self) -> bool:
        return self._closed

    def _require_open(self) -> None:
        """A closed cloud's journal and logs can still be read; nothing can run on it."""
        if self._closed:
            raise ConfigurationError("this local cloud is closed (a process runs one local cloud at a time: "
                                     "starting another closes the one before); start a new one")


def _mapping_source(mapping: SqsPoller | StreamPoller) -> str:
    """The logical id of a mapping's queue or stream."""
    if isinstance(mapping, SqsPoller):
        return mapping.config.queue_logical_id
    return mapping.config.stream_logical_id


def _layers_and_tracing(layer_paths: tuple[Path, ...]) -> dict[str, str]:
    """Layers on the import path as ``/opt/python`` would be, and an unsampled X-Ray trace header
    (Lambda sets one for every invocation), so the X-Ray SDK and Powertools' tracer run quietly."""
    env = {"_X_AMZN_TRACE_ID": "Root=1-00000000-000000000000000000000000;Parent=0000000000000000;Sampled=0",
           "AWS_XRAY_CONTEXT_MISSING": "LOG_ERROR"}
    if layer_paths:
        env["PYTHONPATH"] = os.pathsep.join(str(p) for p in layer_paths)
    return env


def provision(template: str | Path, code_path: Callable[[str], str] | None = None,
              env_vars: dict[str, dict[str, str]] | None = None,
              parameter_overrides: dict[str, Any] | None = None) -> tuple[CloudModel, DataPlane]:
    """The template's model, its resources deployed on a fresh, running data plane (``LocalCloud.start``
    without the cloud). moto's state is process-wide, so the cloud open in this process is closed first."""
    model = build_model(load_template(template, parameter_overrides), code_path, parameter_overrides)
    model.env_overrides = dict(env_vars or {})
    for lid, variables in model.env_overrides.items():
        check_environment_keys(lid, variables)
    _close_the_open_cloud()
    dataplane = DataPlane(REGION).start()
    try:
        dataplane.reset()
        model.deploy(dataplane.client)
        unknown = sorted(set(model.env_overrides) - set(model.functions))
        if unknown:
            raise ConfigurationError("env_vars names a function the template does not have", unknown[0])
        model.role_credentials = roles.issue(_execution_roles(model), dataplane.client)
        model.not_emulated += [(lid, "Role", _UNKNOWN_ROLE) for lid in sorted(set(model.functions) - set(
            model.role_credentials))]
    except BaseException:
        dataplane.stop()
        raise
    return model, dataplane


_UNKNOWN_ROLE = ("a role the template does not create: its policies are unknown locally, so this function's "
                 "calls are not checked")


def _execution_roles(model: CloudModel) -> dict[str, tuple[str, str]]:
    """Each function's name and the ARN of its execution role (its ``Role``, resolved)."""
    found: dict[str, tuple[str, str]] = {}
    resolver = model.resolver()
    for lid, fn in model.functions.items():
        role = (model.resources[lid].get("Properties") or {}).get("Role")
        arn = resolver.resolve(role, (lid, "Properties.Role")) if role is not None else None
        if isinstance(arn, str) and arn:
            found[lid] = (fn.FunctionName, arn if arn.startswith("arn:") else
                          f"arn:aws:iam::{ACCOUNT_ID}:role/{arn}")
    return found


def _guard_this_process() -> None:
    """Once per process: a script that never closes its cloud closes it at exit, and nothing its
    functions started outlives the process, however it ends (``lambdalab.runtime.lifetime``)."""
    global _guarded_pid
    if _guarded_pid != os.getpid():
        _guarded_pid = os.getpid()
        atexit.register(_close_at_exit)
        lifetime.guard_process()


def _close_at_exit() -> None:
    with _open_cloud_lock:
        cloud = _open_cloud
    if cloud is not None and not cloud.closed and _guarded_pid == os.getpid():
        cloud.close()


_HOME_PREFIX = "lambdalab-home-"


def _remove_homes_of_ended_engines() -> None:
    """The functions' HOME folders of engines that ended without closing their cloud (killed):
    close removes its own, the next cloud removes these."""
    if os.name != "posix":
        return  # os.kill(pid, 0) ends the process on Windows
    root = tempfile.gettempdir()
    try:
        names = [n for n in os.listdir(root) if n.startswith(_HOME_PREFIX)]
    except OSError:
        return
    for name in names:
        pid = name[len(_HOME_PREFIX):].split("-", 1)[0]
        if pid.isdigit() and not _running(int(pid)):
            shutil.rmtree(os.path.join(root, name), ignore_errors=True)


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True  # another user's
    return True


def _close_the_open_cloud() -> None:
    """Before a new cloud resets moto, close the one open in this process, saying so: left open, its
    pollers would fail on, or consume, the new cloud's resources of the same names."""
    with _open_cloud_lock:
        earlier = _open_cloud
    if earlier is not None and not earlier.closed:
        earlier.close()
        print(REPLACED, file=sys.stderr)


@contextmanager
def local_cloud(template: str | Path = "template.yaml", **kwargs: Any) -> Iterator[LocalCloud]:
    cloud = LocalCloud.start(template, **kwargs)
    try:
        yield cloud
    finally:
        cloud.close()
