"""What a firing sends a function (pure) [SCHED].

A scheduled rule sends EventBridge's "Scheduled Event": ``{version: "0", id, detail-type:
"Scheduled Event", source: "aws.events", account, time (the firing's time, to the second), region,
resources: [the rule's ARN], detail: {}}``; a target's ``Input`` (constant JSON) replaces it, its
``InputPath`` sends the part of it the path names. An EventBridge Scheduler schedule sends its
target's ``Input`` as it is, ``{}`` without one.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from datetime import datetime, timezone
from typing import Any

from lambdalab.sources.schedules.rules import RULE, Schedule, Target


def scheduled_event(*, rule_arn: str, fired_at: float, account: str, region: str) -> dict[str, Any]:
    return {
        "version": "0",
        "id": event_id(rule_arn, fired_at),
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": account,
        "time": datetime.fromtimestamp(int(fired_at), tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": region,
        "resources": [rule_arn],
        "detail": {},
    }


def event_id(arn: str, fired_at: float) -> str:
    """A UUID for one firing, the same every run."""
    return str(uuid.UUID(hashlib.sha256(f"{arn}@{fired_at:.0f}".encode()).hexdigest()[:32]))


def payload(schedule: Schedule, target: Target, fired_at: float, *, account: str, region: str) -> bytes:
    """The body one target receives for one firing."""
    if target.input is not None:
        return target.input.encode()
    if schedule.kind != RULE:
        return b"{}"
    event: Any = scheduled_event(rule_arn=schedule.arn, fired_at=fired_at, account=account, region=region)
    for key in (target.input_path or "$").removeprefix("$").split(".")[1:]:
        event = event.get(key) if isinstance(event, dict) else None
    return json.dumps(event).encode()
