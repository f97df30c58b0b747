"""How many batches a mapping may run at once, on the engine's clock (pure) [SQS-S],[API-SC].

Lambda starts with 5 concurrent batches, adds up to 300 a minute while messages keep coming, and
stops at 1,000 per mapping, or at ScalingConfig.MaximumConcurrency when it is set. When the queue
runs dry it drops back to where it started.
"""

from __future__ import annotations

from dataclasses import dataclass

START_CONCURRENCY = 5
SCALE_UP_PER_MINUTE = 300
MAX_CONCURRENCY = 1000


@dataclass
class Scaling:
    maximum: int | None = None  # ScalingConfig.MaximumConcurrency
    busy_since: float | None = None  # when the queue was last found with messages after being empty

    @property
    def ceiling(self) -> int:
        return min(MAX_CONCURRENCY, self.maximum or MAX_CONCURRENCY)

    def concurrency(self, now: float) -> int:
        """Batches this mapping may run concurrently at ``now``."""
        grown = 0 if self.busy_since is None else int((now - self.busy_since) * SCALE_UP_PER_MINUTE / 60)
        return min(self.ceiling, START_CONCURRENCY + grown)

    def found_messages(self, now: float) -> None:
        if self.busy_since is None:
            self.busy_since = now

    def found_none(self) -> None:
        self.busy_since = None
