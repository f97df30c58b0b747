"""Load a SAM/CloudFormation template and transform it offline, with a cache.

cfn-lint's decoder reads the CloudFormation short tags (``!Ref``, ``!GetAtt`` ...) and reports
parse errors with line numbers; aws-sam-translator does the SAM transform AWS would do. Importing
the translator costs about a second, so the transformed result is cached by content hash.
"""

from __future__ import annotations

import copy
import dataclasses
import datetime
import hashlib
import json
import logging
import re
import sys
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from importlib.metadata import version
from pathlib import Path
from typing import Any

from lambdalab.config import REGION
from lambdalab.environ import environ
from lambdalab.errors import ConfigurationError
from lambdalab.sources.statemachines.local_definitions import (
    definition_files,
    inline_definitions,
    point_sam_definitions,
)
from lambdalab.template.intrinsics import PSEUDO
from lambdalab.template.refusals import Refused, TemplateRefused, located

CODE_BUCKET = "lambdalab-local-code"
FUNCTION_TYPE = "AWS::Serverless::Function"
SAM_TRANSFORM = "AWS::Serverless-2016-10-31"
# Bumped when what is cached changes shape, so an older cache entry is never read as a newer one.
CACHE_FORMAT = "4"
LAYER_TYPE = "AWS::Serverless::LayerVersion"


@dataclass(frozen=True)
class LoadedTemplate:
    """The template as written (``sam``) and after the SAM transform (``cfn``)."""

    path: Path
    sam: dict[str, Any]
    cfn: dict[str, Any]
    code_uris: dict[str, str]  # function logical id -> CodeUri as written (relative to the template)
    inline_code: dict[str, str] = field(default_factory=dict)  # function logical id -> InlineCode
    layer_uris: dict[str, str] = field(default_factory=dict)  # LayerVersion logical id -> ContentUri
    # (logical id, property, message) for code locations that cannot run locally, reported with the
    # model's own refusals so that every refusal comes at once
    refusals: list[tuple[str, str, str]] = field(default_factory=list)
    # ``cfn`` as packaged, before local definition files were read into it: read again when a
    # ``code_path`` points them elsewhere
    packaged: dict[str, Any] | None = None

    def inline_dir(self, logical_id: str) -> Path:
        """Where a function's InlineCode is written, as ``index.py`` (the file Lambda makes of it)."""
        return _cache_dir(self.path).parent / "inline" / logical_id


def _cache_dir(path: Path) -> Path:
    return path.parent / ".lambdalab" / "cache"


def missing(path: Path) -> str:
    """Why ``path``, which is not a file, cannot be read as a template."""
    return f"{path} is a folder, not a template file" if path.is_dir() else f"template file not found: {path}"


def utf8_problem(raw: bytes) -> tuple[int, str] | None:
    """(line, what) when ``raw`` is not UTF-8, which CloudFormation reads templates as; else None."""
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        return line, (f"not UTF-8 text: byte 0x{raw[exc.start]:02x} at offset {exc.start} cannot be read; "
                      "save the file as UTF-8")
    return None


def check_utf8(path: Path, raw: bytes) -> None:
    """Refuse a template that is not UTF-8 naming the file, the line and the byte's offset (cfn-lint
    only says it cannot read the file)."""
    problem = utf8_problem(raw)
    if problem is not None:
        raise ConfigurationError(f"{path.name}:{problem[0]}: {problem[1]}")


def _decode(path: Path) -> dict[str, Any]:
    from cfnlint.decode import decode  # lazy: ~0.4 s, and a cached template is not parsed again

    if not path.is_file():
        raise ConfigurationError(f"template file not found: {path}")
    template, matches = decode(str(path))
    if matches or not isinstance(template, dict):
        detail = "; ".join(f"line {m.linenumber}: {m.message}" for m in matches) or "not a mapping"
        raise ConfigurationError(f"{path.name} cannot be parsed: {detail}")
    # Plain dicts/strs instead of cfn-lint's node types; YAML reads an unquoted 2010-09-09 as a date,
    # which CloudFormation reads as the text it is written as.
    return json.loads(json.dumps(template, default=_iso_text))


def _iso_text(value: Any) -> str:
    if isinstance(value, (datetime.date, datetime.datetime)):
        return value.isoformat()
    raise TypeError(f"a template value of type {type(value).__name__} is not JSON")


@dataclass
class _Code:
    """Where each function's code and each layer's content is, as written, before the SAM transform
    is given fake S3 locations for them (it accepts nothing else)."""

    uris: dict[str, str] = field(default_factory=dict)
    inline: dict[str, str] = field(default_factory=dict)
    layers: dict[str, str] = field(default_factory=dict)
    refusals: list[tuple[str, str, str]] = field(default_factory=list)


def _local_path(value: Any) -> bool:
    return isinstance(value, str) and not value.startswith("s3://")


def _parameter_ref(value: Any, sam: dict[str, Any], parameters: Mapping[str, Any]) -> Any:
    """A ``!Ref`` to a template parameter as its value (given, else its Default), as the SAM
    transform resolves a CodeUri or ContentUri; anything else as it is."""
    name = value.get("Ref") if isinstance(value, dict) and len(value) == 1 else None
    declared = sam.get("Parameters")
    if not isinstance(name, str) or not isinstance(declared, dict) or name not in declared:
        return value
    spec = declared[name] if isinstance(declared[name], dict) else {}
    return parameters.get(name, spec.get("Default", value))


def _sam_code_uris(sam: dict[str, Any], parameters: Mapping[str, Any]) -> _Code:
    """Point every function's CodeUri and every layer's ContentUri at a fake S3 object the
    translator accepts, and remember what was written (a ``!Ref`` to a parameter as its value):
    SAM's default CodeUri is ``.``, the folder of the template; InlineCode is kept to be written
    out as ``index.py``."""
    glob = (sam.get("Globals") or {}).get("Function") or {}
    code = _Code()
    for logical_id, res in sam.get("Resources", {}).items():
        if not isinstance(res, dict):
            continue
        props = res.setdefault("Properties", {}) if res.get("Type") in (FUNCTION_TYPE, LAYER_TYPE) else {}
        if res.get("Type") == LAYER_TYPE:
            uri = _parameter_ref(props.get("ContentUri"), sam, parameters)
            if isinstance(uri, str) and _local_path(uri):
                code.layers[logical_id] = uri
                props["ContentUri"] = f"s3://{CODE_BUCKET}/layer/{logical_id}"
            else:
                code.refusals.append((logical_id, "ContentUri", "ContentUri must be a local directory path"))
            continue
        if res.get("Type") != FUNCTION_TYPE or props.get("PackageType") == "Image":
            continue
        if isinstance(props.get("InlineCode"), str):
            code.inline[logical_id] = props.pop("InlineCode")
            code.uris[logical_id] = "."
        else:
            uri = _parameter_ref(props.get("CodeUri", glob.get("CodeUri", ".")), sam, parameters)
            where = "CodeUri" if "CodeUri" in props else "Globals.Function.CodeUri" if "CodeUri" in glob else ""
            if not _local_path(uri):
                code.refusals.append((logical_id, where or "CodeUri",
                                      "CodeUri must be a local directory path (S3 locations cannot run locally)"))
                uri = "."
            code.uris[logical_id] = uri
        props["CodeUri"] = f"s3://{CODE_BUCKET}/{logical_id}"
    if "CodeUri" in glob:
        glob["CodeUri"] = f"s3://{CODE_BUCKET}/global"
    return code


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


# The translator's loggers: it warns about its own feature flags ("Feature 'normalized_open_api_version'
# not available in Feature Toggle Config."), which says nothing about the template.
TRANSLATOR_LOGGER = "samtranslator"


@contextmanager
def _quiet_translator() -> Iterator[None]:
    """Hide the translator's log lines below ERROR while it transforms: its refusals come as
    exceptions, which the engine reports itself."""
    logger = logging.getLogger(TRANSLATOR_LOGGER)
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(level)


def translator_parameters(overrides: Mapping[str, Any] | None) -> dict[str, Any]:
    """The parameter values the SAM transform resolves SAM properties with (``AutoPublishAlias:
    !Ref Alias``, an Api's ``StageName: !Ref Stage``), as ``sam local`` gives them: the pseudo
    parameters of the local cloud and ``overrides``; the translator adds each parameter's Default."""
    return {**PSEUDO, **dict(overrides or {})}


def _transform(sam: dict[str, Any], parameters: dict[str, Any]) -> dict[str, Any]:
    from samtranslator.model.exceptions import InvalidDocumentException  # lazy: the translator, ~1 s

    transform = _import_translator().transform

    class _NoManagedPolicies:
        def load(self) -> dict[str, str]:
            return {}

    try:
        with environ(TRANSLATOR_ENVIRONMENT), _quiet_translator():
            return dict(transform(copy.deepcopy(sam), dict(parameters), _NoManagedPolicies()))
    except InvalidDocumentException as exc:
        raise Refused([_sam_refusal(getattr(c, "message", str(c))) for c in exc.causes or [exc]]) from None
    finally:
        _drop_translator_metrics()


_SAM_RESOURCE = re.compile(r"^Resource with id \[(\w+)\] is invalid\. (.*)$", re.DOTALL)
_SAM_EVENT = re.compile(r"^Event with id \[(\w+)\] is invalid\. (.*)$", re.DOTALL)
_SAM_PROPERTY = re.compile(r"[Pp]roperty '?([\w.]*\w)'?(?: not defined| should| is invalid| is required|\.|$)")


def _sam_refusal(message: str) -> ConfigurationError:
    """A cause the SAM transform gives ("Resource with id [Fn] is invalid. property Timout not defined
    ...") as a refusal naming the resource and, where the words name one, the property."""
    message = " ".join(message.split())
    resource = _SAM_RESOURCE.match(message)
    if resource is None:
        return ConfigurationError(f"the SAM transform refused the template: {message}")
    logical_id, why = resource.groups()
    event = _SAM_EVENT.match(why)
    if event is not None:
        name, why = event.groups()
    prop = _SAM_PROPERTY.search(why)
    named = prop.group(1) if prop else None
    if event is not None:
        named = f"Events.{name}" + (f".Properties.{named}" if named else "")
    return ConfigurationError(f"the SAM transform refused it: {why}", logical_id, named)


def _drop_translator_metrics() -> None:
    """The translator counts its own work for CloudWatch, through a publisher that discards it, and
    warns "There are unpublished metrics" when the counts are collected unpublished: publish them."""
    from samtranslator.metrics.method_decorator import MetricsMethodWrapperSingleton  # lazy: the translator

    MetricsMethodWrapperSingleton.get_instance().publish()


def load_template(path: str | Path, parameter_overrides: Mapping[str, Any] | None = None) -> LoadedTemplate:
    """Read and transform ``path``, the SAM transform given ``parameter_overrides`` as ``sam local
    --parameter-overrides`` gives them; raises ConfigurationError for anything malformed."""
    path = Path(path).resolve()
    if not path.is_file():
        raise ConfigurationError(missing(path))
    raw = path.read_bytes()
    check_utf8(path, raw)
    parameters = translator_parameters(parameter_overrides)
    given = json.dumps(parameters, sort_keys=True, default=str).encode()
    key = hashlib.sha256(raw + given + version("aws-sam-translator").encode() + CACHE_FORMAT.encode()).hexdigest()[:32]
    cached = _cache_dir(path) / f"{key}.json"
    if cached.is_file():
        data = json.loads(cached.read_text())
        return _written(LoadedTemplate(path, data["sam"], data["cfn"], data["code_uris"], data["inline_code"],
                                       data["layer_uris"], [tuple(r) for r in data["refusals"]]))
    sam = _decode(path)
    if not isinstance(sam.get("Resources"), dict) or not sam["Resources"]:
        raise ConfigurationError(f"{path.name} has no Resources")
    untyped = [ConfigurationError("every resource needs a Type", logical_id, "Type")
               for logical_id, res in sam["Resources"].items()
               if not isinstance(res, dict) or not isinstance(res.get("Type"), str)]
    if untyped:
        raise TemplateRefused(located(sam, path, untyped), path.name)
    original = copy.deepcopy(sam)
    code = _sam_code_uris(sam, parameters)
    point_sam_definitions(sam, CODE_BUCKET)
    transforms = sam.get("Transform")
    is_sam = transforms == SAM_TRANSFORM or (isinstance(transforms, list) and SAM_TRANSFORM in transforms)
    try:
        cfn = _transform(sam, parameters) if is_sam else sam
    except ConfigurationError as exc:
        raise TemplateRefused(located(original, path, [exc]), path.name) from None
    try:
        cached.parent.mkdir(parents=True, exist_ok=True)
        cached.write_text(json.dumps({"sam": original, "cfn": cfn, "code_uris": code.uris, "inline_code": code.inline,
                                      "layer_uris": code.layers, "refusals": code.refusals}))
    except OSError:
        pass  # a read-only checkout still works, only slower
    return _written(LoadedTemplate(path, original, cfn, code.uris, code.inline, code.layers, code.refusals))


def with_definitions(template: LoadedTemplate, code_path: Callable[[str], str] | None = None) -> LoadedTemplate:
    """``template`` with each state machine's local definition file read into its ``Definition``, the
    file's path rewritten by ``code_path`` as a function's CodeUri is; a file that cannot be read is
    a refusal (in place of any the same state machine had from an earlier reading)."""
    packaged = template.packaged if template.packaged is not None else template.cfn
    cfn, unread = inline_definitions(packaged, template.path.parent, CODE_BUCKET, code_path)
    if cfn is packaged:
        return template
    machines = definition_files(packaged, CODE_BUCKET)
    kept = [refusal for refusal in template.refusals if refusal[0] not in machines]
    return dataclasses.replace(template, cfn=cfn, refusals=[*kept, *unread], packaged=packaged)


def _written(template: LoadedTemplate) -> LoadedTemplate:
    """Write each function's InlineCode out, as Lambda does with a ZipFile: one ``index.py``; read
    each state machine's local definition file (``lambdalab.sources.statemachines.local_definitions``)."""
    template = with_definitions(template)
    for logical_id, source in template.inline_code.items():
        folder = template.inline_dir(logical_id)
        target = folder / "index.py"
        try:
            if not target.is_file() or target.read_text() != source:
                folder.mkdir(parents=True, exist_ok=True)
                target.write_text(source)
        except OSError as exc:
            raise ConfigurationError(f"cannot write InlineCode to {target}: {exc.strerror}", logical_id,
                                     "InlineCode") from None
    return template
