"""How many of an execution's threads are doing work, so the clock waits for all of them [SFN].

moto's interpreter runs each Map iteration and each Parallel branch in a thread of its own, while
the thread that started them waits for them. On the virtual clock an execution is idle (the clock
may move) only when every one of its working threads waits on the clock: one Map iteration waiting
out a Retry interval must not let the clock move while another is still on its way to its first
Lambda call, or the journal would depend on the machine's speed.

A working thread is the execution's own, plus each iteration or branch thread until it ends; the
thread that waits for its workers gives its place up while they run and gets it back from the last
of them (or from the one that fails the Map), so the count never drops to zero between the two.

The same count tells the engine's scheduler how many Lambda calls may still be on their way: a
working thread neither waiting on the clock nor inside a call the Lambda API has received. Until
none is, no invocation runs, so the iterations a Map releases at one instant start at that instant,
side by side, whichever thread the machine ran first.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable
from typing import Any

from lambdalab.dataplane.patches.registry import Patch, released
from lambdalab.dataplane.patches.stepfunctions import execution_arn

STATE_MAP = "moto.stepfunctions.parser.asl.component.state.exec.state_map"
INLINE = f"{STATE_MAP}.iteration.inline_iteration_component.InlineIterationComponent"
JOB_POOL = f"{STATE_MAP}.iteration.job.JobPool"
STATE_PARALLEL = "moto.stepfunctions.parser.asl.component.state.exec.state_parallel"
BRANCH_WORKER = f"{STATE_PARALLEL}.branch_worker.BranchWorker"
BRANCH_POOL = f"{STATE_PARALLEL}.branches_decl.BranchWorkerPool"
EXECUTION_WORKER = "moto.stepfunctions.parser.backend.execution_worker.ExecutionWorker"


class _Pool:
    """One Map's or Parallel's workers: how many are running and whether their parent gave its place up."""

    def __init__(self, execution: str):
        self.execution = execution
        self.live = 0
        self.parent_away = False


class Workers:
    """Working threads per execution, and its Lambda calls the engine has received."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._extra: Counter[str] = Counter()  # beyond the execution's own thread
        self._pools: dict[int, _Pool] = {}
        self._running: set[str] = set()  # executions whose own thread has not ended
        self._calls: dict[str, str] = {}  # call id -> execution, while its thread is in the call
        self._arrived: set[str] = set()  # call ids the Lambda API has received
        self.on_change: Callable[[], None] = lambda: None  # fewer calls may be on their way now
        self._serving = threading.local()  # the call the Lambda API is serving in this thread

    def on_the_way(self, waiting: Callable[[str], int]) -> int:
        """Working threads of running executions that are neither waiting on the clock (``waiting``
        counts those of an execution) nor inside a call the Lambda API has received and not
        answered yet: the callers the scheduler must still hear from."""
        with self._lock:
            inside = Counter(self._calls[c] for c in self._arrived if c in self._calls)
            return sum(max(0, 1 + self._extra[e] - waiting(e) - inside[e]) for e in self._running)

    def not_waiting(self, execution: str, waiting: int) -> int:
        """The execution's working threads not waiting on the clock (inside a call included)."""
        with self._lock:
            return max(0, 1 + self._extra[execution] - waiting) if execution in self._running else 0

    def execution_started(self, execution: str) -> None:
        with self._lock:
            self._running.add(execution)
            self._extra[execution] = 0  # an earlier execution of the same name counts no more

    def execution_ended(self, execution: str) -> None:
        with self._lock:
            self._running.discard(execution)
            self._extra.pop(execution, None)
        self.on_change()

    def call_began(self, execution: str, call: str) -> None:
        with self._lock:
            self._calls[call] = execution

    def call_arrived(self, call: str) -> None:
        """The Lambda API received the call: its thread waits on the engine, not on the machine."""
        with self._lock:
            if call in self._calls:
                self._arrived.add(call)
        self.on_change()

    def call_answered(self, call: str) -> None:
        """The Lambda API answers the call: from now its thread is on its way again."""
        with self._lock:
            self._arrived.discard(call)

    def serving(self, call: str | None) -> None:
        """The Lambda API serves ``call`` in this thread (None: no longer)."""
        self._serving.call = call

    def answer_served(self) -> None:
        """The invocation this thread serves has its answer (it ended, or was throttled): its caller
        counts as on its way from now, before the scheduler grants anyone else a turn, so what
        runs next cannot depend on how quickly the answer travels back."""
        call = getattr(self._serving, "call", None)
        if call is not None:
            self.call_answered(call)

    def call_returned(self, call: str) -> None:
        with self._lock:
            self._calls.pop(call, None)
            self._arrived.discard(call)

    def _count(self, execution: str, step: int) -> None:
        """Threads of an execution that has ended (a Map's iterations finishing after it failed)
        count no more."""
        if execution in self._running:
            self._extra[execution] += step

    def started(self, pool_owner: Any, execution: str) -> _Pool:
        """A worker of ``pool_owner`` (a Map's job pool, a Parallel's worker pool) is about to start."""
        with self._lock:
            pool = self._pools.setdefault(id(pool_owner), _Pool(execution))
            pool.live += 1
            self._count(execution, +1)
            return pool

    def ended(self, pool_owner: Any, terminated: Callable[[], bool]) -> None:
        """A worker ended; the last one (or one that ended the pool early) hands the parent its place back."""
        with self._lock:
            pool = self._pools[id(pool_owner)]
            pool.live -= 1
            if pool.parent_away and (pool.live == 0 or terminated()):
                pool.parent_away = False
                self._count(pool.execution, +1)
            self._count(pool.execution, -1)
            if pool.live == 0 and not pool.parent_away:
                self._pools.pop(id(pool_owner), None)
        self.on_change()

    def parent_waits(self, pool_owner: Any) -> None:
        with self._lock:
            pool = self._pools.get(id(pool_owner))
            if pool is not None and pool.live > 0:
                pool.parent_away = True
                self._count(pool.execution, -1)
        self.on_change()

    def parent_back(self, pool_owner: Any) -> None:
        with self._lock:
            pool = self._pools.get(id(pool_owner))
            if pool is not None and pool.parent_away:
                pool.parent_away = False
                self._count(pool.execution, +1)
            if pool is not None and pool.live == 0:
                self._pools.pop(id(pool_owner), None)


WORKERS = Workers()


def start_execution_worker(self: Any) -> None:
    """An execution's own thread, counted from before it starts until its program ends."""
    arn = self._evaluation_details.execution_details.arn
    logic = self._execution_logic

    def counted() -> None:
        try:
            logic()
        finally:
            WORKERS.execution_ended(arn)

    WORKERS.execution_started(arn)
    self._execution_logic = counted
    try:
        released(EXECUTION_WORKER, "start")(self)
    except BaseException:
        WORKERS.execution_ended(arn)
        raise


INLINE_MAP_CONCURRENCY = 40  # an inline Map's iterations at once, whatever MaxConcurrency says [SFN]


def inline_map(self: Any, env: Any) -> None:
    """An inline Map runs at most 40 iterations at once: MaxConcurrency 0 (no limit) or above 40
    means 40, as on AWS (moto starts one per item)."""
    given = env.stack[-1]
    if given.input_items:
        given.max_concurrency = min(given.max_concurrency or INLINE_MAP_CONCURRENCY, INLINE_MAP_CONCURRENCY,
                                    len(given.input_items))
    released(INLINE, "_eval_body")(self, env)


def launch_map_worker(self: Any, env: Any, eval_input: Any, job_pool: Any) -> Any:
    """A Map iteration's thread, counted from before it starts until it ends."""
    from moto.stepfunctions.parser.utils import TMP_THREADS

    worker = self._create_worker(env=env, eval_input=eval_input, job_pool=job_pool)
    WORKERS.started(job_pool, execution_arn(env))

    def run() -> None:
        try:
            worker.eval()
        finally:
            WORKERS.ended(job_pool, job_pool._is_terminated)

    thread = threading.Thread(target=run, daemon=True)
    TMP_THREADS.append(thread)
    thread.start()
    return worker


def await_map_jobs(self: Any) -> None:
    WORKERS.parent_waits(self)
    try:
        released(JOB_POOL, "await_jobs")(self)
    finally:
        WORKERS.parent_back(self)


def start_branch(self: Any) -> None:
    """A Parallel branch's thread, counted from before it starts until it ends."""
    pool = self._branch_worker_comm
    WORKERS.started(pool, execution_arn(self.env))
    routine = self._thread_routine

    def counted() -> None:
        try:
            routine()
        finally:
            WORKERS.ended(pool, pool._termination_event.is_set)

    self._thread_routine = counted
    released(BRANCH_WORKER, "start")(self)


def await_branches(self: Any) -> None:
    WORKERS.parent_waits(self)
    try:
        released(BRANCH_POOL, "wait")(self)
    finally:
        WORKERS.parent_back(self)


PATCHES = (
    Patch(INLINE, "_eval_body", inline_map, "an inline Map runs at most 40 iterations at once", "1a65306eb3ca"),
    Patch(EXECUTION_WORKER, "start", start_execution_worker,
          "an execution's own thread counts as its work until its program ends", "0b502dd3a4e5"),
    Patch(INLINE, "_launch_worker", launch_map_worker,
          "a Map iteration's thread counts as the execution's work until it ends", "49be28469a82"),
    Patch(JOB_POOL, "await_jobs", await_map_jobs,
          "a Map's own thread gives its place to its iterations while they run", "e41a0edddb85"),
    Patch(BRANCH_WORKER, "start", start_branch,
          "a Parallel branch's thread counts as the execution's work until it ends", "30f9035b0a7b"),
    Patch(BRANCH_POOL, "wait", await_branches,
          "a Parallel's own thread gives its place to its branches while they run", "c9eec2af91e2"),
)
