"""``AWS::StepFunctions::StateMachine`` (and SAM's ``AWS::Serverless::StateMachine``, which the
transform makes one of): created in moto, whose Step Functions interpreter runs its executions [SFN]."""

from __future__ import annotations

from typing import Any, ClassVar

from lambdalab.config import ACCOUNT_ID
from lambdalab.dataplane import patches
from lambdalab.dataplane.provision import ClientFactory, ResourceType
from lambdalab.errors import ConfigurationError
from lambdalab.sources.statemachines.definition import definition_text, refusals

# The role a state machine without RoleArn is created with (moto needs one; nothing checks it).
DEFAULT_ROLE = f"arn:aws:iam::{ACCOUNT_ID}:role/lambdalab-states"


def _placeholder_function(text: str) -> bool:
    """A dry deployment's stand-in for a resource's ARN: the deployed ARN is checked at creation."""
    from lambdalab.sources.base import placeholder

    return placeholder(text) is not None


class StateMachine(ResourceType):
    type_name = "AWS::StepFunctions::StateMachine"
    properties = frozenset({"Definition", "DefinitionString", "DefinitionSubstitutions", "RoleArn",
                            "StateMachineName", "StateMachineType", "Tags"})
    attributes = frozenset({"Ref", "Arn", "Name", "StateMachineRevisionId"})
    not_emulated: ClassVar[dict[str, str]] = {
        "LoggingConfiguration": "execution logging to CloudWatch Logs",
        "TracingConfiguration": "X-Ray tracing",
    }

    def invalid(self) -> list[ConfigurationError]:
        return refusals(self.logical_id, self.props, _placeholder_function)

    def create(self, clients: ClientFactory) -> dict[str, Any]:
        patches.apply("stepfunctions")  # before the first request: moto keeps these in the interpreter's backend
        name = str(self.props.get("StateMachineName", self.logical_id))
        text, _ = definition_text(self.props)
        answer = clients("stepfunctions").create_state_machine(
            name=name, definition=text, roleArn=str(self.props.get("RoleArn", DEFAULT_ROLE)),
            type=str(self.props.get("StateMachineType", "STANDARD")),
            tags=[{"key": str(t["Key"]), "value": str(t["Value"])} for t in self.props.get("Tags", [])],
        )
        arn = answer["stateMachineArn"]
        return {"Ref": arn, "Arn": arn, "Name": name, "StateMachineRevisionId": arn}
