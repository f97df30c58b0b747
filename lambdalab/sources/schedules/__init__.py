"""Scheduled rules (``AWS::Events::Rule`` with a ``ScheduleExpression``, SAM's ``Schedule`` events)
and EventBridge Scheduler schedules (``AWS::Scheduler::Schedule``, SAM's ``ScheduleV2`` events),
fired by the engine's clock [SCHED].

``cron`` and ``expressions`` parse AWS's schedule expressions (pure), ``rules`` checks the template's
resources and reads them (pure), ``events`` builds what a firing sends (pure), ``firing`` puts each
firing on the clock and invokes the function targets through Lambda's async queue, or starts an
execution of the state-machine targets.
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
    def start_execution(state_machine_arn: str, given: str) -> None:
        """StartExecution as the engine's own call to the data plane, where moto's interpreter runs it."""
        context.dataplane.client("stepfunctions").start_execution(stateMachineArn=state_machine_arn, input=given)

    return [Firings(context.clock, context.service, schedules, start_execution)]


__all__ = ["attach", "refusals"]
