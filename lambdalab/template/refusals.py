"""Every refusal of a template at once, named as the learner wrote it, with its line.

The engine checks the SAM-transformed template, whose names are the transform's: ``TracingConfig``
for a function's ``Tracing``, ``ServerlessRestApiProdStage`` for the API SAM makes from ``Api``
events and ``Globals.Api``. ``as_written`` maps such a name back to the resource and property in the
template as written (``Fn.Tracing``, ``Globals.Api.TracingEnabled``), and the line is read from the
YAML as written (the positions cfn-lint's decoder reports).
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from lambdalab.errors import ConfigurationError, LambdaLabError

SAM_FUNCTION = "AWS::Serverless::Function"
SAM_APIS = {"AWS::Serverless::Api": "Api", "AWS::Serverless::HttpApi": "HttpApi"}
# Resources SAM makes for Api and HttpApi events that name no API: their settings come from Globals.
IMPLICIT_APIS = {"ServerlessRestApi": "Api", "ServerlessHttpApi": "HttpApi"}
# Function properties the transform renames.
FUNCTION_NAMES = {"TracingConfig": "Tracing", "DeadLetterConfig": "DeadLetterQueue", "Code": "CodeUri"}


@dataclass(frozen=True)
class Refusal:
    """One thing the engine will not run: where (as written) and why."""

    logical_id: str | None
    property: str | None
    message: str
    line: int | None = None
    file: str = ""

    @classmethod
    def of(cls, exc: ConfigurationError) -> Refusal:
        where = ".".join(p for p in (exc.logical_id, exc.property) if p)
        text = str(exc)
        message = text[len(where) + 2:] if where and text.startswith(f"{where}: ") else text
        return cls(exc.logical_id, exc.property, message)

    def __str__(self) -> str:
        where = ".".join(p for p in (self.logical_id, self.property) if p)
        text = f"{where}: {self.message}" if where else self.message
        return f"{self.file}:{self.line}: {text}" if self.line else text


class Refused(ConfigurationError):
    """Several refusals of one resource, raised together."""

    def __init__(self, errors: list[ConfigurationError]):
        self.errors = errors
        first = errors[0]
        ConfigurationError.__init__(self, "; ".join(str(e) for e in errors))
        self.logical_id, self.property = first.logical_id, first.property


def flatten(exc: ConfigurationError) -> list[ConfigurationError]:
    return [e for inner in exc.errors for e in flatten(inner)] if isinstance(exc, Refused) else [exc]


class TemplateRefused(ConfigurationError):
    """The template cannot run locally: ``refusals`` lists every reason, one line each. Its
    ``logical_id`` and ``property`` are the first refusal's."""

    def __init__(self, refusals: list[Refusal], file: str):
        self.refusals = refusals
        if len(refusals) == 1:
            text = str(refusals[0])
        else:
            text = (f"{file}: {len(refusals)} settings cannot run locally (nothing was started):\n"
                    + "\n".join(f"  {r}" for r in refusals))
        LambdaLabError.__init__(self, text)
        self.logical_id, self.property = refusals[0].logical_id, refusals[0].property


SAM_STATE_MACHINE = "AWS::Serverless::StateMachine"


def as_written(sam: dict[str, Any], logical_id: str | None, prop: str | None) -> tuple[str | None, str | None]:
    """The resource and property of the template as written that a transformed name comes from."""
    resources = sam.get("Resources") or {}
    if not logical_id or logical_id in ("Globals", "Parameters", "Conditions"):
        return logical_id, prop
    owner = logical_id if logical_id in resources else _owner(resources, logical_id)
    globals_ = sam.get("Globals") or {}
    if owner is None:
        section = next((s for name, s in IMPLICIT_APIS.items() if logical_id.startswith(name)), None)
        if section and prop and prop.split(".")[0] in (globals_.get(section) or {}):
            return "Globals", f"{section}.{prop}"
        return logical_id, prop
    kind = resources[owner].get("Type")
    props = resources[owner].get("Properties") or {}
    if kind == SAM_FUNCTION:
        if owner != logical_id:
            event = logical_id[len(owner):]
            if event in (props.get("Events") or {}) and prop:
                return owner, f"Events.{event}.Properties.{prop}"
            if event.startswith(("Version", "Alias")) and "AutoPublishAlias" in props:
                return owner, "AutoPublishAlias"
            return logical_id, prop
        if not prop:
            return owner, prop
        top, _, rest = prop.partition(".")
        top = FUNCTION_NAMES.get(top, top)
        named = f"{top}.{rest}" if rest else top
        if top not in props and top in (globals_.get("Function") or {}):
            return "Globals", f"Function.{named}"
        return owner, named
    if kind == "AWS::Serverless::LayerVersion":
        return owner, "ContentUri" if prop == "Content" else prop
    if kind == SAM_STATE_MACHINE and prop and prop.startswith("DefinitionString") and "Definition" in props:
        return owner, "Definition" + prop[len("DefinitionString"):]  # the transform writes Definition out as text
    if kind in SAM_APIS and prop:
        section = SAM_APIS[kind]
        top = prop.split(".")[0]
        if top not in props and top in (globals_.get(section) or {}):
            return "Globals", f"{section}.{prop}"
        return owner, prop
    return logical_id, prop


def _owner(resources: dict[str, Any], logical_id: str) -> str | None:
    """The SAM resource a generated one is named after (``FnRole`` -> ``Fn``), if any."""
    owners = [k for k, v in resources.items() if logical_id.startswith(k) and isinstance(v, dict)
              and str(v.get("Type", "")).startswith("AWS::Serverless::")]
    return max(owners, key=len) if owners else None


@functools.lru_cache(maxsize=8)
def _document(path: Path, mtime: float) -> yaml.Node | None:
    try:
        return yaml.compose(path.read_text(), Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    except (yaml.YAMLError, OSError, UnicodeDecodeError):
        return None


def line_of(path: Path, logical_id: str | None, prop: str | None) -> int | None:
    """The line of ``logical_id``'s ``prop`` (dotted, as written) in ``path``, else of the nearest
    enclosing key that is there; None when the file cannot be read as YAML."""
    try:
        root = _document(path, path.stat().st_mtime)
    except OSError:
        return None
    if root is None or not logical_id:
        return None
    if logical_id in ("Globals", "Parameters", "Conditions"):
        node, line = _child(root, logical_id)
    else:
        node, line = _child(root, "Resources")
        node, line = _child(node, logical_id) if node is not None else (None, line)
        if node is not None and prop:
            inner, inner_line = _child(node, "Properties")
            if inner is not None and _child(node, prop.split(".")[0])[0] is None:  # Type, Condition: not inside
                node, line = inner, inner_line
    rest = prop or ""
    while node is not None and rest:
        index = re.match(r"\[(\d+)\]\.?", rest)
        if isinstance(node, yaml.SequenceNode) and index and int(index.group(1)) < len(node.value):
            node = node.value[int(index.group(1))]  # an item of a list: ``KeySchema[0].KeyType``
            line, rest = node.start_mark.line + 1, rest[index.end():]
            continue
        if not isinstance(node, yaml.MappingNode):
            break
        keys = [k.value for k, _ in node.value if isinstance(k, yaml.ScalarNode)]
        key = max((k for k in keys if rest == k or rest.startswith((f"{k}.", f"{k}["))), key=len, default=None)
        if key is None:
            break
        node, line = _child(node, key)
        rest = rest[len(key):].removeprefix(".")
    return line


def _child(node: yaml.Node | None, key: str) -> tuple[yaml.Node | None, int | None]:
    if isinstance(node, yaml.MappingNode):
        for k, v in node.value:
            if isinstance(k, yaml.ScalarNode) and k.value == key:
                return v, k.start_mark.line + 1
    return None, None


def located(sam: dict[str, Any], path: Path, errors: list[ConfigurationError]) -> list[Refusal]:
    """Each error as a Refusal named as written, with its line; duplicates once, in order."""
    found: dict[str, Refusal] = {}
    for exc in (e for error in errors for e in flatten(error)):
        refusal = Refusal.of(exc)
        lid, prop = as_written(sam, refusal.logical_id, refusal.property)
        refusal = Refusal(lid, prop, refusal.message, line_of(path, lid, prop), path.name)
        found.setdefault(f"{lid}.{prop}", refusal)  # one refusal per place: the first says enough
    return sorted(found.values(), key=lambda r: (r.line is None, r.line or 0))
