"""Typed, frozen configuration named after AWS's parameters; defaults are AWS's defaults."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ACCOUNT_ID = "123456789012"
REGION = "us-east-1"


@dataclass(frozen=True)
class EventInvokeConfig:
    """AWS::Lambda::EventInvokeConfig / PutFunctionEventInvokeConfig."""

    MaximumRetryAttempts: int = 2
    MaximumEventAgeInSeconds: int = 21600
    OnSuccess: str | None = None  # destination ARN
    OnFailure: str | None = None


@dataclass(frozen=True)
class EventSource:
    """One entry of a SAM function's ``Events``: its type (Api, HttpApi, S3, SNS, SQS, ...)."""

    name: str
    type: str
    properties: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class FunctionConfig:
    """What the engine needs to run one function (AWS::Lambda::Function after the SAM transform)."""

    logical_id: str
    FunctionName: str
    Handler: str
    Runtime: str
    CodeUri: Path  # absolute directory holding the handler module
    Timeout: int = 3
    MemorySize: int = 128
    Environment: dict[str, str] = field(default_factory=dict)
    ReservedConcurrentExecutions: int | None = None
    EventInvokeConfig: EventInvokeConfig = field(default_factory=EventInvokeConfig)
    DeadLetterQueue: str | None = None  # target ARN
    Events: tuple[EventSource, ...] = ()
    Architectures: tuple[str, ...] = ("x86_64",)

    @property
    def FunctionArn(self) -> str:
        return f"arn:aws:lambda:{REGION}:{ACCOUNT_ID}:function:{self.FunctionName}"

    @property
    def LogGroupName(self) -> str:
        return f"/aws/lambda/{self.FunctionName}"
