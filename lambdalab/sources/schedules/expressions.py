"""Schedule expressions (pure): ``rate(...)``, ``cron(...)`` and, for EventBridge Scheduler only,
``at(...)``, checked as AWS checks them and turned into firing times [SCHED].

A rate's value is a whole number above 0, its unit ``minute``/``hour``/``day`` for 1 and
``minutes``/``hours``/``days`` otherwise (AWS refuses ``rate(1 minutes)`` and ``rate(5 minute)``).
Times are epoch seconds; wall times (cron, at) are read in ``zone`` (UTC for rules).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timezone, tzinfo

from lambdalab.sources.schedules.cron import Cron, InvalidCron, parse_cron

UNITS = {"minute": 60, "hour": 3600, "day": 86400}
_RATE = re.compile(r"rate\((.*)\)")
_CRON = re.compile(r"cron\((.*)\)")
_AT = re.compile(r"at\((.*)\)")


class InvalidExpression(ValueError):
    """Why AWS would refuse a schedule expression, in one line."""


@dataclass(frozen=True)
class Rate:
    seconds: int


@dataclass(frozen=True)
class At:
    moment: datetime  # naive wall time


Expression = Rate | Cron | At


def parse(text: str, *, one_time: bool = False) -> Expression:
    """``text`` as written; ``one_time`` allows ``at(...)`` (EventBridge Scheduler)."""
    written = text.strip()
    rate, cron, at = _RATE.fullmatch(written), _CRON.fullmatch(written), _AT.fullmatch(written)
    if rate:
        return _rate(rate.group(1))
    if cron:
        try:
            return parse_cron(cron.group(1))
        except InvalidCron as exc:
            raise InvalidExpression(f"{written} is not a valid cron expression: {exc}") from None
    if at and one_time:
        try:
            return At(datetime.strptime(at.group(1).strip(), "%Y-%m-%dT%H:%M:%S"))
        except ValueError:
            raise InvalidExpression(f"{written} is not a valid at expression: at(yyyy-mm-ddThh:mm:ss)") from None
    kinds = "rate(value unit), cron(fields) or at(yyyy-mm-ddThh:mm:ss)" if one_time else \
        "rate(value unit) or cron(fields)"
    raise InvalidExpression(f"{written!r} is not a schedule expression: {kinds}")


def _rate(inside: str) -> Rate:
    parts = inside.split()
    if len(parts) != 2 or not parts[0].isdigit():
        raise InvalidExpression(f"rate({inside}) is not valid: rate(value unit), value a whole number")
    value, unit = int(parts[0]), parts[1]
    if value == 0:
        raise InvalidExpression(f"rate({inside}) is not valid: the value must be above 0")
    singular = unit.removesuffix("s")
    if singular not in UNITS:
        raise InvalidExpression(f"rate({inside}) is not valid: the unit is minute(s), hour(s) or day(s)")
    wanted = singular if value == 1 else f"{singular}s"
    if unit != wanted:
        raise InvalidExpression(f"rate({inside}) is not valid: a value of {value} takes the unit {wanted!r}")
    return Rate(value * UNITS[singular])


def wall_time(epoch: float, zone: tzinfo) -> datetime:
    """``epoch`` as a naive wall time in ``zone``."""
    return datetime.fromtimestamp(epoch, tz=timezone.utc).astimezone(zone).replace(tzinfo=None)


def epoch_of(moment: datetime, zone: tzinfo) -> float:
    """A naive wall time in ``zone`` as epoch seconds."""
    return moment.replace(tzinfo=zone).timestamp()


def next_cron(cron: Cron, after: float, zone: tzinfo) -> float | None:
    """The first time ``cron`` matches in ``zone`` strictly after ``after``, or None."""
    moment = wall_time(after, zone)
    while True:
        found = cron.next_after(moment)
        if found is None:
            return None
        when = epoch_of(found, zone)
        if when > after:
            return when
        moment = found  # a wall time a clock change repeats: look past it
