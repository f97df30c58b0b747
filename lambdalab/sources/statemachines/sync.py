"""StartSyncExecution on the engine's ``stepfunctions`` client: an Express execution run to its end,
its status and output the answer [SFN].

moto has no StartSyncExecution, and botocore sends it to ``sync-<host>``, which a local endpoint
does not have. The engine's client answers it itself, before any request is sent: it starts the
execution (StartExecution), drives the cloud until the execution ends (on the virtual clock its
Retry intervals and Waits pass meanwhile; no moto request is held open while its Lambda tasks run)
and answers as AWS does, with 200 even when the execution failed. On a STANDARD state machine AWS
answers StateMachineTypeNotSupported.
"""

from __future__ import annotations

import json
import time
from typing import Any, Protocol

from lambdalab.clock import Clock


class LocalCloud(Protocol):
    """What a sync execution needs of the cloud whose client answers it: its clock, and a way to
    drive it until nothing is left to do."""

    clock: Clock

    def run_until_idle(self) -> Any: ...

OPERATION = "before-call.sfn.StartSyncExecution"
_ENDED_STATUS = {"SUCCEEDED": "SUCCEEDED", "TIMED_OUT": "TIMED_OUT"}  # any other end is FAILED
_REAL_CLOCK_POLL_S = 0.05
_ANSWERED = ("executionArn", "stateMachineArn", "name", "startDate", "stopDate", "input", "inputDetails",
             "output", "outputDetails", "error", "cause", "traceHeader")


def answer_sync_executions(client: Any, cloud: LocalCloud) -> None:
    """Make ``client`` (a ``stepfunctions`` client of ``cloud``) answer StartSyncExecution."""

    def start_sync_execution(params: dict[str, Any], **kwargs: Any) -> tuple[Any, dict[str, Any]]:
        return _answer(client, cloud, json.loads(params.get("body") or b"{}"))

    client.meta.events.register(OPERATION, start_sync_execution)


def _answer(client: Any, cloud: LocalCloud, request: dict[str, Any]) -> tuple[Any, dict[str, Any]]:
    arn = request.get("stateMachineArn", "")
    machine = client.describe_state_machine(stateMachineArn=arn)
    if machine.get("type") != "EXPRESS":
        return _error(400, "StateMachineTypeNotSupported",
                      f"StartSyncExecution is not available for STANDARD workflows: {machine.get('name', arn)}")
    start = {key: request[key] for key in ("name", "input", "traceHeader") if key in request}
    execution = client.start_execution(stateMachineArn=arn, **start)["executionArn"]
    described = _ended(client, cloud, execution)
    answer = {key: described[key] for key in _ANSWERED if key in described}
    answer["status"] = _ENDED_STATUS.get(described["status"], "FAILED")
    if answer["status"] != "SUCCEEDED":
        answer.pop("output", None)
    answer["ResponseMetadata"] = {"HTTPStatusCode": 200, "HTTPHeaders": {}}
    return _response(200), answer


def _ended(client: Any, cloud: LocalCloud, execution: str) -> dict[str, Any]:
    """DescribeExecution once the execution has ended, the cloud driven (or waited for) meanwhile."""
    while True:
        described: dict[str, Any] = client.describe_execution(executionArn=execution)
        if described["status"] != "RUNNING":
            return described
        if cloud.clock.virtual:
            cloud.run_until_idle()
        else:
            time.sleep(_REAL_CLOCK_POLL_S)


def _error(status: int, code: str, message: str) -> tuple[Any, dict[str, Any]]:
    return _response(status), {"Error": {"Code": code, "Message": message},
                               "ResponseMetadata": {"HTTPStatusCode": status, "HTTPHeaders": {}}}


def _response(status: int) -> Any:
    from botocore.awsrequest import AWSResponse

    return AWSResponse("", status, {}, None)
