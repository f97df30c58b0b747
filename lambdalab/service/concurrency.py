"""Account and reserved concurrency as leases: one lease per running invocation.

AWS: the account has 1,000 by default [QUO]; reserved concurrency is both a guarantee and a cap,
0 throttles everything [CONC-a]; at least 100 must stay unreserved [PFC]. Throttles carry AWS's
``Reason`` [TMR].
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

from lambdalab.errors import (
    ACCOUNT_LIMIT,
    RESERVED_LIMIT,
    InvalidParameterValueException,
    TooManyRequestsException,
)

UNRESERVED_MINIMUM = 100


class Concurrency:
    def __init__(self, account_limit: int = 1000, unreserved_minimum: int = UNRESERVED_MINIMUM):
        self.account_limit = account_limit
        self.unreserved_minimum = min(unreserved_minimum, account_limit)
        self._reserved: dict[str, int] = {}
        self._running: dict[str, int] = {}
        self._lock = threading.Lock()
        self._released = threading.Condition(self._lock)

    def reserved(self, function: str) -> int | None:
        return self._reserved.get(function)

    def set_reserved(self, function: str, value: int | None) -> None:
        """PutFunctionConcurrency / DeleteFunctionConcurrency, with AWS's floor rule."""
        with self._lock:
            if value is None:
                self._reserved.pop(function, None)
                return
            others = sum(v for f, v in self._reserved.items() if f != function)
            if value < 0 or self.account_limit - others - value < self.unreserved_minimum:
                raise InvalidParameterValueException(
                    "Specified ReservedConcurrentExecutions for function decreases account's "
                    f"UnreservedConcurrentExecution below its minimum value of [{self.unreserved_minimum}]."
                )
            self._reserved[function] = value

    def total_reserved(self) -> int:
        with self._lock:
            return sum(self._reserved.values())

    def running(self, function: str | None = None) -> int:
        with self._lock:
            if function is None:
                return sum(self._running.values())
            return self._running.get(function, 0)

    def acquire(self, function: str) -> None:
        """Take one unit, or raise TooManyRequestsException with the Reason AWS gives."""
        with self._lock:
            running = self._running.get(function, 0)
            reserved = self._reserved.get(function)
            if reserved is not None:
                if running >= reserved:
                    raise TooManyRequestsException(RESERVED_LIMIT)
            else:
                pool = self.account_limit - sum(self._reserved.values())
                unreserved_running = sum(n for f, n in self._running.items() if f not in self._reserved)
                if unreserved_running >= pool:
                    raise TooManyRequestsException(ACCOUNT_LIMIT)
            self._running[function] = running + 1

    def release(self, function: str) -> None:
        with self._lock:
            self._running[function] -= 1
            self._released.notify_all()

    def wait_until_idle(self, timeout: float | None = None) -> bool:
        """Block until no invocation is running (e.g. one an API Gateway timeout left behind)."""
        with self._lock:
            return self._released.wait_for(lambda: not any(self._running.values()), timeout)

    @contextmanager
    def lease(self, function: str) -> Iterator[None]:
        self.acquire(function)
        try:
            yield
        finally:
            self.release(function)
