"""A threaded WSGI server on 127.0.0.1 and a free port, started and stopped by the engine.

Every local endpoint answers this machine only (``only_this_machine``): a request must name a
loopback host, so a web page whose own name resolves to 127.0.0.1 (DNS rebinding) is refused, and a
request a browser sends from another origin is refused unless the endpoint accepts cross-origin
requests (an API whose template declares CORS). Clients that send no ``Origin`` (boto3, requests,
curl) and pages served from this machine (JupyterLab on 127.0.0.1 or localhost) are served.
"""

from __future__ import annotations

import ipaddress
import logging
import socket
import threading
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import urlsplit

from werkzeug.serving import ThreadedWSGIServer

logging.getLogger("werkzeug").setLevel(logging.ERROR)


# How often serve_forever checks for shutdown: stop() waits up to this long.
SHUTDOWN_POLL_S = 0.02


WsgiApp = Callable[[dict[str, Any], Any], Iterable[bytes]]


class LocalServer:
    """``app`` served on 127.0.0.1 to this machine only; ``cross_origin``: serve other origins too."""

    def __init__(self, app: Any, name: str, port: int = 0, *, cross_origin: bool = False):
        self._server = ThreadedWSGIServer(  # request threads are daemons
            "127.0.0.1", port, only_this_machine(app, cross_origin=cross_origin))
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": SHUTDOWN_POLL_S}, name=name, daemon=True
        )
        self._thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_port}"

    def stop(self) -> None:
        stop_serving(self._server)
        self._server.server_close()
        self._thread.join(timeout=5)


def stop_serving(server: Any) -> None:
    """``server.shutdown()`` without waiting out the serve loop's poll interval: connections to the
    listening socket wake the loop's ``select`` until it has seen the request to stop. A cloud
    closes three or four servers, and every check and test closes a cloud."""
    host, port = server.server_address[:2]
    stopper = threading.Thread(target=server.shutdown, name="lambdalab-server-stop", daemon=True)
    stopper.start()
    while stopper.is_alive():
        try:
            socket.create_connection((host, port), timeout=0.5).close()
        except OSError:
            pass  # not listening any more, or too busy to accept: the poll interval still ends it
        stopper.join(0.002)


def only_this_machine(app: WsgiApp, *, cross_origin: bool = False) -> WsgiApp:
    """``app`` behind the checks in the module docstring: 403 and one line for a request refused."""

    def guarded(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        host = environ.get("HTTP_HOST")
        if host is not None and not is_loopback_name(_host_name(host)):
            return _refuse(start_response, f"a request for host {host!r}: the local endpoints answer only "
                                           "this machine's names (127.0.0.1, localhost, [::1])")
        origin = environ.get("HTTP_ORIGIN")
        if origin is not None and not cross_origin and not _is_local_origin(origin):
            return _refuse(start_response, f"a cross-origin request from {origin!r}: only an API whose "
                                           "template declares CORS answers pages from other origins")
        return app(environ, start_response)

    return guarded


def is_loopback_name(name: str | None) -> bool:
    """127.0.0.0/8, ::1, ``localhost`` and names under ``.localhost`` (always loopback, RFC 6761;
    boto3 addresses an S3 bucket as ``<bucket>.localhost`` on a ``localhost`` endpoint)."""
    if not name:
        return False
    name = name.lower().removesuffix(".")
    if name == "localhost" or name.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def _host_name(host: str) -> str | None:
    """The name in a ``Host`` header (any port), or None when it is not a plain host."""
    if any(c in host for c in "@/\\?#") or not host.strip():
        return None
    try:
        return urlsplit(f"//{host.strip()}").hostname
    except ValueError:
        return None


def _is_local_origin(origin: str) -> bool:
    """A page served from this machine; "null" (a file, a sandboxed page) is not."""
    try:
        parts = urlsplit(origin.strip())
        return parts.scheme in ("http", "https") and is_loopback_name(parts.hostname)
    except ValueError:
        return False


def _refuse(start_response: Any, what: str) -> list[bytes]:
    body = f"lambdalab: refused {what}\n".encode()
    start_response("403 Forbidden", [("Content-Type", "text/plain; charset=utf-8"),
                                     ("Content-Length", str(len(body)))])
    return [body]
