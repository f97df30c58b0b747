"""Definitions kept in a file next to the template, read as ``sam deploy`` and ``aws cloudformation
package`` would upload them [SFN].

SAM's ``DefinitionUri: statemachine/flow.asl.json`` is pointed at a stand-in S3 object before the
transform (which accepts only S3 locations); after it, and on every load (so an edited file is read
again even when the transformed template is cached), the ``DefinitionS3Location`` the transform made,
or one written as a local path in a CloudFormation template, becomes ``Definition``. The file's path
goes through the same ``code_path`` rewrite as a function's CodeUri (``labs/`` -> ``solutions/``),
since a lab's state machine is as much the learner's code as its functions.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

SAM_STATE_MACHINE = "AWS::Serverless::StateMachine"
STATE_MACHINE = "AWS::StepFunctions::StateMachine"
_STAND_IN = "s3://{bucket}/definition/{path}"


def point_sam_definitions(sam: dict[str, Any], bucket: str) -> None:
    """Before the transform: each local ``DefinitionUri`` as a stand-in S3 URI naming the file."""
    for res in (sam.get("Resources") or {}).values():
        props = res.get("Properties") if isinstance(res, dict) and res.get("Type") == SAM_STATE_MACHINE else None
        uri = props.get("DefinitionUri") if isinstance(props, dict) else None
        if isinstance(props, dict) and isinstance(uri, str) and not uri.startswith("s3://"):
            props["DefinitionUri"] = _STAND_IN.format(bucket=bucket, path=uri)


def _local_file(location: Any, bucket: str) -> str | None:
    """The file a ``DefinitionS3Location`` names locally: a path, or a stand-in's key; else None."""
    if isinstance(location, str) and not location.startswith("s3://"):
        return location
    key = location.get("Key") if isinstance(location, dict) and location.get("Bucket") == bucket else None
    return key[len("definition/"):] if isinstance(key, str) and key.startswith("definition/") else None


def definition_files(cfn: dict[str, Any], bucket: str) -> set[str]:
    """The logical ids of the state machines whose definition is a local file."""
    return {lid for lid, res in (cfn.get("Resources") or {}).items() if isinstance(res, dict)
            and res.get("Type") == STATE_MACHINE
            and _local_file((res.get("Properties") or {}).get("DefinitionS3Location"), bucket) is not None}


def inline_definitions(cfn: dict[str, Any], folder: Path, bucket: str,
                       code_path: Callable[[str], str] | None = None) -> tuple[dict[str, Any],
                                                                                list[tuple[str, str, str]]]:
    """``cfn`` with each local definition file (its path rewritten by ``code_path``, if given) read
    into ``Definition``, and (logical id, property, message) for each that cannot be read; ``cfn``
    itself is left as it is."""
    import yaml

    refusals: list[tuple[str, str, str]] = []
    found = definition_files(cfn, bucket)
    if not found:
        return cfn, refusals
    cfn = copy.deepcopy(cfn)
    for lid in found:
        props = cfn["Resources"][lid]["Properties"]
        location = props.pop("DefinitionS3Location")
        name, prop = str(_local_file(location, bucket)), "DefinitionUri" if isinstance(location, dict) else \
            "DefinitionS3Location"
        path = folder / (code_path(name) if code_path else name)
        try:
            text = path.read_text()
            definition = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
        except (OSError, ValueError, yaml.YAMLError) as exc:
            refusals.append((lid, prop, f"cannot read the definition {name}: {exc}"))
            continue
        props["Definition"] = definition
    return cfn, refusals
