"""Scheduled rules (``AWS::Events::Rule`` with a ``ScheduleExpression``, SAM's ``Schedule`` events)
and EventBridge Scheduler schedules (``AWS::Scheduler::Schedule``, SAM's ``ScheduleV2`` events),
fired by the engine's clock [SCHED].

``cron`` and ``expressions`` parse AWS's schedule expressions (pure), ``rules`` checks the template's
resources and reads them (pure), ``events`` builds what a firing sends (pure), ``firing`` puts each
firing on the clock and invokes the targets through Lambda's async queue.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the template's model imports ``rules``: nothing heavier is imported with it
    from lambdalab.errors import ConfigurationError
    from lambdalab.sources.base import Poller, SourceContext
    from lambdalab.template.model import CloudModel


def refusals(model: CloudModel) -> list[ConfigurationError]:
    """None here: the model refuses a schedule while it reads it (``rules.read``), in the dry run."""
    return []


def attach(context: SourceContext) -> list[Poller]:
    """The template's enabled schedules on the clock; none without schedules."""
    from lambdalab.sources.schedules.firing import Firings

    schedules = list(context.model.schedules.values())
    if not schedules:
        return []
    return [Firings(context.clock, context.service, schedules)]


__all__ = ["attach", "refusals"]
