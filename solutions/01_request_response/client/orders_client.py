"""A small client for the orders API, as a caller of a synchronous Lambda needs one.

Lambda never retries a synchronous invocation and API Gateway never retries Lambda: the caller
must. Retry only what may succeed next time (429, 500, 502, 503, 504, a dropped connection),
never a 4xx; wait longer each time with jitter so a burst of clients does not retry in lockstep;
and send the same Idempotency-Key on every attempt so a retried POST creates one order.
"""

import json
import random
import time
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass, field

RETRYABLE_STATUSES = frozenset({429, 500, 502, 503, 504})


@dataclass
class ApiResponse:
    status: int
    body: object
    attempts: int = 1
    statuses: list = field(default_factory=list)  # the status of every attempt, in order


def post(url, body, headers=None, timeout=10.0):
    """One POST; returns (status, parsed body). Raises OSError when no response came back."""
    request = urllib.request.Request(
        url,
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json", **(headers or {})},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as reply:
            status, raw = reply.status, reply.read()
    except urllib.error.HTTPError as err:
        status, raw = err.code, err.read()
    try:
        return status, json.loads(raw or b"null")
    except ValueError:
        return status, raw.decode(errors="replace")


def backoff_delay(attempt, base_delay, max_delay, rng=random.random):
    """Capped exponential backoff with full jitter: uniform in [0, min(max_delay, base * 2**attempt)]."""
    return rng() * min(max_delay, base_delay * 2**attempt)


def post_with_retries(url, body, idempotency_key=None, max_attempts=5, base_delay=0.1, max_delay=2.0,
                      sleep=time.sleep, rng=random.random, timeout=10.0):
    """POST ``body`` until it succeeds, fails for good, or ``max_attempts`` are spent."""
    key = idempotency_key or str(uuid.uuid4())
    statuses = []
    # BEGIN SOLUTION concept: retry only what can succeed next time (throttles, 5xx, dropped connections), with capped exponential backoff and jitter, and the same Idempotency-Key on every attempt hint: loop up to max_attempts: post() with the same Idempotency-Key header each time; return at once on a status that is not retryable; on a retryable status or an OSError sleep(backoff_delay(...)) and try again; after the last attempt return the last response (or re-raise the last OSError)
    last_error = None
    status, parsed = None, None
    for attempt in range(max_attempts):
        if attempt:
            sleep(backoff_delay(attempt - 1, base_delay, max_delay, rng))
        try:
            status, parsed = post(url, body, {"Idempotency-Key": key}, timeout)
        except OSError as err:
            last_error = err
            statuses.append(None)
            continue
        statuses.append(status)
        if status not in RETRYABLE_STATUSES:
            break
    if statuses[-1] is None and last_error is not None:  # the last attempt got no answer at all
        raise last_error
    return ApiResponse(status, parsed, len(statuses), statuses)
    # END SOLUTION
