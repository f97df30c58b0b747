"""Resolve CloudFormation intrinsic functions against the local cloud's physical names.

Only what environment variables, policies and resource properties need: ``Ref``, ``Fn::GetAtt``,
``Fn::Sub``, ``Fn::Join``, ``Fn::Select``, ``Fn::Split``, ``Fn::If``/conditions are refused.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

from lambdalab.config import ACCOUNT_ID, REGION
from lambdalab.errors import ConfigurationError

STACK_NAME = "lambdalab"
NO_VALUE = object()
PSEUDO = {
    "AWS::Region": REGION,
    "AWS::AccountId": ACCOUNT_ID,
    "AWS::Partition": "aws",
    "AWS::StackName": STACK_NAME,
    "AWS::StackId": f"arn:aws:cloudformation:{REGION}:{ACCOUNT_ID}:stack/{STACK_NAME}/local",
    "AWS::URLSuffix": "amazonaws.com",
}
# The argument each function takes, for refusals of arguments of another shape.
SHAPES = {
    "Fn::GetAtt": "[logical id, attribute] or \"LogicalId.Attribute\"",
    "Fn::Sub": "a text, or [text, {variable: value}]",
    "Fn::Join": "[delimiter, [values]]",
    "Fn::Select": "[index, [values]]",
    "Fn::Split": "[delimiter, text]",
}
_SUB_VAR = re.compile(r"\$\{([^}!]+)\}")

# (logical id, attribute or "Ref") -> value
Lookup = Callable[[str, str], Any]


def references(value: Any) -> set[str]:
    """Logical ids a value refers to, for ordering provisioning."""
    found: set[str] = set()
    if isinstance(value, dict):
        if "Ref" in value and isinstance(value["Ref"], str):
            found.add(value["Ref"])
        if "Fn::GetAtt" in value:
            target = value["Fn::GetAtt"]
            found.add(target[0] if isinstance(target, list) else str(target).split(".")[0])
        if "Fn::Sub" in value:
            arg = value["Fn::Sub"]
            text, local = (arg[0], arg[1]) if isinstance(arg, list) else (arg, {})
            if isinstance(text, str):
                found |= {v.split(".")[0] for v in _SUB_VAR.findall(text) if v not in local}
        for v in value.values():
            found |= references(v)
    elif isinstance(value, list):
        for v in value:
            found |= references(v)
    return {f for f in found if not f.startswith("AWS::")}


class Resolver:
    """Evaluates intrinsics; ``where`` names the logical id and property for error messages."""

    def __init__(self, lookup: Lookup, parameters: dict[str, Any]):
        self._lookup = lookup
        self._parameters = parameters

    def resolve(self, value: Any, where: tuple[str, str], path: bool = True) -> Any:
        """``value`` with its intrinsics evaluated; ``where`` is (logical id, the path to ``value``),
        the path ``Properties`` at the top, so that a refusal names the property it is in (inside a
        function's arguments, ``path`` False, it stays the function's property)."""
        if isinstance(value, list):
            items = [self.resolve(v, (where[0], f"{where[1]}[{i}]") if path else where, path)
                     for i, v in enumerate(value)]
            return [v for v in items if v is not NO_VALUE]
        if not isinstance(value, dict):
            return value
        if len(value) == 1:
            (key, arg), = value.items()
            if key == "Ref" or key.startswith("Fn::") or key == "Condition":
                try:
                    return self._ref(arg, where) if key == "Ref" else self._function(key, arg, where)
                except (ValueError, TypeError, IndexError, KeyError, AttributeError) as exc:
                    raise ConfigurationError(f"{key} cannot be evaluated: {type(exc).__name__}: {exc}",
                                             *where) from None
                except ConfigurationError as exc:
                    if exc.logical_id == where[0] and exc.property:
                        raise
                    call = ".".join(map(str, arg)) if key == "Fn::GetAtt" and isinstance(arg, list) else _shown(arg)
                    raise ConfigurationError(f"{key} {call}: {exc}", *where) from None
        out = {k: self.resolve(v, (where[0], _at(where[1], str(k))) if path else where, path) for k, v in value.items()}
        return {k: v for k, v in out.items() if v is not NO_VALUE}

    def _ref(self, name: Any, where: tuple[str, str]) -> Any:
        if not isinstance(name, str):
            raise ConfigurationError(f"Ref takes a logical id or parameter name, got {_shown(name)}", *where)
        if name == "AWS::NoValue":
            return NO_VALUE
        if name in PSEUDO:
            return PSEUDO[name]
        if name in self._parameters:
            return self._parameters[name]
        return self._lookup(name, "Ref")

    def _function(self, key: str, arg: Any, where: tuple[str, str]) -> Any:
        """One intrinsic function; arguments of the wrong shape are refused with the form it takes."""
        shape = SHAPES.get(key)
        pair = isinstance(arg, list) and len(arg) == 2
        if key == "Fn::GetAtt":
            parts = arg if isinstance(arg, list) else str(arg).split(".", 1)
            if len(parts) != 2 or not all(isinstance(p, str) for p in parts):
                raise ConfigurationError(f"{key} takes {shape}, got {_shown(arg)}", *where)
            return self._lookup(parts[0], parts[1])
        if key == "Fn::Sub":
            text, variables = (arg[0], arg[1]) if pair else (arg, {})
            if not isinstance(text, str) or not isinstance(variables, dict):
                raise ConfigurationError(f"{key} takes {shape}, got {_shown(arg)}", *where)
            resolved = {k: self.resolve(v, where, False) for k, v in variables.items()}
            return _SUB_VAR.sub(lambda m: str(self._sub_var(m.group(1), resolved, where)), text)
        if key in ("Fn::Join", "Fn::Select", "Fn::Split"):
            if not pair:
                raise ConfigurationError(f"{key} takes {shape}, got {_shown(arg)}", *where)
            first, second = arg[0], self.resolve(arg[1], where, False)
            if key == "Fn::Split":
                if not isinstance(first, str) or isinstance(second, (dict, list)):
                    raise ConfigurationError(f"{key} takes {shape}, got {_shown(arg)}", *where)
                return str(second).split(first)
            if not isinstance(second, list) or any(isinstance(v, (dict, list)) for v in second):
                raise ConfigurationError(f"{key} takes {shape}; its list is {_shown(second)}", *where)
            if key == "Fn::Join":
                if not isinstance(first, str):
                    raise ConfigurationError(f"{key} takes {shape}, got {_shown(arg)}", *where)
                return first.join(str(v) for v in second)
            index = int(self.resolve(first, where, False))
            if not 0 <= index < len(second):
                raise ConfigurationError(f"{key} index {index} is outside its list of {len(second)}", *where)
            return second[index]
        raise ConfigurationError(f"{key} is not supported locally", *where)

    def _sub_var(self, name: str, variables: dict[str, Any], where: tuple[str, str]) -> Any:
        if name in variables:
            return variables[name]
        if "." in name:
            logical_id, attr = name.split(".", 1)
            return self._lookup(logical_id, attr)
        return self._ref(name, where)


def _at(path: str, key: str) -> str:
    """The path of ``key`` inside ``path``; a resource's top-level properties are named alone."""
    return key if path == "Properties" else f"{path}.{key}"


def _shown(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    return text if len(text) <= 60 else text[:57] + "..."
