"""CloudFormation conditions, decided once from the parameter values, as a deploy decides them.

Every entry of ``Conditions`` is evaluated (``Fn::Equals``, ``Fn::And``, ``Fn::Or``, ``Fn::Not`` and
``Condition`` references; operands are literals, ``Ref`` to a parameter or pseudo parameter, or
``Fn::If``/``Fn::Join``/``Fn::Select`` of those). Then the template is pruned: a resource or output
whose ``Condition`` is false is left out, each ``Fn::If`` becomes the branch its condition picks, and
``!Ref AWS::NoValue`` removes the property or list item it stands for. What is left has no conditions.
"""

from __future__ import annotations

from typing import Any

from lambdalab.errors import ConfigurationError
from lambdalab.template.intrinsics import PSEUDO

_NO_VALUE = {"Ref": "AWS::NoValue"}
_DROPPED = object()


class Conditions:
    """The truth of each named condition of a template, for given parameter values."""

    def __init__(self, declared: Any, parameters: dict[str, Any]):
        self._declared = declared if isinstance(declared, dict) else {}
        self._parameters = parameters
        self._values: dict[str, bool] = {}
        self._evaluating: list[str] = []
        for name in self._declared:
            self.value(name)

    def value(self, name: Any, where: str = "Conditions") -> bool:
        if not isinstance(name, str) or name not in self._declared:
            raise ConfigurationError(f"refers to condition {name!r}, which Conditions does not declare", where)
        if name in self._values:
            return self._values[name]
        if name in self._evaluating:
            cycle = " -> ".join([*self._evaluating[self._evaluating.index(name):], name])
            raise ConfigurationError(f"conditions refer to each other in a cycle: {cycle}", "Conditions", name)
        self._evaluating.append(name)
        try:
            result = self._truth(self._declared[name], name)
        except (ValueError, TypeError, IndexError, KeyError) as exc:  # e.g. Fn::Select past its list
            raise ConfigurationError(f"cannot be evaluated: {type(exc).__name__}: {exc}", "Conditions", name) from None
        finally:
            self._evaluating.pop()
        self._values[name] = result
        return result

    def _truth(self, expression: Any, name: str) -> bool:
        if isinstance(expression, dict) and len(expression) == 1:
            (key, arg), = expression.items()
            if key == "Condition":
                return self.value(arg, f"Conditions.{name}")
            if key == "Fn::Equals" and isinstance(arg, list) and len(arg) == 2:
                left, right = (self._operand(a, name) for a in arg)
                return _text(left) == _text(right)
            if key == "Fn::Not" and isinstance(arg, list) and len(arg) == 1:
                return not self._truth(arg[0], name)
            if key in ("Fn::And", "Fn::Or") and isinstance(arg, list) and 2 <= len(arg) <= 10:
                found = [self._truth(a, name) for a in arg]
                return all(found) if key == "Fn::And" else any(found)
        if isinstance(expression, bool):
            return expression
        raise ConfigurationError("a condition must be Fn::Equals, Fn::And, Fn::Or, Fn::Not or Condition "
                                 f"(with their arguments), got {expression!r}", "Conditions", name)

    def _operand(self, value: Any, name: str) -> Any:
        if isinstance(value, dict) and len(value) == 1:
            (key, arg), = value.items()
            if key == "Ref":
                if arg in self._parameters:
                    return self._parameters[arg]
                if arg in PSEUDO:
                    return PSEUDO[arg]
                raise ConfigurationError(f"Ref {arg!r} in a condition must name a parameter", "Conditions", name)
            if key == "Fn::If" and isinstance(arg, list) and len(arg) == 3:
                return self._operand(arg[1] if self.value(arg[0], f"Conditions.{name}") else arg[2], name)
            if key == "Fn::Join" and isinstance(arg, list) and len(arg) == 2:
                items = self._operand(arg[1], name)
                return str(arg[0]).join(_text(i) for i in items)
            if key == "Fn::Select" and isinstance(arg, list) and len(arg) == 2:
                return self._operand(arg[1], name)[int(self._operand(arg[0], name))]
            if key == "Condition":
                return self.value(arg, f"Conditions.{name}")
            raise ConfigurationError(f"{key} cannot be evaluated in a condition locally", "Conditions", name)
        if isinstance(value, list):
            return [self._operand(v, name) for v in value]
        return value

    # -- pruning --------------------------------------------------------------------------------
    def prune(self, value: Any, where: str) -> Any:
        """``value`` (resource ``where``) with every ``Fn::If`` decided and ``AWS::NoValue`` taken out."""
        out = self._prune(value, where, "")
        return {} if out is _DROPPED else out

    def _prune(self, value: Any, where: str, path: str) -> Any:
        """``path``: where ``value`` is in the resource, named as a refusal names a property."""
        if isinstance(value, list):
            items = [self._prune(v, where, f"{path}[{i}]") for i, v in enumerate(value)]
            return [v for v in items if v is not _DROPPED]
        if not isinstance(value, dict):
            return value
        if value == _NO_VALUE:
            return _DROPPED
        if len(value) == 1 and "Fn::If" in value:
            arg = value["Fn::If"]
            if not (isinstance(arg, list) and len(arg) == 3):
                raise ConfigurationError("Fn::If takes [condition, value if true, value if false]", where, path or None)
            try:
                chosen = arg[1] if self.value(arg[0], where) else arg[2]
            except ConfigurationError as exc:
                raise ConfigurationError(f"Fn::If {str(exc).split(': ', 1)[-1]}", where, path or None) from None
            return self._prune(chosen, where, path)
        pruned = {k: self._prune(v, where, _inside(path, str(k))) for k, v in value.items()}
        return {k: v for k, v in pruned.items() if v is not _DROPPED}

    def applied(self, template: dict[str, Any]) -> dict[str, Any]:
        """``template`` without what its conditions leave out, and without conditions."""
        out = {k: v for k, v in template.items() if k != "Conditions"}
        for section in ("Resources", "Outputs"):
            kept = {}
            for lid, item in (template.get(section) or {}).items():
                if isinstance(item, dict) and "Condition" in item:
                    if not self.value(item["Condition"], f"{lid}.Condition"):
                        continue
                    item = {k: v for k, v in item.items() if k != "Condition"}
                kept[lid] = self.prune(item, lid)
            if section in template:
                out[section] = kept
        for item in (out.get("Resources") or {}).values():
            depends = item.get("DependsOn") if isinstance(item, dict) else None
            if isinstance(depends, (str, list)):  # a dependency left out is no dependency; an unknown one is refused
                dropped = set(template.get("Resources") or {}) - set(out["Resources"])
                item["DependsOn"] = [d for d in ([depends] if isinstance(depends, str) else depends)
                                     if not isinstance(d, str) or d not in dropped]
        return out


def _text(value: Any) -> str:
    """How CloudFormation compares values in Fn::Equals: as text (``true`` for a YAML boolean)."""
    if isinstance(value, bool):
        return str(value).lower()
    return str(value)


def _inside(path: str, key: str) -> str:
    """A property's path as refusals name it: ``Properties`` itself is left out."""
    if not path and key == "Properties":
        return ""
    return f"{path}.{key}" if path else key
