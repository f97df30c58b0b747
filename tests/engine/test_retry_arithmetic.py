"""Retry arithmetic stays finite and capped however long a failure lasts: a learner's broken
handler can fail a million times in a long virtual run, and the engine must not crash on it."""

from __future__ import annotations

import pytest

from lambdalab.sources.asyncinvoke.processor import THROTTLE_BACKOFF_MAX_S, throttle_backoff
from lambdalab.sources.streams.processor import MAX_BACKOFF_S, backoff


@pytest.mark.parametrize("failures", [1, 2, 10, 1_025, 10**6])
def test_stream_backoff_is_capped(failures: int) -> None:
    assert 0 < backoff(failures) <= MAX_BACKOFF_S


@pytest.mark.parametrize("throttles", [1, 2, 10, 1_025, 10**6])
def test_async_throttle_backoff_is_capped(throttles: int) -> None:
    assert 0 < throttle_backoff(throttles) <= THROTTLE_BACKOFF_MAX_S


def test_backoffs_grow_until_their_caps() -> None:
    assert [backoff(n) for n in (1, 2, 3)] == [1.0, 2.0, 4.0] and backoff(10**6) == MAX_BACKOFF_S
    assert throttle_backoff(1) < throttle_backoff(2) < throttle_backoff(3)
    assert throttle_backoff(10**6) == THROTTLE_BACKOFF_MAX_S
