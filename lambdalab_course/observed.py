"""What a failed check observed, for the learner: the check's own failure in one line, which
functions failed while it ran (the error, the file to open, a request id to look up), and their log
lines. A hint says what to do; this says what happened, so a half-right solution and an untouched
TODO read differently."""

from __future__ import annotations

import re
from collections import Counter
from typing import Any

import pytest

from lambdalab_course.layout import handler_file

REASON_LENGTH = 160
LOG_LINES = 12  # per failed check: enough for one traceback's last frames
_NOISE = ("START RequestId", "END RequestId", "REPORT RequestId", "INIT_START")


def short_reason(message: str) -> str:
    """One line, spaces collapsed, cut to a length a table can show: the exception's first line. A
    check that prints a table (the journal) as its message keeps the words before it; with none,
    pytest's ``assert`` line, which says what went wrong and groups the same mistake across learners."""
    lines = [part for part in message.splitlines() if part.strip()] or [message]
    line = lines[0]
    table = re.search(r"\S+ {2,}\S", line)  # a table's header: words aligned in columns
    if table:
        words = line[: table.start()].rstrip(" :")
        compared = next((part.strip() for part in lines[1:] if part.strip().startswith("assert ")), None)
        line = f"AssertionError: {compared}" if words == "AssertionError" and compared else words
    line = re.sub(r"\s+", " ", line).strip()
    return line if len(line) <= REASON_LENGTH else line[: REASON_LENGTH - 1] + "…"


class Watch:
    """The local clouds a check uses, and how much of each journal came before the check."""

    def __init__(self) -> None:
        self.clouds: list[Any] = []
        self._before: dict[int, int] = {}

    def add(self, cloud: Any) -> None:
        self.clouds.append(cloud)

    def discard(self, cloud: Any) -> None:
        if cloud in self.clouds:
            self.clouds.remove(cloud)

    def start(self) -> None:
        """A check begins: what its clouds' journals hold now is not its doing."""
        self._before = {id(c): _count(c) for c in self.clouds}

    def failures(self) -> tuple[str, list[str]]:
        """Functions that failed since ``start``: one line for the report, and their log lines."""
        counted: Counter[tuple[str, str]] = Counter()
        first: dict[tuple[str, str], Any] = {}
        logs: list[str] = []
        for cloud in self.clouds:
            try:
                seen = cloud.journal.invocations()[self._before.get(id(cloud), 0):]
            except Exception:  # a cloud closed mid-check says nothing more
                continue
            for attempt in seen:
                if str(attempt.outcome) != "Error":
                    continue
                key = (attempt.function, attempt.detail or "error")
                counted[key] += 1
                if key not in first:
                    first[key] = attempt
                    logs += _log_lines(cloud, attempt)
        parts = [f"{fn} failed with {detail}" + (f" {n}x" if n > 1 else "")
                 + f" (request id {first[(fn, detail)].request_id}{_where(self.clouds, fn)})"
                 for (fn, detail), n in counted.most_common(3)]
        return "; ".join(parts), logs[-LOG_LINES * 2:]


def _count(cloud: Any) -> int:
    try:
        return len(cloud.journal.invocations())
    except Exception:
        return 0


def _where(clouds: list[Any], function: str) -> str:
    """``, labs/01_request_response/orders/app.py``: the handler's file, as the learner knows it."""
    for cloud in clouds:
        try:
            config = cloud.function(function)
        except Exception:
            continue
        path = handler_file(config)
        parts = path.parts
        for top in ("labs", "solutions"):
            if top in parts:
                return ", " + "/".join(parts[len(parts) - parts[::-1].index(top) - 1:])
        return f", {path}"
    return ""


def _log_lines(cloud: Any, attempt: Any) -> list[str]:
    try:
        lines = cloud.logs(attempt.function, attempt.request_id)
    except Exception:
        return []
    kept: list[str] = []
    for event in lines:
        if not event.startswith(_NOISE):
            kept += [line.rstrip() for line in event.splitlines() if line.strip() and line.rstrip() not in kept]
    return [f"{attempt.function} {attempt.request_id[:8]}: {line}" for line in kept[-LOG_LINES:]]


_WATCH = pytest.StashKey[Watch]()


def watch_of(config: pytest.Config) -> Watch:
    """The run's watch: the fixtures add the local clouds they start, the plugin reads it."""
    if _WATCH not in config.stash:
        config.stash[_WATCH] = Watch()
    return config.stash[_WATCH]
