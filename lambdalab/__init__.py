"""lambdalab: run AWS Lambda functions locally, with AWS's invocation rules on a virtual clock.

Names are imported lazily so that ``import lambdalab.<part>`` (the grading plugin, the function
runtime) stays cheap.
"""

from typing import Any

__all__ = ["ConfigurationError", "LocalCloud", "TooManyRequestsException", "local_cloud"]


def __getattr__(name: str) -> Any:
    if name in ("LocalCloud", "local_cloud"):
        from lambdalab import cloud

        return getattr(cloud, name)
    if name in ("ConfigurationError", "TooManyRequestsException"):
        from lambdalab import errors

        return getattr(errors, name)
    raise AttributeError(name)
