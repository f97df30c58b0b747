"""AWS's six-field cron expressions (pure): parse them as EventBridge and EventBridge Scheduler do,
and find the next minute one matches [SCHED].

``minutes hours day-of-month month day-of-week year``, with ``, - * /`` in every field, ``?`` in
one of the two day fields (exactly one: a value or ``*`` in the other), ``L`` and ``W`` in
day-of-month (``L``, ``15W``), ``L`` and ``#`` in day-of-week (``L``, ``6L``, ``2#1``). Days of
the week run 1-7 from Sunday, or ``SUN``-``SAT``; months 1-12 or ``JAN``-``DEC``; years 1970-2199.
Times are wall-clock times: UTC for rules, the schedule's time zone for EventBridge Scheduler.
"""

from __future__ import annotations

import calendar
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta

MONTHS = {name: i for i, name in enumerate(
    ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"), start=1)}
DAYS = {name: i for i, name in enumerate(("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"), start=1)}
FIELDS = ("minutes", "hours", "day-of-month", "month", "day-of-week", "year")
RANGES = {"minutes": (0, 59), "hours": (0, 23), "day-of-month": (1, 31), "month": (1, 12),
          "day-of-week": (1, 7), "year": (1970, 2199)}
DayTest = Callable[[date], bool]


class InvalidCron(ValueError):
    """Why AWS would refuse the expression, in a few words."""


@dataclass(frozen=True)
class Cron:
    minutes: frozenset[int]
    hours: frozenset[int]
    months: frozenset[int]
    years: frozenset[int]
    day: DayTest  # the day field that is not ``?``

    def next_after(self, moment: datetime) -> datetime | None:
        """The first matching minute strictly after ``moment`` (naive wall time), or None when none
        comes before 2200."""
        start = moment.replace(second=0, microsecond=0) + timedelta(minutes=1)
        day = start.date()
        while day.year <= RANGES["year"][1]:
            if day.year not in self.years:
                day = date(day.year + 1, 1, 1)
                continue
            if day.month not in self.months:
                day = date(day.year + (day.month == 12), day.month % 12 + 1, 1)
                continue
            if self.day(day):
                first = (start.hour, start.minute) if day == start.date() else (-1, -1)
                for hour in sorted(h for h in self.hours if h >= first[0]):
                    low = first[1] if hour == first[0] else 0
                    minute = min((m for m in self.minutes if m >= low), default=None)
                    if minute is not None:
                        return datetime(day.year, day.month, day.day, hour, minute)
            day += timedelta(days=1)
        return None


def parse_cron(fields_text: str) -> Cron:
    """The text between ``cron(`` and ``)``; InvalidCron says what AWS would refuse."""
    parts = fields_text.split()
    if len(parts) != 6:
        raise InvalidCron(f"a cron expression has 6 fields ({' '.join(FIELDS)}), this one has {len(parts)}")
    minute, hour, dom, month, dow, year = parts
    if (dom == "?") == (dow == "?"):
        raise InvalidCron("exactly one of day-of-month and day-of-week must be '?' "
                          "(a value or '*' in one, '?' in the other)")
    day = _dom(dom) if dow == "?" else _dow(dow)
    return Cron(_values(minute, "minutes"), _values(hour, "hours"), _values(month, "month", MONTHS),
                _values(year, "year"), day)


def _number(text: str, field: str, names: dict[str, int] | None = None) -> int:
    low, high = RANGES[field]
    if names and text.upper() in names:
        return names[text.upper()]
    if not text.isdigit() or not low <= int(text) <= high:
        spelled = f" or {next(iter(names))}-{list(names)[-1]}" if names else ""
        raise InvalidCron(f"{text!r} is not a {field} value ({low}-{high}{spelled})")
    return int(text)


def _values(text: str, field: str, names: dict[str, int] | None = None) -> frozenset[int]:
    """``*``, ``5``, ``1-5``, ``*/10``, ``1/10``, ``10-50/5`` and lists of them."""
    low, high = RANGES[field]
    found: set[int] = set()
    for item in text.split(","):
        base, slash, step_text = item.partition("/")
        if slash and (not step_text.isdigit() or int(step_text) == 0):
            raise InvalidCron(f"{item!r}: the increment after '/' must be a whole number above 0 in {field}")
        step = int(step_text) if slash else 1
        if base == "*":
            first, last = low, high
        elif "-" in base:
            a, _, b = base.partition("-")
            first, last = _number(a, field, names), _number(b, field, names)
            if first > last:
                raise InvalidCron(f"{item!r}: a range in {field} must go upwards")
        else:
            first = _number(base, field, names)
            last = high if slash else first
        found.update(range(first, last + 1, step))
    return frozenset(found)


def _dom(text: str) -> DayTest:
    tests: list[DayTest] = []
    for item in text.split(","):
        if item == "L":
            tests.append(lambda d: d.day == _last_day(d))
        elif re.fullmatch(r"\d+W", item):
            wanted = _number(item[:-1], "day-of-month")
            tests.append(lambda d, n=wanted: d == _nearest_weekday(d, n))  # type: ignore[misc]
        elif "L" in item or "W" in item:
            raise InvalidCron(f"{item!r} is not a day-of-month value (L, a day with W like 15W, or 1-31)")
        else:
            days = _values(item, "day-of-month")
            tests.append(lambda d, days=days: d.day in days)  # type: ignore[misc]
    return lambda d: any(test(d) for test in tests)


def _dow(text: str) -> DayTest:
    if "#" in text:
        if "," in text:
            raise InvalidCron("with '#', day-of-week holds one expression only (3#1,6#3 is two)")
        weekday, _, nth = text.partition("#")
        wanted = _number(weekday, "day-of-week", DAYS)
        if not nth.isdigit() or not 1 <= int(nth) <= 5:
            raise InvalidCron(f"{text!r}: the instance after '#' is 1-5")
        return lambda d: _aws_weekday(d) == wanted and (d.day - 1) // 7 + 1 == int(nth)
    tests: list[DayTest] = []
    for item in text.split(","):
        if item == "L":
            tests.append(lambda d: _aws_weekday(d) == DAYS["SAT"])  # the last day of the week
        elif item.endswith("L"):
            wanted = _number(item[:-1], "day-of-week", DAYS)
            tests.append(lambda d, w=wanted: _aws_weekday(d) == w and d.day + 7 > _last_day(d))  # type: ignore[misc]
        else:
            days = _values(item, "day-of-week", DAYS)
            tests.append(lambda d, days=days: _aws_weekday(d) in days)  # type: ignore[misc]
    return lambda d: any(test(d) for test in tests)


def _aws_weekday(d: date) -> int:
    """1 for Sunday ... 7 for Saturday."""
    return (d.weekday() + 1) % 7 + 1


def _last_day(d: date) -> int:
    return calendar.monthrange(d.year, d.month)[1]


def _nearest_weekday(d: date, n: int) -> date:
    """The weekday nearest day ``n`` of ``d``'s month, within the month (``nW``)."""
    target = date(d.year, d.month, min(n, _last_day(d)))
    if target.weekday() == 5:  # Saturday: the Friday before, or the Monday after on the 1st
        return target - timedelta(days=1) if target.day > 1 else target + timedelta(days=2)
    if target.weekday() == 6:  # Sunday: the Monday after, or the Friday before at the month's end
        return target + timedelta(days=1) if target.day < _last_day(d) else target - timedelta(days=2)
    return target
