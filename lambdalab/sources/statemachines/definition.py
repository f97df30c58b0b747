"""A state machine's definition as the engine reads it: substituted, parsed, and checked [SFN].

Pure: no data plane. ``refusals`` names, before anything starts, what the local executions cannot
run: ASL that is not JSON, a state type the States language has not, a Task whose Resource is not
a Lambda invoke (the only integration this engine runs locally).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

from lambdalab.errors import ConfigurationError

STATE_TYPES = frozenset({"Task", "Pass", "Choice", "Wait", "Succeed", "Fail", "Parallel", "Map"})
# Task resources run locally: the optimized Lambda integration and a function ARN written out.
LAMBDA_INVOKE = ("arn:aws:states:::lambda:invoke",)
_FUNCTION_ARN = re.compile(r"^arn:aws:lambda:[\w-]+:\d{12}:function:[\w-]+(:\$LATEST)?$")
_SUBSTITUTION = re.compile(r"\$\{([\w.-]+)\}")


def substituted(text: str, substitutions: dict[str, Any]) -> str:
    """``DefinitionSubstitutions`` applied as CloudFormation applies them: ``${key}`` -> value; a
    ``${name}`` with no substitution stays as written."""
    return _SUBSTITUTION.sub(lambda m: str(substitutions[m.group(1)]) if m.group(1) in substitutions
                             else m.group(0), text)


def definition_text(props: dict[str, Any]) -> tuple[str | None, str | None]:
    """(the definition as JSON text, substituted; the property it came from) from ``Definition`` (a
    mapping) or ``DefinitionString`` (text); (None, None) when neither is given."""
    substitutions = props.get("DefinitionSubstitutions") or {}
    if "Definition" in props:
        text = json.dumps(props["Definition"]) if not isinstance(props["Definition"], str) else props["Definition"]
        return substituted(text, substitutions), "Definition"
    if "DefinitionString" in props:
        return substituted(str(props["DefinitionString"]), substitutions), "DefinitionString"
    return None, None


def _states(states: Any, at: str) -> Iterator[tuple[str, str, dict[str, Any]]]:
    """(path, name, state) of every state, those inside Map and Parallel states included."""
    if not isinstance(states, dict):
        return
    for name, state in states.items():
        if not isinstance(state, dict):
            continue
        yield at, str(name), state
        inner = state.get("ItemProcessor") or state.get("Iterator")
        if isinstance(inner, dict):
            key = "ItemProcessor" if "ItemProcessor" in state else "Iterator"
            yield from _states(inner.get("States"), f"{at}.{name}.{key}.States")
        for i, branch in enumerate(state.get("Branches") or []):
            if isinstance(branch, dict):
                yield from _states(branch.get("States"), f"{at}.{name}.Branches[{i}].States")


def is_lambda_task(resource: Any, is_function: Any = None) -> bool:
    """A Task the engine runs: the Lambda invoke integration, or a function's ARN."""
    text = str(resource)
    return text in LAMBDA_INVOKE or bool(_FUNCTION_ARN.match(text)) or bool(is_function and is_function(text))


def refusals(logical_id: str, props: dict[str, Any], is_function: Any = None) -> list[ConfigurationError]:
    """What the engine cannot run in this definition, each named ``<prop>.States.<state>...``."""
    text, prop = definition_text(props)
    if text is None or prop is None:
        return [ConfigurationError("needs Definition or DefinitionString (DefinitionS3Location must be "
                                   "inlined: it is not read locally)", logical_id, "Definition")]
    try:
        asl = json.loads(text)
    except ValueError as exc:
        return [ConfigurationError(f"is not valid JSON ({exc})", logical_id, prop)]
    if not isinstance(asl, dict) or not isinstance(asl.get("States"), dict):
        return [ConfigurationError("must be a JSON object with States", logical_id, prop)]
    found: list[ConfigurationError] = []
    for at, name, state in _states(asl["States"], f"{prop}.States"):
        kind = state.get("Type")
        if kind not in STATE_TYPES:
            found.append(ConfigurationError(f"unknown state type {kind!r} (the States language has "
                                            f"{', '.join(sorted(STATE_TYPES))})", logical_id, f"{at}.{name}.Type"))
        elif kind == "Task" and not is_lambda_task(state.get("Resource"), is_function):
            found.append(ConfigurationError(
                f"Task resource {state.get('Resource')!r} not supported locally (Lambda invoke only: "
                f"{LAMBDA_INVOKE[0]} or a function ARN)", logical_id, f"{at}.{name}.Resource"))
    return found
