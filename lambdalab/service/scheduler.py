"""Who runs next on the virtual clock: invocations that are due together really interleave, one AWS
call at a time, in an order that depends on the seed and never on the machine's speed.

Each invocation is a ``Turn``. Between two points (its start, each AWS call, each sleep) exactly one
invocation runs; at a point it parks with the virtual time it is due again, and the scheduler
grants the next turn: the earliest due, ties broken by the policy. It grants nothing while an
invocation it was told to expect (a round a poller starts at once) has not arrived yet, so the
order cannot depend on which thread the machine happened to start first.

A handler that blocks outside the engine's view (a FIFO, a socket, a lock another invocation holds)
would hold its turn forever; when its process has used no CPU for ``STALL_S`` of wall time, it
loses its turn and goes on outside the order until its next point. Handlers that compute, sleep or
call AWS never do.

Invocations nobody announced arrive in the machine's order. HTTP callers (the API Gateway, the
Lambda API) come in bursts from threads and processes the engine cannot see: so that a burst still
lands at one virtual instant, after such an arrival time inside invocations does not move past that
instant until ``EXTERNAL_GRACE_S`` of wall time has passed with no new one. (A direct
``cloud.invoke`` blocks its caller, so it needs no such grace.)

Policies: ``seeded`` (ties in a seeded random order) and ``reads-first`` (at a tie, every start
and every read — ``Get*``, ``Query``, ``Scan``, ``Head*``, ``List*``, ``Receive*``, ``Describe*``,
``BatchGet*`` — goes before any write, which is how check-then-put races are provoked).
"""

from __future__ import annotations

import itertools
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from lambdalab.errors import LambdaLabError

POLICIES = ("seeded", "reads-first")
READ_PREFIXES = ("Get", "Query", "Scan", "Head", "List", "Receive", "Describe", "BatchGet")
START, SLEEP, CALL, AFTER = "start", "sleep", "call", "after"
STALL_S = 2.0  # wall seconds without CPU after which a running invocation counts as blocked
STALL_CHECK_S = 0.25
EXTERNAL_GRACE_S = 0.1


def is_read(operation: str) -> bool:
    return operation.startswith(READ_PREFIXES)


@dataclass(eq=False)
class Turn:
    """One invocation as the scheduler sees it."""

    function: str
    request_id: str
    seq: int
    due: float = 0.0
    point: str = START
    operation: str = ""
    held: bool = False  # paused by a fault: parked, but not eligible until resumed
    detached: bool = False  # lost its turn while blocked outside the engine's view, until its next point
    probe: Callable[[], float | None] | None = None  # CPU seconds its process has used, when known
    execution: str | None = None  # the state machine execution whose Lambda task it is
    _cpu: float | None = field(default=None, repr=False)
    _cpu_since: float = field(default=0.0, repr=False)

    def stalled(self) -> bool:
        """Its process has used no CPU for ``STALL_S``: it waits on something outside the engine."""
        cpu = self.probe() if self.probe is not None else None
        now = time.monotonic()
        if cpu is None or cpu != self._cpu:
            self._cpu, self._cpu_since = cpu, now
            return False
        return now - self._cpu_since > STALL_S

    def rank(self, policy: str) -> int:
        if policy != "reads-first":
            return 0
        return 0 if self.point == START or (self.point == CALL and is_read(self.operation)) else 1


class Scheduler:
    def __init__(self, seed: int | None = 0):
        self._cond = threading.Condition()
        self._running: Turn | None = None
        self._parked: list[Turn] = []
        self._expected = 0
        self._seq = itertools.count()
        self._rng = random.Random(seed)
        self.policy = "seeded"
        self._closed = False
        self._alive: set[Turn] = set()  # arrived and not left
        self._external_due = float("-inf")  # the virtual instant the last unannounced arrival came at...
        self._external_wall = float("-inf")  # ...and when, in wall time
        self._on_the_way: Callable[[], int] = lambda: 0  # announced callers not arrived yet (state machines)
        self._settling = 0  # throttled state machine calls waiting for the rest of their instant

    def set_policy(self, policy: str) -> None:
        if policy not in POLICIES:
            raise LambdaLabError(f"unknown schedule {policy!r}; choose one of {', '.join(POLICIES)}")
        with self._cond:
            self.policy = policy

    def set_on_the_way(self, count: Callable[[], int]) -> None:
        """``count()`` says how many callers the engine knows of are still on their way (a state
        machine's threads heading for a Lambda call): grant nothing until none is."""
        with self._cond:
            self._on_the_way = count

    def poke(self) -> None:
        """Fewer callers may be on their way now: grant the next turn if one is due."""
        with self._cond:
            self._grant()
            self._cond.notify_all()

    def settle(self, answered: Callable[[], None]) -> None:
        """A state machine's call was throttled: ``answered()`` counts its caller as on its way again
        at once (so no turn is granted, and the clock cannot move, until it waits on its Retry), and
        the answer goes back only once every other caller on its way is another throttled one, as on
        AWS, where all the calls of an instant reach Lambda before any learns of its throttle."""
        with self._cond:
            answered()
            self._settling += 1
            try:
                while self._on_the_way() > self._settling and not self._closed:
                    self._cond.wait(STALL_CHECK_S)
            finally:
                self._settling -= 1

    def expect(self, count: int) -> None:
        """``count`` invocations are about to start together: grant nothing until they arrive."""
        with self._cond:
            self._expected += count

    def forget(self, count: int) -> None:
        """``count`` expected invocations will not come after all (throttled, or failed by a fault)."""
        with self._cond:
            self._expected = max(0, self._expected - count)
            self._grant()

    def arrive(self, function: str, request_id: str, due: float, *, expected: bool, burst: bool = False,
               execution: str | None = None) -> Turn:
        """An invocation starts; returns once it is its turn to run. ``burst``: it came over HTTP,
        where more callers of the same instant may be on their way."""
        turn = Turn(function, request_id, next(self._seq), execution=execution)
        with self._cond:
            self._alive.add(turn)
            if expected:
                self._expected = max(0, self._expected - 1)
            elif burst:
                self._external_due, self._external_wall = due, time.monotonic()
        self.park(turn, due, START)
        return turn

    def park(self, turn: Turn, due: float, point: str, operation: str = "", *, held: bool = False) -> None:
        """``turn`` reached a point and is due again at ``due``; returns when it runs again."""
        with self._cond:
            if self._running is turn:
                self._running = None
            turn.due, turn.point, turn.operation, turn.held, turn.detached = due, point, operation, held, False
            self._parked.append(turn)
            self._grant()
            while self._running is not turn and not self._closed:
                if not self._cond.wait(self._next_check()):
                    self._detach_stalled()
                    self._grant()

    def _next_check(self) -> float:
        grace = self._external_wall + EXTERNAL_GRACE_S - time.monotonic()
        return min(STALL_CHECK_S, grace) if grace > 0 else STALL_CHECK_S

    def _detach_stalled(self) -> None:
        running = self._running
        if running is not None and running.stalled():
            running.detached = True
            self._running = None
            self._grant()

    def close(self) -> None:
        """The cloud is closing: every waiting invocation goes on (its process is being stopped)."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    def hold(self, turn: Turn, held: bool) -> None:
        """Pause or resume a parked turn."""
        with self._cond:
            turn.held = held
            self._grant()

    def leave(self, turn: Turn) -> None:
        """The invocation ended, or waits on something outside the scheduler (a nested invoke)."""
        with self._cond:
            if self._running is turn:
                self._running = None
            if turn in self._parked:
                self._parked.remove(turn)
            self._alive.discard(turn)
            self._grant()

    def busy(self) -> bool:
        """An invocation is under way (not held at a pause, not blocked outside the engine): the
        virtual clock must not move past it. Asked by the clock's driver between its steps."""
        with self._cond:
            running = self._running
            return any(not t.held and not t.detached and not (t is running and t.stalled()) for t in self._alive)

    def held_of(self, execution: str) -> int:
        """How many invocations of ``execution``'s tasks a fault holds at a pause."""
        with self._cond:
            return sum(1 for t in self._parked if t.held and t.execution == execution)

    def held(self) -> list[Turn]:
        with self._cond:
            return [t for t in self._parked if t.held]

    def _grant(self) -> None:
        if self._running is not None or self._expected or self._on_the_way():
            return
        ready = [t for t in self._parked if not t.held]
        if not ready:
            return
        best = min((t.due, t.rank(self.policy)) for t in ready)
        # Ties in a fixed order before the seeded pick: request ids are drawn in a fixed order by the
        # sources, whereas which thread arrived first depends on the machine's load.
        tied = sorted((t for t in ready if (t.due, t.rank(self.policy)) == best), key=lambda t: (t.request_id, t.seq))
        if best[0] > self._external_due and time.monotonic() - self._external_wall < EXTERNAL_GRACE_S:
            return  # more unannounced callers of that instant may be on their way
        chosen = tied[0] if len(tied) == 1 else tied[self._rng.randrange(len(tied))]
        self._parked.remove(chosen)
        self._running = chosen
        chosen._cpu = None
        self._cond.notify_all()
