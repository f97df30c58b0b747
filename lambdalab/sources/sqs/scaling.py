"""How many batches a mapping may run at once, on the engine's clock (pure) [SQS-S],[API-SC],[SQS-T].

Lambda starts with 5 concurrent batches, adds up to 300 a minute while messages keep coming, and
stops at 1,000 per mapping, or at ScalingConfig.MaximumConcurrency when it is set. When the queue
runs dry it drops back to where it started.

Throttles make Lambda reduce the mapping's concurrency [SQS-T]. By how much AWS does not say; the
engine halves it on each round of invokes with a throttle (down to 1 batch), holds it there while
throttled batches wait for their retry, then grows it back at the scale-up rate.
"""

from __future__ import annotations

from dataclasses import dataclass

START_CONCURRENCY = 5
SCALE_UP_PER_MINUTE = 300
MAX_CONCURRENCY = 1000
MIN_AFTER_THROTTLES = 1  # the engine's floor when throttles cut the concurrency down


@dataclass
class Scaling:
    maximum: int | None = None  # ScalingConfig.MaximumConcurrency
    busy_since: float | None = None  # when the queue was last found with messages after being empty
    backed_off: int | None = None  # the concurrency throttles cut the mapping down to
    recovering_since: float | None = None  # when no throttled batch was left waiting

    @property
    def ceiling(self) -> int:
        return min(MAX_CONCURRENCY, self.maximum or MAX_CONCURRENCY)

    def concurrency(self, now: float) -> int:
        """Batches this mapping may run concurrently at ``now``."""
        level = min(self.ceiling, START_CONCURRENCY + _grown(self.busy_since, now))
        if self.backed_off is None:
            return level
        return min(level, self.backed_off + _grown(self.recovering_since, now))

    def found_messages(self, now: float) -> None:
        if self.busy_since is None:
            self.busy_since = now

    def found_none(self) -> None:
        self.busy_since = None
        self.backed_off = self.recovering_since = None

    def throttled(self, now: float) -> None:
        """A round of invokes had throttles: halve the concurrency, and hold it until ``unthrottled``."""
        self.backed_off = max(MIN_AFTER_THROTTLES, self.concurrency(now) // 2)
        self.recovering_since = None

    def unthrottled(self, now: float) -> None:
        """No throttled batch is waiting any more: grow back from the reduced level."""
        if self.backed_off is not None and self.recovering_since is None:
            self.recovering_since = now


def _grown(since: float | None, now: float) -> int:
    """Batches added since ``since`` at the scale-up rate (none when ``since`` is None)."""
    return 0 if since is None else int((now - since) * SCALE_UP_PER_MINUTE / 60)
