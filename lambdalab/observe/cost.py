"""What an attempt costs on AWS [COST]: the on-demand x86 prices of US East (N. Virginia).

A throttled request is not an invocation and costs nothing; every attempt that ran costs one
request plus its billed duration (rounded up to the next millisecond) times its memory in GB.
"""

from __future__ import annotations

PRICE_PER_GB_SECOND = 0.0000166667  # USD, x86, first pricing tier
PRICE_PER_REQUEST = 0.20 / 1_000_000  # USD: $0.20 per 1M requests


def gb_seconds(billed: int, memory_mb: int) -> float:
    """Billed milliseconds times memory in GB (MemorySize / 1024), in GB-seconds."""
    return memory_mb / 1024 * billed / 1000


def dollars(amount: float) -> str:
    """Seven decimals: a single request ($0.0000002) still shows."""
    return f"${amount:.7f}" if amount else "$0"
