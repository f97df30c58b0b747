"""Load a SAM/CloudFormation template and transform it offline, with a cache.

cfn-lint's decoder reads the CloudFormation short tags (``!Ref``, ``!GetAtt`` ...) and reports
parse errors with line numbers; aws-sam-translator does the SAM transform AWS would do. Importing
the translator costs about a second, so the transformed result is cached by content hash.
"""

from __future__ import annotations

import copy
import hashlib
import json
import sys
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path
from typing import Any

from lambdalab.config import REGION
from lambdalab.environ import environ
from lambdalab.errors import ConfigurationError

CODE_BUCKET = "lambdalab-local-code"
SAM_TRANSFORM = "AWS::Serverless-2016-10-31"


@dataclass(frozen=True)
class LoadedTemplate:
    """The template as written (``sam``) and after the SAM transform (``cfn``)."""

    path: Path
    sam: dict[str, Any]
    cfn: dict[str, Any]
    code_uris: dict[str, str]  # function logical id -> CodeUri as written (relative to the template)


def _cache_dir(path: Path) -> Path:
    return path.parent / ".lambdalab" / "cache"


def _decode(path: Path) -> dict[str, Any]:
    from cfnlint.decode import decode  # lazy: ~0.4 s, and a cached template is not parsed again

    if not path.is_file():
        raise ConfigurationError(f"template file not found: {path}")
    template, matches = decode(str(path))
    if matches or not isinstance(template, dict):
        detail = "; ".join(f"line {m.linenumber}: {m.message}" for m in matches) or "not a mapping"
        raise ConfigurationError(f"{path.name} cannot be parsed: {detail}")
    return json.loads(json.dumps(template))  # plain dicts/strs instead of cfn-lint's node types


def _sam_code_uris(sam: dict[str, Any]) -> dict[str, str]:
    """Point every function's CodeUri at a fake S3 object the translator accepts, and remember it."""
    glob = sam.get("Globals", {}).get("Function", {})
    uris: dict[str, str] = {}
    for logical_id, res in sam.get("Resources", {}).items():
        if not isinstance(res, dict) or res.get("Type") != "AWS::Serverless::Function":
            continue
        props = res.setdefault("Properties", {})
        if "InlineCode" in props:
            raise ConfigurationError("InlineCode is not supported locally; use CodeUri", logical_id, "InlineCode")
        uri = props.get("CodeUri", glob.get("CodeUri"))
        if not isinstance(uri, str):
            raise ConfigurationError("CodeUri must be a local directory path", logical_id, "CodeUri")
        uris[logical_id] = uri
        props["CodeUri"] = f"s3://{CODE_BUCKET}/{logical_id}"
    if "CodeUri" in glob:
        glob["CodeUri"] = f"s3://{CODE_BUCKET}/global"
    return uris


# The translator builds boto3 sessions for the region: give it ours, and hide the user's profile
# (a named profile missing from this machine would make boto3 raise).
TRANSLATOR_ENVIRONMENT = {"AWS_DEFAULT_REGION": REGION, "AWS_PROFILE": None, "AWS_DEFAULT_PROFILE": None}


def _import_translator() -> Any:
    """Import aws-sam-translator without compiling rfc3987-syntax's grammars.

    The translator imports jsonschema, whose format checkers import rfc3987-syntax when it is
    installed (Jupyter brings it); that compiles 38 Lark grammars, most of a second, for an "iri"
    format no SAM schema uses. Hiding the module for this one import skips it; the entry is removed
    again, so anything importing rfc3987-syntax later gets it as usual.
    """
    hidden = "rfc3987_syntax" not in sys.modules
    if hidden:
        sys.modules["rfc3987_syntax"] = None  # type: ignore[assignment]  # makes the import raise ImportError
    try:
        from samtranslator.translator import transform  # lazy: ~1 s, only on a cache miss
    finally:
        if hidden and sys.modules.get("rfc3987_syntax", 0) is None:
            del sys.modules["rfc3987_syntax"]
    return transform


def _transform(sam: dict[str, Any]) -> dict[str, Any]:
    from samtranslator.model.exceptions import InvalidDocumentException  # lazy: the translator, ~1 s

    transform = _import_translator().transform

    class _NoManagedPolicies:
        def load(self) -> dict[str, str]:
            return {}

    try:
        with environ(TRANSLATOR_ENVIRONMENT):
            return dict(transform(copy.deepcopy(sam), {}, _NoManagedPolicies()))
    except InvalidDocumentException as exc:
        causes = "; ".join(str(c) for c in getattr(exc, "causes", []) or [exc])
        raise ConfigurationError(f"SAM transform failed: {causes}") from None
    finally:
        _drop_translator_metrics()


def _drop_translator_metrics() -> None:
    """The translator counts its own work for CloudWatch, through a publisher that discards it, and
    warns "There are unpublished metrics" when the counts are collected unpublished: publish them."""
    from samtranslator.metrics.method_decorator import MetricsMethodWrapperSingleton  # lazy: the translator

    MetricsMethodWrapperSingleton.get_instance().publish()


def load_template(path: str | Path) -> LoadedTemplate:
    """Read and transform ``path``; raises ConfigurationError for anything malformed."""
    path = Path(path).resolve()
    if not path.is_file():
        raise ConfigurationError(f"template file not found: {path}")
    raw = path.read_bytes()
    key = hashlib.sha256(raw + version("aws-sam-translator").encode()).hexdigest()[:32]
    cached = _cache_dir(path) / f"{key}.json"
    if cached.is_file():
        data = json.loads(cached.read_text())
        return LoadedTemplate(path, data["sam"], data["cfn"], data["code_uris"])
    sam = _decode(path)
    if not isinstance(sam.get("Resources"), dict) or not sam["Resources"]:
        raise ConfigurationError(f"{path.name} has no Resources")
    for logical_id, res in sam["Resources"].items():
        if not isinstance(res, dict) or not isinstance(res.get("Type"), str):
            raise ConfigurationError("every resource needs a Type", logical_id, "Type")
    original = copy.deepcopy(sam)
    code_uris = _sam_code_uris(sam)
    transforms = sam.get("Transform")
    is_sam = transforms == SAM_TRANSFORM or (isinstance(transforms, list) and SAM_TRANSFORM in transforms)
    cfn = _transform(sam) if is_sam else sam
    try:
        cached.parent.mkdir(parents=True, exist_ok=True)
        cached.write_text(json.dumps({"sam": original, "cfn": cfn, "code_uris": code_uris}))
    except OSError:
        pass  # a read-only checkout still works, only slower
    return LoadedTemplate(path, original, cfn, code_uris)
