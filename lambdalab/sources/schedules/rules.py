"""A template's scheduled rules (``AWS::Events::Rule``) and EventBridge Scheduler schedules
(``AWS::Scheduler::Schedule``) checked and read into what fires (pure) [SCHED].

SAM writes a rule for each ``Schedule`` event and a schedule for each ``ScheduleV2`` event; a refusal
of one names the event's property as written (``Fn.Events.Tick.Properties.Schedule``; a state
machine's events too). Targets must be functions or state machines of the template. A target's
``RetryPolicy`` and ``DeadLetterConfig`` govern EventBridge's delivery to Lambda's async queue (or to
StartExecution), which never fails locally: accepted, listed in the start notice, while the
function's own async retries, DLQ and destinations apply to every firing.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timezone, tzinfo
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from lambdalab.errors import ConfigurationError
from lambdalab.sources.schedules.expressions import At, Expression, InvalidExpression, epoch_of, parse

RULE = "AWS::Events::Rule"
SCHEDULE = "AWS::Scheduler::Schedule"
RULE_PROPERTIES = frozenset({"Name", "Description", "ScheduleExpression", "State", "Targets", "EventBusName",
                             "RoleArn"})
SCHEDULE_PROPERTIES = frozenset({"Name", "Description", "ScheduleExpression", "ScheduleExpressionTimezone",
                                 "State", "Target", "FlexibleTimeWindow", "GroupName", "StartDate", "EndDate",
                                 "ActionAfterCompletion"})
RULE_TARGET_PROPERTIES = frozenset({"Id", "Arn", "Input", "InputPath", "RetryPolicy", "DeadLetterConfig", "RoleArn"})
SCHEDULE_TARGET_PROPERTIES = frozenset({"Arn", "RoleArn", "Input", "RetryPolicy", "DeadLetterConfig"})
DELIVERY = ("EventBridge's own delivery retries and dead-letter queue: delivering to Lambda's async queue "
            "never fails locally; the function's async retries, DLQ and destinations apply")
NOT_EMULATED = {"RetryPolicy": DELIVERY, "DeadLetterConfig": DELIVERY}
MAX_RULE_TARGETS = 5
# RetryPolicy ranges of both services: attempts 0-185, event age 60-86400 s.
RETRY_RANGES = {"MaximumRetryAttempts": (0, 185), "MaximumEventAgeInSeconds": (60, 86400)}


@dataclass(frozen=True)
class Target:
    arn: str  # a function's, or a state machine's
    state_machine: bool = False  # a firing starts an execution rather than invoking a function
    input: str | None = None  # constant JSON text that replaces the event
    input_path: str | None = None  # the part of the event sent (``$.detail``)


@dataclass(frozen=True)
class Schedule:
    """What fires, when, and at which functions."""

    logical_id: str
    kind: str  # RULE or SCHEDULE
    arn: str
    expression: Expression
    enabled: bool
    targets: tuple[Target, ...]
    zone: tzinfo = timezone.utc
    start: float | None = None  # StartDate / EndDate (Scheduler), epoch seconds
    end: float | None = None

    @property
    def source(self) -> str:
        """How the journal names a firing's invocations: ``events:<rule>`` or ``scheduler:<schedule>``."""
        return f"{'events' if self.kind == RULE else 'scheduler'}:{self.logical_id}"


def read(lid: str, kind: str, props: dict[str, Any], arn: str, function_arns: frozenset[str],
         state_machine_arns: frozenset[str] = frozenset(),
         ) -> tuple[Schedule | None, list[ConfigurationError], list[tuple[str, str]]]:
    """The schedule, every refusal (as transformed names) and the (property, what) accepted without emulation."""
    arns = _Arns(function_arns, state_machine_arns)
    refused: list[ConfigurationError] = []
    notices: list[tuple[str, str]] = []

    def refuse(message: str, prop: str) -> None:
        refused.append(ConfigurationError(message, lid, prop))

    known = RULE_PROPERTIES if kind == RULE else SCHEDULE_PROPERTIES
    if kind == RULE and "EventPattern" in props:
        refuse("rules that match events are not supported locally (scheduled rules are)", "EventPattern")
    for name in sorted(set(props) - known - {"EventPattern"}):
        refuse(f"property not supported locally for {kind}", name)
    expression = _expression(lid, kind, props, refuse)
    state = str(props.get("State", "ENABLED"))
    if state not in ("ENABLED", "DISABLED"):
        refuse(f"State {state!r} is not supported locally for a schedule (ENABLED or DISABLED)", "State")
    zone: tzinfo = timezone.utc
    start = end = None
    targets: list[Target] = []
    if kind == RULE:
        if props.get("EventBusName", "default") != "default":
            refuse("only the default event bus exists locally", "EventBusName")
        written = props.get("Targets") or []
        if len(written) > MAX_RULE_TARGETS:
            refuse(f"a rule has at most {MAX_RULE_TARGETS} targets, this one has {len(written)}", "Targets")
        for index, target in enumerate(written):
            targets += _target(lid, f"Targets[{index}]", target, RULE_TARGET_PROPERTIES, arns, refuse, notices)
    else:
        zone = _zone(props.get("ScheduleExpressionTimezone", "UTC"), refuse)
        start, end = _date(props.get("StartDate"), "StartDate", refuse), _date(props.get("EndDate"), "EndDate", refuse)
        mode = str((props.get("FlexibleTimeWindow") or {}).get("Mode", "OFF"))
        if mode == "FLEXIBLE":
            notices.append(("FlexibleTimeWindow", "a flexible time window: each firing comes at the window's start"))
        targets += _target(lid, "Target", props.get("Target") or {}, SCHEDULE_TARGET_PROPERTIES, arns, refuse,
                           notices)
    if refused or expression is None:
        return None, refused, notices
    return Schedule(lid, kind, arn, expression, state == "ENABLED", tuple(targets), zone, start, end), [], notices


def _expression(lid: str, kind: str, props: dict[str, Any], refuse: Any) -> Expression | None:
    text = props.get("ScheduleExpression")
    if text is None:
        refuse("a rule needs a ScheduleExpression locally (rules that match events are not supported)",
               "ScheduleExpression")
        return None
    try:
        return parse(str(text), one_time=kind == SCHEDULE)
    except InvalidExpression as exc:
        refuse(str(exc), "ScheduleExpression")
        return None


@dataclass(frozen=True)
class _Arns:
    """The ARNs a target may name: the template's functions and state machines."""

    functions: frozenset[str]
    state_machines: frozenset[str]


def _target(lid: str, where: str, target: dict[str, Any], known: frozenset[str], arns: _Arns,
            refuse: Any, notices: list[tuple[str, str]]) -> list[Target]:
    ok = True
    if "InputTransformer" in target:
        refuse("InputTransformer is not supported locally (Input or InputPath are)", f"{where}.InputTransformer")
        ok = False
    for name in sorted(set(target) - known - {"InputTransformer"}):
        refuse("target property not supported locally (targets are functions or state machines)",
               f"{where}.{name}")
        ok = False
    arn = str(target.get("Arn", ""))
    if arn not in arns.functions and arn not in arns.state_machines:
        refuse(f"only functions and state machines of the template are supported locally as targets, got {arn!r}",
               f"{where}.Arn")
        ok = False
    text = target.get("Input")
    if text is not None:
        try:
            json.loads(str(text))
        except ValueError:
            refuse(f"must be valid JSON text, got {str(text)[:60]!r}", f"{where}.Input")
            ok = False
    path = target.get("InputPath")
    if path is not None and text is not None:
        refuse("Input and InputPath cannot both be set", f"{where}.InputPath")
        ok = False
    elif path is not None and not (str(path) == "$" or str(path).startswith("$.")):
        refuse(f"must be a JSON path like $.detail, got {path!r}", f"{where}.InputPath")
        ok = False
    for key, (low, high) in RETRY_RANGES.items():
        value = (target.get("RetryPolicy") or {}).get(key)
        if value is not None and not (str(value).isdigit() and low <= int(value) <= high):
            refuse(f"must be {low}-{high}, got {value!r}", f"{where}.RetryPolicy.{key}")
            ok = False
    notices += [(f"{where}.{name}", what) for name, what in NOT_EMULATED.items() if name in target]
    if not ok:
        return []
    return [Target(arn, arn in arns.state_machines, None if text is None else str(text),
                   None if path is None else str(path))]


def _zone(name: Any, refuse: Any) -> tzinfo:
    try:
        return ZoneInfo(str(name))
    except (ZoneInfoNotFoundError, ValueError):
        refuse(f"{name!r} is not a time zone (an IANA name like Europe/Paris)", "ScheduleExpressionTimezone")
        return timezone.utc


def _date(value: Any, prop: str, refuse: Any) -> float | None:
    if value is None:
        return None
    try:
        moment = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        refuse(f"must be a date and time like 2026-01-01T00:00:00Z, got {value!r}", prop)
        return None
    return epoch_of(moment.replace(tzinfo=None), moment.tzinfo or timezone.utc)


def as_sam_event(kind: str, prop: str | None, written: dict[str, Any]) -> str | None:
    """A refused property of the rule or schedule SAM made from a ``Schedule`` / ``ScheduleV2`` event,
    named as in the event's ``Properties`` (``written``)."""
    if prop is None:
        return prop
    for prefix in ("Targets[0].", "Target."):
        if prop.startswith(prefix):
            return prop[len(prefix):]
    if kind == RULE and prop == "ScheduleExpression":
        return "Schedule"
    if prop == "State" and "Enabled" in written:
        return "Enabled"
    return prop


__all__ = ["RULE", "SCHEDULE", "At", "Schedule", "Target", "as_sam_event", "read"]
