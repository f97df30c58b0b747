"""A threaded WSGI server on 127.0.0.1 and a free port, started and stopped by the engine."""

from __future__ import annotations

import logging
import socket
import threading
from typing import Any

from werkzeug.serving import ThreadedWSGIServer

logging.getLogger("werkzeug").setLevel(logging.ERROR)


# How often serve_forever checks for shutdown: stop() waits up to this long.
SHUTDOWN_POLL_S = 0.02


class LocalServer:
    def __init__(self, app: Any, name: str, port: int = 0):
        self._server = ThreadedWSGIServer("127.0.0.1", port, app)  # request threads are daemons
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
