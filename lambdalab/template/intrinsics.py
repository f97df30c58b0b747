"""Resolve CloudFormation intrinsic functions against the local cloud's physical names.

Only what environment variables, policies and resource properties need: ``Ref``, ``Fn::GetAtt``,
``Fn::Sub``, ``Fn::Join``, ``Fn::Select``, ``Fn::Split``, ``Fn::If``/conditions are refused.
"""

from __future__ import annotations

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

    def resolve(self, value: Any, where: tuple[str, str]) -> Any:
        if isinstance(value, list):
            items = [self.resolve(v, where) for v in value]
            return [v for v in items if v is not NO_VALUE]
        if not isinstance(value, dict):
            return value
        if len(value) == 1:
            (key, arg), = value.items()
            if key == "Ref":
                return self._ref(arg, where)
            if key.startswith("Fn::") or key == "Condition":
                try:
                    return self._function(key, arg, where)
                except (ValueError, TypeError, IndexError, KeyError, AttributeError) as exc:
                    raise ConfigurationError(f"{key} cannot be evaluated: {type(exc).__name__}: {exc}",
                                             *where) from None
        out = {k: self.resolve(v, where) for k, v in value.items()}
        return {k: v for k, v in out.items() if v is not NO_VALUE}

    def _ref(self, name: str, where: tuple[str, str]) -> Any:
        if name == "AWS::NoValue":
            return NO_VALUE
        if name in PSEUDO:
            return PSEUDO[name]
        if name in self._parameters:
            return self._parameters[name]
        return self._lookup(name, "Ref")

    def _function(self, key: str, arg: Any, where: tuple[str, str]) -> Any:
        if key == "Fn::GetAtt":
            logical_id, attr = arg if isinstance(arg, list) else str(arg).split(".", 1)
            return self._lookup(logical_id, attr)
        if key == "Fn::Sub":
            text, variables = (arg[0], arg[1]) if isinstance(arg, list) else (arg, {})
            resolved = {k: self.resolve(v, where) for k, v in variables.items()}
            return _SUB_VAR.sub(lambda m: str(self._sub_var(m.group(1), resolved, where)), text)
        if key == "Fn::Join":
            sep, items = arg
            return sep.join(str(i) for i in self.resolve(items, where))
        if key == "Fn::Select":
            index, items = arg
            return self.resolve(items, where)[int(self.resolve(index, where))]
        if key == "Fn::Split":
            sep, text = arg
            return str(self.resolve(text, where)).split(sep)
        raise ConfigurationError(f"{key} is not supported locally", *where)

    def _sub_var(self, name: str, variables: dict[str, Any], where: tuple[str, str]) -> Any:
        if name in variables:
            return variables[name]
        if "." in name:
            logical_id, attr = name.split(".", 1)
            return self._lookup(logical_id, attr)
        return self._ref(name, where)
