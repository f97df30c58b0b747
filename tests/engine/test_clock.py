"""The scheduler: virtual time jumps to the next due task, and sources are polled between tasks."""

from __future__ import annotations

import pytest

from lambdalab.clock import VirtualClock


class QueueSource:
    """A stand-in poller: handles one waiting item per poll, recording the virtual time."""

    def __init__(self, clock: VirtualClock):
        self.clock = clock
        self.waiting: list[str] = []
        self.handled: list[tuple[str, float]] = []

    def poll(self) -> bool:
        if not self.waiting:
            return False
        self.handled.append((self.waiting.pop(0), self.clock.now() - self.clock.start))
        return True


def test_sources_are_polled_at_the_virtual_instant_work_becomes_due():
    """A message that becomes visible again at t=30 is picked up at t=30, not after later timers
    (design: event sources are pollers, polled between tasks as virtual time jumps)."""
    clock = VirtualClock()
    source = QueueSource(clock)
    clock.set_poll(source.poll)
    source.waiting.append("now")
    clock.call_later(30, lambda: source.waiting.append("at 30"))
    clock.call_later(3600, lambda: source.waiting.append("at 3600"))
    steps = clock.run_until_idle()
    assert source.handled == [("now", 0), ("at 30", 30), ("at 3600", 3600)]
    assert steps == 5  # three polls that found work, two tasks


def test_advance_stops_at_its_target_and_leaves_later_work_waiting():
    """advance runs what falls due up to its target and leaves the rest queued (design: virtual clock)."""
    clock = VirtualClock()
    source = QueueSource(clock)
    clock.set_poll(source.poll)
    clock.call_later(10, lambda: source.waiting.append("at 10"))
    clock.call_later(100, lambda: source.waiting.append("at 100"))
    clock.advance(50)
    assert source.handled == [("at 10", 10)]
    assert clock.now() - clock.start == 50
    assert clock.pending() == 1


def test_a_source_that_never_settles_is_stopped_loudly(monkeypatch):
    """A poller that always finds work would spin forever; the clock stops with an error instead
    (design: virtual clock)."""
    clock = VirtualClock()
    monkeypatch.setattr("lambdalab.clock.MAX_STEPS", 100)
    clock.set_poll(lambda: True)
    with pytest.raises(RuntimeError, match="did not settle"):
        clock.run_until_idle()
