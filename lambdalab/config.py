"""Typed, frozen configuration named after AWS's parameters; defaults are AWS's defaults."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lambdalab.errors import ConfigurationError

ACCOUNT_ID = "123456789012"
REGION = "us-east-1"

# Keys Lambda sets itself and refuses in a function's configuration (Lambda developer guide,
# "Working with Lambda environment variables": defined runtime environment variables).
RESERVED_ENVIRONMENT_KEYS = frozenset({
    "_HANDLER", "_X_AMZN_TRACE_ID", "AWS_DEFAULT_REGION", "AWS_REGION", "AWS_EXECUTION_ENV",
    "AWS_LAMBDA_FUNCTION_NAME", "AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "AWS_LAMBDA_FUNCTION_VERSION",
    "AWS_LAMBDA_INITIALIZATION_TYPE", "AWS_LAMBDA_LOG_GROUP_NAME", "AWS_LAMBDA_LOG_STREAM_NAME",
    "AWS_ACCESS_KEY", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN",
    "AWS_LAMBDA_RUNTIME_API", "LAMBDA_TASK_ROOT", "LAMBDA_RUNTIME_DIR",
})


def check_environment_keys(logical_id: str, variables: Any) -> None:
    """Refuse what Lambda refuses (reserved keys, in its own words), and the endpoint variables the
    engine sets so that a function's boto3 clients reach the local cloud."""
    if not isinstance(variables, dict):
        return
    keys = [str(k) for k in variables]
    reserved = [k for k in keys if k in RESERVED_ENVIRONMENT_KEYS]
    if reserved:
        raise ConfigurationError(
            "Lambda was unable to configure your environment variables because the environment variables "
            "you have provided contains reserved keys that are currently not supported for modification. "
            f"Reserved keys used in this request: {', '.join(reserved)}",
            logical_id, f"Environment.Variables.{reserved[0]}",
        )
    for key in keys:
        if key == "AWS_ENDPOINT_URL" or key.startswith("AWS_ENDPOINT_URL_"):
            raise ConfigurationError(
                "locally the engine owns AWS_ENDPOINT_URL and AWS_ENDPOINT_URL_<SERVICE>: it sets them so "
                "that the function's boto3 clients reach the local cloud, so a function cannot set them",
                logical_id, f"Environment.Variables.{key}",
            )


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
