"""A template's parameter values, as ``sam local`` takes them: each parameter's ``Default``, replaced
by ``parameter_overrides`` (``--parameter-overrides Key=Value``).

Every problem is reported at once, so a learner fixes them in one round: parameters without a value,
overrides the template does not declare, values outside ``AllowedValues``. A parameter CloudFormation
reads from SSM Parameter Store (``AWS::SSM::Parameter::Value<...>``) needs its value given, as the
local cloud has no Parameter Store of the account to read it from.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from lambdalab.errors import ConfigurationError

SSM_TYPE_PREFIX = "AWS::SSM::Parameter::Value<"
LIST_TYPES = ("CommaDelimitedList", "List<")


def parse_overrides(pairs: list[str]) -> dict[str, str]:
    """``["Stage=dev", "Table=orders"]`` (the command line's form) as a dict; a pair without ``=``
    is refused."""
    values: dict[str, str] = {}
    for pair in pairs:
        name, equals, value = pair.partition("=")
        if not equals or not name:
            raise ConfigurationError(f"--parameter-overrides takes Key=Value pairs, got {pair!r}")
        values[name] = value
    return values


def _value(spec: dict[str, Any], value: Any) -> Any:
    """What ``!Ref`` gives for a parameter: the text, or a list of texts for list types."""
    kind = str(spec.get("Type", "String"))
    if kind.startswith(LIST_TYPES) or (kind.startswith(SSM_TYPE_PREFIX) and "List<" in kind):
        return value if isinstance(value, list) else [v.strip() for v in str(value).split(",")]
    return value


def parameter_values(declared: Any, overrides: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Each declared parameter's value; one ConfigurationError listing every problem."""
    declared = declared if isinstance(declared, dict) else {}
    overrides = dict(overrides or {})
    values: dict[str, Any] = {}
    missing: list[str] = []
    problems: list[str] = []
    for name, spec in declared.items():
        spec = spec if isinstance(spec, dict) else {}
        from_ssm = str(spec.get("Type", "")).startswith(SSM_TYPE_PREFIX)
        if name in overrides:
            value = overrides[name]
        elif "Default" in spec and not from_ssm:
            value = spec["Default"]
        else:
            missing.append(f"{name} (read from SSM Parameter Store on AWS)" if from_ssm else name)
            continue
        allowed = spec.get("AllowedValues")
        if isinstance(allowed, list) and str(value) not in [str(a) for a in allowed]:
            problems.append(f"parameter {name}: {value!r} is not one of its AllowedValues {allowed}")
        values[name] = _value(spec, value)
    unknown = sorted(set(overrides) - set(declared))
    if unknown:
        problems.append(f"parameter_overrides names parameters the template does not declare: {', '.join(unknown)}")
    if missing:
        problems.insert(0, f"parameters without a value: {', '.join(missing)}; give them as "
                           "`LocalCloud.start(..., parameter_overrides={'Name': 'value'})` or "
                           "`lambdalab up --parameter-overrides Name=value`")
    if problems:
        raise ConfigurationError("; ".join(problems), "Parameters")
    return values
