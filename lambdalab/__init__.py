"""lambdalab: run AWS Lambda functions locally, with AWS's invocation rules on a virtual clock.

``__all__`` is the engine's public API (docs/api.md): notebooks, graded checks and the course
package import only these names; every other module is internal and may change. Names are imported
lazily so that ``import lambdalab`` and ``import lambdalab.<part>`` (the grading plugin, the
function runtime) stay cheap.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from lambdalab import cli
    from lambdalab.cloud import LocalCloud, local_cloud
    from lambdalab.config import FunctionConfig
    from lambdalab.errors import (
        ACCOUNT_LIMIT,
        RESERVED_LIMIT,
        AwsApiError,
        ConfigurationError,
        LambdaLabError,
        NotSupportedLocally,
        ResourceNotFoundException,
        TooManyRequestsException,
    )
    from lambdalab.observe.journal import Call, Invocation, Journal
    from lambdalab.service.callfaults import Pause
    from lambdalab.service.faults import Faults
    from lambdalab.service.invoke import InvokeResult
    from lambdalab.sources.asyncinvoke.queue import AsyncQueue
    from lambdalab.sources.sqs.config import VisibilityTimeoutWarning, check_visibility
    from lambdalab.sources.sqs.poller import SqsPoller
    from lambdalab.sources.streams.poller import StreamPoller
    from lambdalab.template.check import Finding, check_template

# Each public name and the module it lives in.
_HOMES = {
    # the local cloud
    "LocalCloud": "lambdalab.cloud",
    "local_cloud": "lambdalab.cloud",
    # what its methods answer
    "InvokeResult": "lambdalab.service.invoke",
    "FunctionConfig": "lambdalab.config",
    "Journal": "lambdalab.observe.journal",
    "Invocation": "lambdalab.observe.journal",
    "Faults": "lambdalab.service.faults",
    "Pause": "lambdalab.service.callfaults",
    "Call": "lambdalab.observe.journal",
    "SqsPoller": "lambdalab.sources.sqs.poller",
    "StreamPoller": "lambdalab.sources.streams.poller",
    "AsyncQueue": "lambdalab.sources.asyncinvoke.queue",
    # AWS's checks, for experiments
    "check_visibility": "lambdalab.sources.sqs.config",
    "VisibilityTimeoutWarning": "lambdalab.sources.sqs.config",
    # the offline template check (`lambdalab template check`)
    "check_template": "lambdalab.template.check",
    "Finding": "lambdalab.template.check",
    # errors, and TooManyRequestsException's reasons
    "LambdaLabError": "lambdalab.errors",
    "ConfigurationError": "lambdalab.errors",
    "AwsApiError": "lambdalab.errors",
    "TooManyRequestsException": "lambdalab.errors",
    "ResourceNotFoundException": "lambdalab.errors",
    "NotSupportedLocally": "lambdalab.errors",
    "RESERVED_LIMIT": "lambdalab.errors",
    "ACCOUNT_LIMIT": "lambdalab.errors",
}

__all__ = [
    "ACCOUNT_LIMIT",
    "RESERVED_LIMIT",
    "AsyncQueue",
    "AwsApiError",
    "Call",
    "ConfigurationError",
    "Faults",
    "Finding",
    "FunctionConfig",
    "Invocation",
    "InvokeResult",
    "Journal",
    "LambdaLabError",
    "LocalCloud",
    "NotSupportedLocally",
    "Pause",
    "ResourceNotFoundException",
    "SqsPoller",
    "StreamPoller",
    "TooManyRequestsException",
    "VisibilityTimeoutWarning",
    "check_template",
    "check_visibility",
    "cli",
    "local_cloud",
]


def __getattr__(name: str) -> Any:
    if name == "cli":  # the command line a course extends with its own commands
        return importlib.import_module("lambdalab.cli")
    if name not in _HOMES:
        raise AttributeError(f"module 'lambdalab' has no attribute {name!r}")
    return getattr(importlib.import_module(_HOMES[name]), name)


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
