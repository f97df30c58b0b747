"""What a function writes to fd 1/2, cut into CloudWatch-style log events, with a cap per invocation.

The runtime writes a multi-line event (a logging record, an error with its traceback) as one line
with ``\\r`` between its lines, like the Python runtime's standard log sink; here it becomes one
event again. The cap keeps a handler that prints megabytes from filling the engine's memory.
"""

from __future__ import annotations


class Output:
    """Bytes kept up to ``limit`` between two ``take_lines`` calls; the rest is counted, not kept."""

    def __init__(self, limit: int):
        self.limit = limit
        self._data = bytearray()
        self._dropped = 0

    def feed(self, chunk: bytes) -> None:
        room = max(self.limit - len(self._data), 0)
        if room >= len(chunk):
            self._data += chunk
        else:
            self._data += chunk[:room]
            self._dropped += len(chunk) - room

    def take_lines(self) -> list[str]:
        """The events written since the last take; an unfinished last line counts as one."""
        if not self._data and not self._dropped:
            return []
        text = self._data.decode("utf-8", "replace")
        self._data = bytearray()
        if text.endswith("\n"):
            text = text[:-1]
        lines = [line.rstrip("\r").replace("\r", "\n") for line in text.split("\n")] if text else []
        if self._dropped:
            lines.append(f"[truncated {self._dropped} bytes]")
            self._dropped = 0
        return lines
