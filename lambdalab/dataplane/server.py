"""The data plane: moto in server mode, in this process, on 127.0.0.1 and a free port.

S3, SNS, SQS, Kinesis, DynamoDB and DynamoDB Streams answer here in a few milliseconds per call.
moto's defects are handled as follows:

* moto is not thread-safe (concurrent clients duplicated SQS messages and lost Kinesis and DynamoDB
  writes), so every request runs under one process-wide lock, response body included;
* SQS is quadratic in queue depth, and moto would invoke Lambda itself for S3 events and SNS
  deliveries; ``lambdalab.dataplane.patches`` fixes those (and a few costs) for the pinned moto, and
  hands those events to the data plane's ``listeners``;
* its timers are wall-clock (visibility, delays, retention; DynamoDB TTL never deletes), so the
  engine drives whatever its virtual clock moves, e.g. ``end_visibility``.

Quirks left as they are, for callers to know:

* S3 notifications to SQS/SNS send an ``s3:TestEvent`` message first, and lack some fields;
* Kinesis sequence numbers are small numeric strings ("1", "2", ...): compare them as integers;
* a DynamoDB table's stream has one shard, never trimmed;
* moto's state is process-wide: data planes in one process share it, and ``reset`` empties it all.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import urllib.request
from collections.abc import Iterable
from dataclasses import dataclass
from types import TracebackType
from typing import Any

from lambdalab.dataplane import patches
from lambdalab.httpserver import only_this_machine, stop_serving

_FAKE_CREDENTIALS = {
    "aws_access_key_id": "testing",
    "aws_secret_access_key": "testing",
    "aws_session_token": "testing",
}
# Receive with this (AWS's maximum) when the engine's clock owns visibility, then end_visibility.
ENGINE_VISIBILITY_TIMEOUT = 43_200
# How often the server loop looks for a stop request: what stop() may wait (socketserver's is 0.5 s).
_SHUTDOWN_POLL_SECONDS = 0.05


@dataclass(frozen=True)
class RedrivePolicy:
    """A queue's ``RedrivePolicy``: after maxReceiveCount receives, a message moves to the DLQ."""

    deadLetterTargetArn: str
    maxReceiveCount: int


SESSION_LOCK = threading.Lock()
_sessions: dict[str, Any] = {}


def shared_session(region: str) -> Any:
    """One session per process and region that reads no AWS config or credentials file and no
    profile: never the user's. Shared by every data plane, so the service models botocore parses
    (about 40 ms a service) are loaded once, not once per cloud."""
    if region not in _sessions:
        import boto3
        import botocore.session

        core = botocore.session.Session(session_vars={
            "profile": (None, None, None, None),
            "config_file": (None, None, os.devnull, None),
            "credentials_file": (None, None, os.devnull, None),
        })
        _sessions[region] = boto3.session.Session(botocore_session=core, region_name=region)
    return _sessions[region]


class DataPlane:
    """A moto server and cached boto3 clients for it; see the module docstring for its quirks.

    ``listeners``: the engine's listeners to S3 object events and SNS deliveries to Lambda of this
    data plane's requests (``lambdalab.dataplane.patches.notifications``).
    """

    def __init__(self, region: str):
        self.region = region
        self.listeners = patches.Listeners()
        self._server: Any = None
        self._thread: threading.Thread | None = None
        self._clients: dict[str, Any] = {}
        self._clients_lock = threading.Lock()

    # -- lifecycle --------------------------------------------------------------------------------
    def start(self) -> DataPlane:
        """Serve moto on 127.0.0.1; moto's backends load on their first request, not here."""
        if self._server is not None:
            return self
        patches.apply()
        self._server = _make_server(self.listeners)
        self._thread = threading.Thread(target=self._server.serve_forever, args=(_SHUTDOWN_POLL_SECONDS,),
                                        name="lambdalab-dataplane", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Shut the server down and close the clients; safe to call twice."""
        server, self._server = self._server, None
        if server is None:
            return
        with self._clients_lock:
            for client in self._clients.values():
                client.close()
            self._clients.clear()
        stop_serving(server)
        server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> DataPlane:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        self.stop()

    @property
    def endpoint_url(self) -> str:
        if self._server is None:
            raise RuntimeError("the data plane is not running; call start() first")
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def reset(self) -> None:
        """Empty every moto backend, so each cloud starts from nothing."""
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        request = urllib.request.Request(f"{self.endpoint_url}/moto-api/reset", data=b"", method="POST")
        with opener.open(request, timeout=30) as response:
            response.read()

    # -- clients ----------------------------------------------------------------------------------
    def client(self, service: str) -> Any:
        """A boto3 client for ``service`` on this endpoint, created once and shared across threads."""
        with self._clients_lock:
            if service not in self._clients:
                self._clients[service] = self.new_client(service, config=_client_config())
            return self._clients[service]

    def new_client(self, service: str, endpoint_url: str | None = None, **kwargs: Any) -> Any:
        """A client of its own (``kwargs`` as ``boto3.client`` takes them), made from the shared session:
        the service models are parsed already, and no user profile or config file is read."""
        options = {"region_name": self.region, "endpoint_url": endpoint_url or self.endpoint_url,
                   **_FAKE_CREDENTIALS, **kwargs}
        with SESSION_LOCK:  # botocore sessions are not thread-safe
            return shared_session(self.region).client(service, **options)

    # -- timers the engine drives -----------------------------------------------------------------
    def end_visibility(self, queue_url: str, receipt_handle: str) -> None:
        """Make a received message receivable now: its visibility timeout ended on the engine's clock."""
        self.client("sqs").change_message_visibility(
            QueueUrl=queue_url, ReceiptHandle=receipt_handle, VisibilityTimeout=0)

    def queue_attributes(self, queue_url: str) -> dict[str, str]:
        """All of a queue's attributes, as GetQueueAttributes gives them (strings)."""
        answer = self.client("sqs").get_queue_attributes(QueueUrl=queue_url, AttributeNames=["All"])
        return dict(answer.get("Attributes", {}))

    def redrive_policy(self, queue_url: str) -> RedrivePolicy | None:
        """The queue's redrive policy, or None when it has no dead-letter queue."""
        raw = self.queue_attributes(queue_url).get("RedrivePolicy")
        if not raw:
            return None
        policy = json.loads(raw)
        return RedrivePolicy(policy["deadLetterTargetArn"], int(policy["maxReceiveCount"]))


def _client_config() -> Any:
    """No proxies (the endpoint is local), no retries (they would hide moto's errors and duplicate sends)."""
    from botocore.config import Config

    return Config(proxies={}, retries={"mode": "standard", "total_max_attempts": 1},
                  max_pool_connections=32)


class _Serialised:
    """WSGI middleware: one request at a time through moto, its response body produced under the lock,
    its S3 events and SNS deliveries to Lambda going to this data plane's listeners."""

    def __init__(self, app: Any, listeners: patches.Listeners):
        self._app = app
        self._lock = patches.MOTO_LOCK
        self._listeners = listeners

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        with self._lock.held(), self._listeners.delivering():
            response = self._app(environ, start_response)
            try:
                return list(response)
            finally:
                close = getattr(response, "close", None)
                if close is not None:
                    close()


def _make_server(listeners: patches.Listeners) -> Any:
    """A threaded werkzeug server around moto's dispatcher, on 127.0.0.1 only, request lines unlogged,
    answering this machine only (``lambdalab.httpserver.only_this_machine``: no other Host name, no
    page from another origin, whatever CORS moto itself would allow)."""
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
    from werkzeug.serving import ThreadedWSGIServer

    class QuietHandler(MotoRequestHandler):
        def log_request(self, *args: Any, **kwargs: Any) -> None:
            pass

    class Server(ThreadedWSGIServer):
        request_queue_size = 128  # socketserver's 5 would refuse bursts from many pollers

        def log(self, type: str, message: str, *args: Any) -> None:
            """A request moto crashed on is answered 500, which its caller reports in one line; the
            traceback goes to the debug log, not above that line on the learner's terminal."""
            if type == "error":
                logging.getLogger(__name__).debug(message, *args)
            else:
                super().log(type, message, *args)

    # moto's ASL interpreter logs every failed state (a throttled task, a caught error) as an ERROR
    # with its whole parse tree; the execution's history and DescribeExecution already say it.
    logging.getLogger("moto.stepfunctions.parser").setLevel(logging.CRITICAL)
    app = only_this_machine(_Serialised(DomainDispatcherApplication(create_backend_app), listeners))
    return Server("127.0.0.1", 0, app, handler=QuietHandler)
