"""Each resolved property value checked against the resource type's schema [CFN-SCHEMA], before anything
is created.

The schemas are cfn-lint's copies of CloudFormation's resource provider schemas (the JSON files it
ships, read here directly: importing cfn-lint itself costs about 0.3 s of sympy and networkx on
every start, reading a schema about a millisecond). Checked: ``type``, ``enum``, ``required``, the
names of nested properties (``properties``, ``patternProperties``, ``additionalProperties``) and
list ``items``, through ``$ref``; with cfn-lint's leniency, which is CloudFormation's (its rule
E3012): the text of a number is a number, ``"true"``/``"false"`` are booleans, a number is a
string. Ranges, lengths and patterns are left to the engine's own checks and to
``lambdalab template check`` (all of cfn-lint).

A refusal names the property path as in the template (``AttributeDefinitions[0].AttributeType``),
so that ``refusals.line_of`` finds its line.
"""

from __future__ import annotations

import difflib
import functools
import importlib.util
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from lambdalab.config import REGION
from lambdalab.errors import ConfigurationError

TYPE_WORDS = {"string": "a string", "integer": "an integer", "number": "a number",
              "boolean": "a boolean (true or false)", "object": "a mapping", "array": "a list", "null": "null"}
BOOLEAN_TEXT = frozenset({"true", "True", "TRUE", "false", "False", "FALSE"})


@functools.lru_cache(maxsize=1)
def _schema_dir() -> Path | None:
    """cfn-lint's schema folder, found without importing cfn-lint."""
    spec = importlib.util.find_spec("cfnlint")
    if spec is None or not spec.submodule_search_locations:
        return None
    folder = Path(next(iter(spec.submodule_search_locations))) / "data" / "schemas"
    return folder if folder.is_dir() else None


@functools.lru_cache(maxsize=1)
def _providers() -> dict[str, str]:
    """Resource type -> its schema file's name, for the engine's region."""
    folder = _schema_dir()
    if folder is None:
        return {}
    for region in (REGION, "us-east-1"):
        listing = folder / "providers" / f"{region}.json"
        if listing.is_file():
            return dict(json.loads(listing.read_text()))
    return {}


@functools.lru_cache(maxsize=64)
def resource_schema(type_name: str) -> dict[str, Any] | None:
    """The provider schema of ``type_name``, or None when cfn-lint has none (or is not installed)."""
    name = _providers().get(type_name)
    folder = _schema_dir()
    if not name or folder is None:
        return None
    try:
        return dict(json.loads((folder / "resources" / f"{name}.json").read_text()))
    except (OSError, ValueError):
        return None


def schema_refusals(logical_id: str, type_name: str, props: dict[str, Any]) -> list[ConfigurationError]:
    """A refusal for each value of ``props`` (resolved) that the type's schema does not allow."""
    schema = resource_schema(type_name)
    if schema is None:
        return []
    return [ConfigurationError(message, logical_id, path)
            for path, message in _errors(schema, schema, props, "", type_name)]


def _resolved(root: dict[str, Any], node: Any) -> dict[str, Any]:
    """``node`` with its local ``$ref`` (``#/definitions/Name``) followed."""
    seen = 0
    while isinstance(node, dict) and isinstance(node.get("$ref"), str) and seen < 16:
        target: Any = root
        for part in node["$ref"].removeprefix("#/").split("/"):
            target = target.get(part, {}) if isinstance(target, dict) else {}
        node = {**target, **{k: v for k, v in node.items() if k != "$ref"}}
        seen += 1
    return node if isinstance(node, dict) else {}


def is_type(value: Any, kind: str) -> bool:
    """CloudFormation's (and cfn-lint's) reading of a template value as a JSON schema type."""
    if kind == "object":
        return isinstance(value, dict)
    if kind == "array":
        return isinstance(value, list)
    if kind == "null":
        return value is None
    if isinstance(value, (dict, list)):
        return False
    if kind == "string":
        return True
    if kind == "boolean":
        return isinstance(value, bool) or value in BOOLEAN_TEXT
    if isinstance(value, bool) or kind not in ("integer", "number"):
        return False
    if kind == "integer" and isinstance(value, float):
        return value.is_integer()  # 3.0 is 3; int() would also read 1.5 as 1
    try:
        (int if kind == "integer" else float)(value)
    except (TypeError, ValueError, OverflowError):
        return False
    return True


def _equal(value: Any, allowed: Any) -> bool:
    if isinstance(value, bool) or isinstance(allowed, bool):
        return str(value).lower() == str(allowed).lower()
    return value == allowed or str(value) == str(allowed)


def _words(kinds: list[str]) -> str:
    return " or ".join(TYPE_WORDS.get(k, k) for k in kinds)


def _shown(value: Any) -> str:
    text = json.dumps(value) if isinstance(value, (dict, list)) else repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _at(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _errors(root: dict[str, Any], node: Any, value: Any, path: str, type_name: str) -> Iterator[tuple[str, str]]:
    node = _resolved(root, node)
    kinds = node.get("type")
    kinds = [kinds] if isinstance(kinds, str) else list(kinds or [])
    if value is None:
        return
    if kinds and not any(is_type(value, k) for k in kinds):
        yield path, f"must be {_words(kinds)}, got {_shown(value)}"
        return
    allowed = [node["const"]] if "const" in node else node.get("enum")
    if isinstance(allowed, list) and not isinstance(value, (dict, list)) and not any(_equal(value, a) for a in allowed):
        choices = ", ".join(str(a) for a in allowed)
        yield path, f"must be {'one of ' if len(allowed) > 1 else ''}{choices}; got {_shown(value)}"
        return
    alternative = _alternative(root, node, value)
    if alternative is not None:
        yield from _errors(root, alternative, value, path, type_name)
    if isinstance(value, dict) and any(k in node for k in ("properties", "patternProperties", "additionalProperties",
                                                            "required")):
        yield from _mapping(root, node, value, path, type_name)
    elif isinstance(value, list):
        firsts = node.get("prefixItems") if isinstance(node.get("prefixItems"), list) else []
        for index, item in enumerate(value):
            if index < len(firsts):
                yield from _errors(root, firsts[index], item, f"{path}[{index}]", type_name)
            if isinstance(node.get("items"), dict):
                yield from _errors(root, node["items"], item, f"{path}[{index}]", type_name)


def _alternative(root: dict[str, Any], node: dict[str, Any], value: Any) -> dict[str, Any] | None:
    """The one ``oneOf``/``anyOf`` alternative whose type ``value`` has, to check it against; None when
    none or several have it (which of them was meant cannot be told)."""
    for keyword in ("oneOf", "anyOf"):
        options = [_resolved(root, o) for o in node.get(keyword) or [] if isinstance(o, dict)]
        typed = [o for o in options if "type" in o]
        if not options or len(typed) < len(options):
            continue
        fitting = [o for o in typed if any(_strict(value, k) for k in ([o["type"]] if isinstance(o["type"], str)
                                                                          else o["type"]))]
        if len(fitting) == 1:
            return fitting[0]
    return None


def _strict(value: Any, kind: str) -> bool:
    """JSON's own reading of a type (choosing an alternative): text is a string, never a number."""
    if kind in ("object", "array", "null"):
        return is_type(value, kind)
    python: dict[str, tuple[type, ...]] = {"string": (str,), "boolean": (bool,), "integer": (int,),
                                            "number": (int, float)}
    return isinstance(value, python.get(kind, ())) and not (kind in ("integer", "number") and isinstance(value, bool))


def _mapping(root: dict[str, Any], node: dict[str, Any], value: dict[str, Any], path: str,
             type_name: str) -> Iterator[tuple[str, str]]:
    properties = node.get("properties") or {}
    patterns = node.get("patternProperties") or {}
    unknown = [str(k) for k in value if str(k) not in properties and not any(_search(p, str(k)) for p in patterns)]
    meant = {key: close[0] for key in unknown if (close := difflib.get_close_matches(key, list(properties), 1, 0.75))}
    for name in node.get("required") or []:
        if name not in value and name not in meant.values():  # a misspelt name is refused as such, below
            yield _at(path, name), f"is required (the {type_name} schema)"
    for key, item in value.items():
        key = str(key)
        if key in properties:
            yield from _errors(root, properties[key], item, _at(path, key), type_name)
            continue
        matching = [schema for pattern, schema in patterns.items() if _search(pattern, key)]
        if matching:
            yield from _errors(root, matching[0], item, _at(path, key), type_name)
        elif node.get("additionalProperties") is False:
            if patterns:
                names = " or ".join(patterns)
                yield _at(path, key), f"is not a valid name here: the {type_name} schema wants names matching {names}"
            else:
                hint = f"; did you mean {meant[key]}?" if key in meant else ""
                yield _at(path, key), f"is not a property in the {type_name} schema{hint}"
        elif isinstance(node.get("additionalProperties"), dict):
            yield from _errors(root, node["additionalProperties"], item, _at(path, key), type_name)


def _search(pattern: str, text: str) -> bool:
    """JSON schema's pattern match (a search); a pattern Python's ``re`` cannot read matches anything."""
    try:
        return re.search(pattern, text) is not None
    except re.error:
        return True
