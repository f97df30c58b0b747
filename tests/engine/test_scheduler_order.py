"""The seeded order of invocations due at the same instant does not depend on which thread reached
the scheduler first: on a loaded machine the second-started thread may arrive first."""

from __future__ import annotations

import threading
import time

from lambdalab.service.scheduler import Scheduler


def first_granted(arrival_order: list[str]) -> str:
    """Two announced invocations due at one instant arrive in ``arrival_order``: which runs first."""
    scheduler = Scheduler(seed=7)
    scheduler.expect(2)
    granted: list[str] = []
    lock = threading.Lock()

    def run(request_id: str) -> None:
        turn = scheduler.arrive("Fn", request_id, 100.0, expected=True)
        with lock:
            granted.append(request_id)
        scheduler.leave(turn)

    threads = []
    for request_id in arrival_order:
        thread = threading.Thread(target=run, args=(request_id,))
        thread.start()
        threads.append(thread)
        time.sleep(0.05)  # this one is parked before the next arrives
    for thread in threads:
        thread.join(timeout=10)
    scheduler.close()
    return granted[0]


def test_the_same_seed_picks_the_same_invocation_whichever_arrived_first() -> None:
    """Request ids are drawn in a fixed order by the sources; ties are ordered by them (design: the
    virtual clock is independent of machine speed)."""
    assert first_granted(["req-a", "req-b"]) == first_granted(["req-b", "req-a"])
