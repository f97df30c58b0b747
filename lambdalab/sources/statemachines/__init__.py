"""State machines (``AWS::StepFunctions::StateMachine``, SAM's ``AWS::Serverless::StateMachine``),
run locally by moto's ASL interpreter with Lambda tasks run by the engine [SFN].

``definition`` reads and checks a definition (pure), ``resource`` creates a state machine in moto,
``executions`` keeps executions on the engine's clock. Started through the stock boto3
``stepfunctions`` client (StartExecution, DescribeExecution, GetExecutionHistory).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from lambdalab.errors import ConfigurationError
    from lambdalab.sources.base import Poller, SourceContext
    from lambdalab.template.model import CloudModel

STATE_MACHINE = "AWS::StepFunctions::StateMachine"


def refusals(model: CloudModel) -> list[ConfigurationError]:
    """None here: the model refuses a definition while it deploys it (``StateMachine.invalid``)."""
    return []


def attach(context: SourceContext) -> list[Poller]:
    """The executions' poller; none without state machines."""
    if not context.model.deployed(STATE_MACHINE):
        return []
    from lambdalab.sources.statemachines.executions import Executions

    return [Executions(context.clock, context.service.scheduler)]


__all__ = ["attach", "refusals"]
