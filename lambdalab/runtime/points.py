"""The function side of the virtual clock: the handler's time is the engine's, and every AWS SDK
call and every ``time.sleep`` is a point where the engine decides what happens next.

Loaded by ``bootstrap.py`` from its own folder, only on the virtual clock; like the runtime, it
imports nothing of ``lambdalab``. On the real clock none of this is installed.

- ``time.time()``, ``datetime.now()``, ``utcnow()`` … follow the engine's clock through time-machine,
  which patches them at C level (so library code that reads the clock sees it too);
  ``time.monotonic()`` moves with it, and never backwards.
- ``time.sleep(n)`` costs no wall time: the runtime tells the engine, which answers when its clock
  has reached the end of the sleep (other invocations may run meanwhile).
- Every botocore client gets event handlers on its call path (``before-call`` / ``after-call``):
  before a call goes out the runtime asks the engine, which answers ``go``, ``fail`` (the call
  fails with an AWS error code, as botocore raises it), ``crash`` (the process dies there) or makes
  it wait; after the call, the engine hears its outcome and may ``lose`` the answer (the handler
  sees botocore's ``ReadTimeoutError`` although the call committed) or ``crash``.

One question costs one pipe round trip. The outcome of a call is sent with the next question (or
just before the invocation's answer) unless the engine asked to stop after that call.

Wire format, as the runtime's other messages: ``P ok <length> <memory MB>`` then a JSON question
(``T`` for a note that needs no answer); the engine answers ``G <length>`` then JSON.
"""

from __future__ import annotations

import importlib.abc
import importlib.util
import json
import os
import signal
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

_REAL_MONOTONIC = time.monotonic


class Channel:
    """Questions to the engine on the protocol pipes, one at a time. Between invocations Lambda
    freezes the environment, so a background thread that asks then waits for the next invocation."""

    def __init__(self, requests: Any, send: Callable[[str, bytes], None]):
        self._requests = requests
        self._send = send
        self._lock = threading.Lock()
        self._active = threading.Event()
        self.pending: list[dict[str, Any]] = []  # outcomes of calls not reported yet

    def activate(self) -> None:
        self._active.set()

    def freeze(self) -> None:
        """The invocation answered: report what is left; later questions wait for the next one."""
        with self._lock:
            if self.pending:
                self._send("T", json.dumps({"kind": "done", "done": self.pending}).encode())
                self.pending = []
            self._active.clear()

    def ask(self, question: dict[str, Any]) -> dict[str, Any]:
        self._active.wait()
        with self._lock:
            question["done"], self.pending = self.pending, []
            self._send("P", json.dumps(question, default=str).encode())
            header = self._requests.readline().split()
            if len(header) != 2 or header[0] != b"G":
                os._exit(70)  # the engine is gone or the protocol broke: nothing sensible is left to do
            reply: dict[str, Any] = json.loads(self._requests.read(int(header[1])))
        clock.move_to(reply["now"])
        return reply


class VirtualClock:
    """The engine's time, as the handler reads it."""

    def __init__(self) -> None:
        self._traveller: Any = None
        self._now = 0.0
        self._monotonic = _REAL_MONOTONIC()

    def move_to(self, now: float) -> None:
        if self._traveller is None:
            import time_machine

            self._traveller = time_machine.travel(now, tick=False).start()
        elif now != self._now:
            self._traveller.move_to(now)
        if now > self._now:
            self._monotonic += now - self._now if self._now else 0.0
        self._now = max(self._now, now)

    def monotonic(self) -> float:
        return self._monotonic

    def monotonic_ns(self) -> int:
        return int(self._monotonic * 1e9)


clock = VirtualClock()
_channel: Channel | None = None


def _sleep(seconds: float) -> None:
    if seconds < 0:
        raise ValueError("sleep length must be non-negative")
    if _channel is not None:
        _channel.ask({"kind": "sleep", "seconds": float(seconds)})


# -- AWS SDK calls --------------------------------------------------------------------------------
def _call_name(model: Any) -> tuple[str, str]:
    return str(model.service_model.service_name), str(model.name)


def _remember(params: Any, model: Any, context: dict[str, Any], **_: Any) -> None:
    """The call's parameters as the handler passed them, and its model, for the points after it."""
    context["lambdalab_params"] = params
    context["lambdalab_model"] = model


def _die() -> None:
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    finally:
        os.kill(os.getpid(), signal.SIGKILL)


class _FailedCall:
    """What botocore needs of an HTTP response to raise the error it carries."""

    def __init__(self, status: int):
        self.status_code = status
        self.headers: dict[str, str] = {}
        self.url = ""
        self.content = b""


def _before_call(model: Any, context: dict[str, Any], **_: Any) -> Any:
    if _channel is None:
        return None
    service, operation = _call_name(model)
    reply = _channel.ask({"kind": "call", "service": service, "operation": operation,
                          "params": context.get("lambdalab_params")})
    action = reply.get("action", "go")
    if action == "crash":
        _die()
    if action == "fail":
        status = int(reply.get("status", 400))
        return _FailedCall(status), {
            "Error": {"Code": reply["error"], "Message": reply.get("message", "")},
            "ResponseMetadata": {"HTTPStatusCode": status},
        }
    context["lambdalab_stop_after"] = bool(reply.get("stop_after"))
    return None


def _after(model: Any, context: dict[str, Any], outcome: str, url: str) -> None:
    if _channel is None:
        return
    if not context.get("lambdalab_stop_after"):
        _channel.pending.append({"outcome": outcome})
        return
    service, operation = _call_name(model)
    reply = _channel.ask({"kind": "after", "service": service, "operation": operation, "outcome": outcome})
    action = reply.get("action", "go")
    if action == "crash":
        _die()
    if action == "lose":
        from botocore.exceptions import ReadTimeoutError

        raise ReadTimeoutError(endpoint_url=url or f"https://{service}.amazonaws.com")


def _after_call(http_response: Any, parsed: Any, model: Any, context: dict[str, Any], **_: Any) -> None:
    code = "ok"
    if getattr(http_response, "status_code", 200) >= 300:
        code = str((parsed or {}).get("Error", {}).get("Code") or http_response.status_code)
    _after(model, context, code, str(getattr(http_response, "url", "") or ""))


def _after_call_error(exception: BaseException, context: dict[str, Any], **kwargs: Any) -> None:
    model = context.get("lambdalab_model")
    if model is not None:
        _after(model, context, type(exception).__name__, "")


def _on_client(client: Any) -> Any:
    events = client.meta.events
    events.register("before-parameter-build", _remember)
    events.register_first("before-call", _before_call)
    events.register_last("after-call", _after_call)
    events.register_last("after-call-error", _after_call_error)
    return client


def _patch_session(module: Any) -> None:
    """Every client any botocore session creates (boto3's too) reports its calls."""
    create_client = module.Session.create_client

    def create_client_with_points(self: Any, *args: Any, **kwargs: Any) -> Any:
        return _on_client(create_client(self, *args, **kwargs))

    module.Session.create_client = create_client_with_points


class _ThenPatch(importlib.abc.Loader):
    def __init__(self, inner: Any, then: Callable[[Any], None]):
        self._inner, self._then = inner, then

    def create_module(self, spec: Any) -> Any:
        return self._inner.create_module(spec)

    def exec_module(self, module: Any) -> None:
        self._inner.exec_module(module)
        self._then(module)


class _WatchBotocore(importlib.abc.MetaPathFinder):
    """Patches ``botocore.session`` when the handler first imports it: a function that never uses
    the SDK pays nothing for it."""

    def find_spec(self, name: str, path: Any = None, target: Any = None) -> Any:
        if name != "botocore.session":
            return None
        sys.meta_path.remove(self)
        spec = importlib.util.find_spec(name)
        if spec is not None and spec.loader is not None:
            spec.loader = _ThenPatch(spec.loader, _patch_session)
        return spec


def install(requests: Any, send: Callable[[str, bytes], None], now: float) -> Channel:
    """Virtual time and call points for this process, from Init on (``now``: Init's start)."""
    global _channel
    clock.move_to(now)
    time.sleep = _sleep  # type: ignore[assignment]
    time.monotonic = clock.monotonic
    time.monotonic_ns = clock.monotonic_ns
    _channel = Channel(requests, send)
    _channel.activate()
    if "botocore.session" in sys.modules:
        _patch_session(sys.modules["botocore.session"])
    else:
        sys.meta_path.insert(0, _WatchBotocore())
    return _channel
