"""The public API (docs/api.md): every declared name resolves, lazily, and ``LocalCloud``'s lookups
find mappings, queues and functions by the names people know them by."""

from __future__ import annotations

import subprocess
import sys

import pytest

import lambdalab
from lambdalab import ConfigurationError, FunctionConfig, ResourceNotFoundException, SqsPoller
from tests.engine.sqs_apps import queue_app, send


def test_every_public_name_resolves() -> None:
    for name in lambdalab.__all__:
        assert getattr(lambdalab, name) is not None, name
    with pytest.raises(AttributeError):
        lambdalab.MappingStats  # noqa: B018  (internal: not a public name)


def test_importing_lambdalab_imports_nothing_else() -> None:
    code = "import sys, lambdalab; print(sorted(m for m in sys.modules if m.startswith('lambdalab')))"
    answer = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert answer.stdout.strip() == "['lambdalab']"


def test_a_mapping_is_found_by_any_of_its_names_and_its_stats_reset(make_cloud) -> None:
    cloud = make_cloud(*queue_app())
    [(logical_id, mapping)] = cloud.event_source_mappings().items()
    assert isinstance(mapping, SqsPoller)
    for name in (logical_id, mapping.uuid, "Worker", mapping.function.FunctionName, "Jobs"):
        assert cloud.event_source_mapping(name) is mapping
    with pytest.raises(ConfigurationError, match=f"0 SQS or stream event-source mappings match 'JobsDlq'; "
                                                 f"the template has \\['{logical_id}'\\]"):
        cloud.event_source_mapping("JobsDlq")
    send(cloud, {"id": 1})
    cloud.run_until_idle()
    assert mapping.stats.deleted == 1
    mapping.reset_stats()
    assert mapping.stats.deleted == 0 and cloud.event_source_mapping("Worker").stats.deleted == 0


def test_queue_attributes_function_and_async_queue(make_cloud) -> None:
    cloud = make_cloud(*queue_app(visibility=45))
    assert cloud.queue_attributes("Jobs")["VisibilityTimeout"] == "45"
    assert cloud.queue_attributes(cloud.resource("JobsDlq"))["QueueArn"].endswith(":JobsDlq")
    with pytest.raises(ConfigurationError, match="Worker: is not an SQS queue"):
        cloud.queue_attributes("Worker")
    fn = cloud.function("Worker")
    assert isinstance(fn, FunctionConfig) and fn.Timeout == 3 and cloud.function(fn.FunctionArn) is fn
    with pytest.raises(ResourceNotFoundException):
        cloud.function("Nobody")
    cloud.invoke("Worker", {"Records": []}, invocation_type="Event")
    assert cloud.async_queue().pending() == 1
    cloud.run_until_idle()
    assert cloud.async_queue().pending() == 0
