"""CloudWatch-style log lines per function, kept in memory with a cap so a chatty handler can't
exhaust the host. Lines carry their virtual timestamp and log stream (one per environment)."""

from __future__ import annotations

import threading
from collections import deque
from dataclasses import dataclass
from pathlib import Path

from lambdalab.clock import iso_timestamp

MAX_LINES_PER_FUNCTION = 50_000


@dataclass(frozen=True)
class LogEvent:
    timestamp: float
    log_stream: str
    request_id: str | None
    message: str


class LogStore:
    """In memory; with ``log_dir`` also appended to ``<log_dir>/<function>.log`` for ``lambdalab logs``."""

    def __init__(self, log_dir: Path | None = None) -> None:
        self._events: dict[str, deque[LogEvent]] = {}
        self._lock = threading.Lock()
        self._dir = log_dir
        if log_dir is not None:
            log_dir.mkdir(parents=True, exist_ok=True)

    def put(self, function: str, events: list[LogEvent]) -> None:
        with self._lock:
            store = self._events.setdefault(function, deque(maxlen=MAX_LINES_PER_FUNCTION))
            store.extend(events)
            if self._dir is not None and events:
                with open(self._dir / f"{function}.log", "a", encoding="utf-8") as out:
                    out.writelines(f"{iso_timestamp(e.timestamp)} {e.log_stream} {e.message}\n" for e in events)

    def events(self, function: str, request_id: str | None = None) -> list[LogEvent]:
        with self._lock:
            items = list(self._events.get(function, ()))
        return [e for e in items if request_id is None or e.request_id == request_id]

    def lines(self, function: str, request_id: str | None = None) -> list[str]:
        return [e.message for e in self.events(function, request_id)]
