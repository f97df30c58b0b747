"""Offline template findings a person can act on, all reported at once, each naming the line,
logical id and property where it can:

* cfn-lint on the template as written. cfn-lint checks SAM resources against SAM's schemas but does
  not run the SAM transform, so the roles, permissions and mappings SAM generates are never linted;
* cfn-lint again on the SAM-transformed template (the engine's transform, the one AWS runs), with
  the findings of the first pass left out;
* the missing-policy rule (``policies.py``): the engine enforces each function's role only when the
  call is made, so this is where a missing grant shows before anything runs;
* the engine's own rules: whatever ``LocalCloud.start`` would refuse, with the same words. Only the
  parts that refuse anything are built: the model, its resources on a data plane (moto checks
  them, and the event sources read queue attributes and subscribe from there), the Lambda service
  and the event sources; no endpoint is served and the process environment is left alone.

cfn-lint's warnings (rules ``W...``) are kept as warnings: advice, so only errors fail the check.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from cfnlint.api import ManualArgs, lint, lint_file
from cfnlint.decode import decode

from lambdalab.clock import VirtualClock
from lambdalab.cloud import provision
from lambdalab.config import FunctionConfig
from lambdalab.errors import ConfigurationError
from lambdalab.observe.journal import Journal
from lambdalab.observe.logstore import LogStore
from lambdalab.service.concurrency import Concurrency
from lambdalab.service.invoke import LambdaService, RequestIds
from lambdalab.sources.base import SourceContext, Sources
from lambdalab.template.load import load_template, missing, utf8_problem
from lambdalab.template.policies import missing_policies
from lambdalab.template.refusals import TemplateRefused

# Rules cfn-lint skips on SAM templates because the transform's output trips them (parameters the
# transform consumed, actions in SAM's own policy templates, generated Fn::Sub and CodeUri values).
SKIPPED_AFTER_TRANSFORM = {"W2001", "W3037", "W3002", "W1020", "W1101"}
TRANSFORMED = " (after the SAM transform)"


@dataclass(frozen=True)
class Finding:
    """One finding: ``error`` fails the check, ``warning`` is advice."""

    severity: str
    where: str  # "template.yaml:12"
    message: str
    place: str = field(default="", compare=False)  # "Stream.ShardCount": the property it is about, if known

    @property
    def is_error(self) -> bool:
        return self.severity == "error"

    def __str__(self) -> str:
        return f"{self.where}: {self.severity}: {self.message}"


def _lines(path: Path) -> dict[str, int]:
    """Logical id -> the line it is declared on (cfn-lint's decoder keeps positions)."""
    template, _ = decode(str(path))
    resources = template.get("Resources") if isinstance(template, dict) else None
    if not isinstance(resources, dict):
        return {}
    return {str(k): k.start_mark.line + 1 for k in resources if hasattr(k, "start_mark")}


def _line_of(logical_id: str, lines: dict[str, int]) -> int | None:
    """The line of a resource, or of the resource SAM generated it from (``FnRole`` -> ``Fn``)."""
    owners = [k for k in lines if logical_id.startswith(k)]
    return lines[max(owners, key=len)] if owners else None


def _match(m: Any, where: str) -> tuple[tuple[str, ...], Finding]:
    path = tuple(str(p) for p in getattr(m, "path", None) or [])
    prefix = "/".join(path) + ": " if path else ""
    severity = "error" if m.rule.id.startswith("E") else "warning"
    return (m.rule.id, *path, m.message), Finding(severity, where, f"{m.rule.id} {prefix}{m.message}", _place(m))


def _place(m: Any) -> str:
    """``Resources/Stream/Properties/Tags/0/Key`` as the engine names it: ``Stream.Tags[0].Key``;
    ``Resources/Stream`` is ``Stream``."""
    parts = list(getattr(m, "path", None) or [])
    if len(parts) < 2 or parts[0] != "Resources":
        return ""
    text = str(parts[1])
    for part in parts[3:] if parts[2:3] == ["Properties"] else parts[2:]:  # DependsOn, Type: named as they are
        text += f"[{part}]" if isinstance(part, int) else f".{part}"
    return text


def _lint(path: Path, transformed: dict[str, Any] | None, lines: dict[str, int]) -> list[Finding]:
    seen: dict[tuple[str, ...], Finding] = {}
    for m in lint_file(path, ManualArgs(regions=["us-east-1"])):
        if m.rule.id[0] in "EW":
            key, finding = _match(m, f"{path.name}:{m.linenumber}")
            seen.setdefault(key, finding)
    if transformed is not None:
        for m in lint(json.dumps(transformed), regions=["us-east-1"]):
            if m.rule.id[0] in "EW" and m.rule.id not in SKIPPED_AFTER_TRANSFORM:
                path_parts = getattr(m, "path", None) or []
                line = _line_of(str(path_parts[1]), lines) if len(path_parts) > 1 else None
                where = f"{path.name}:{line}" if line else path.name
                key, finding = _match(m, f"{where}{TRANSFORMED}")
                seen.setdefault(key, finding)
    return list(seen.values())


def _engine(path: Path, already_failed: bool, parameter_overrides: dict[str, Any] | None) -> list[Finding]:
    server_log = logging.getLogger("werkzeug")  # a refused request is a finding, not a traceback
    quiet, server_log.disabled = server_log.disabled, True
    try:
        _build_engine(path, parameter_overrides)
    except TemplateRefused as exc:
        return [Finding("error", f"{path.name}:{r.line}" if r.line else path.name, str(replace(r, line=None)),
                        ".".join(p for p in (r.logical_id, r.property) if p)) for r in exc.refusals]
    except ConfigurationError as exc:
        return [Finding("error", path.name, str(exc))]
    except Exception as exc:  # a template cfn-lint already rejected may break the engine in any way
        if not already_failed:
            raise
        return [Finding("error", path.name, f"the local engine cannot start from it: {type(exc).__name__}: {exc}")]
    finally:
        server_log.disabled = quiet
    return []


def _build_engine(path: Path, parameter_overrides: dict[str, Any] | None) -> None:
    """Build, then close, what ``LocalCloud.start`` builds that can refuse ``path``, raising as it
    raises: the model and its resources on a data plane, the Lambda service, the event sources."""
    model, dataplane = provision(path, parameter_overrides=parameter_overrides)
    clock = VirtualClock()
    try:
        service = LambdaService(model.functions, clock=clock, journal=Journal(clock.now()), concurrency=Concurrency(),
                                logs=LogStore(None), environ=_no_environment, request_ids=RequestIds(0))
        sources = Sources()
        try:
            sources.attach_all(SourceContext(clock=clock, service=service, dataplane=dataplane, model=model))
        except ConfigurationError as exc:
            raise model.located(exc) from None
        finally:
            sources.close()
            service.shutdown()
    finally:
        clock.close()
        dataplane.stop()


def _no_environment(fn: FunctionConfig, log_stream: str) -> dict[str, str]:
    raise AssertionError("no function runs during a template check")


def check_template(path: Path, parameter_overrides: dict[str, Any] | None = None) -> list[Finding]:
    """Every finding for ``path``: cfn-lint (both passes), the missing-policy rule, the engine's rules
    (with ``parameter_overrides`` for parameters without a default)."""
    if not path.is_file():  # nothing to lint: one finding says why
        return [Finding("error", path.name, missing(path.resolve()))]
    problem = utf8_problem(path.read_bytes())
    if problem is not None:  # cfn-lint cannot read it either: this one finding says why
        return [Finding("error", f"{path.name}:{problem[0]}", problem[1])]
    try:
        loaded = load_template(path, parameter_overrides)
    except ConfigurationError:
        loaded = None  # cfn-lint and the engine both report why, with positions
    lines = _lines(path) if path.is_file() else {}
    transformed = loaded.cfn if loaded and loaded.sam.get("Transform") else None  # else one form only
    findings = _lint(path, transformed, lines)
    if loaded:
        for logical_id, message in missing_policies(loaded.sam):
            line = lines.get(logical_id)
            findings.append(Finding("error", f"{path.name}:{line}" if line else path.name, message))
    engine = _engine(path, any(f.is_error for f in findings), parameter_overrides)
    return [f for f in findings if not any(_same_mistake(f, e) for e in engine)] + engine


def _same_mistake(lint: Finding, engine: Finding) -> bool:
    """A cfn-lint error about the property the engine refuses, about what contains it (the resource's
    Properties as a whole: a required property missing, properties that must agree), or about a
    value inside it on the same line (or found after the transform): the engine's refusal says it
    once, in the words ``LocalCloud.start`` uses."""
    if not (lint.is_error and lint.place and engine.place):
        return False
    if _within(engine.place, lint.place):
        return True
    return _within(lint.place, engine.place) and (lint.where == engine.where or lint.where.endswith(TRANSFORMED))


def _within(place: str, outer: str) -> bool:
    return place == outer or place.startswith((f"{outer}.", f"{outer}["))
