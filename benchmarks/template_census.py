"""How many SAM templates of a folder the engine starts, refuses or crashes on, and why.

    .venv/bin/python benchmarks/template_census.py path/to/templates [--validate-only] [--fill-parameters]

Every ``template.yaml``/``template.yml`` under the folder is started with ``LocalCloud.start`` (or, with
``--validate-only``, only loaded and checked as ``LocalCloud.start`` checks it before anything
starts). A template ends as *started*, *refused* (a ConfigurationError: the engine says what it
will not run) or *crashed* (any other exception: a bug to fix). The histogram counts each reason
once per template, with the resource names taken out so that the same reason counts together.
``--fill-parameters`` gives parameters without a Default the value ``census``, as a learner would
give them one with ``parameter_overrides``.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import re
import sys
import time
import traceback
from collections import Counter
from pathlib import Path

from lambdalab import ConfigurationError, LocalCloud
from lambdalab.template.load import load_template
from lambdalab.template.model import build_model
from lambdalab.template.refusals import TemplateRefused

QUOTED = re.compile(r"'[^']*'|\b(arn|s3|https?):\S+")


def _reasons(exc: ConfigurationError) -> set[str]:
    """The reasons of a refusal, without the names and values of one template."""
    if isinstance(exc, TemplateRefused):
        found = {f"{(r.property or '').split('.')[-1] or '-'}: {r.message}" for r in exc.refusals}
    else:
        found = {str(exc).split(": ", 1)[-1] if exc.logical_id else str(exc)}
    return {QUOTED.sub("…", reason)[:140] for reason in found}


def _fill(template: Path) -> dict[str, str]:
    declared = load_template(template).cfn.get("Parameters") or {}
    return {name: "census" for name, spec in declared.items() if not (isinstance(spec, dict) and "Default" in spec)}


def census(folder: Path, validate_only: bool, fill_parameters: bool) -> int:
    templates = sorted(p for pattern in ("template.yaml", "template.yml") for p in folder.rglob(pattern)
                       if ".aws-sam" not in p.parts and ".lambdalab" not in p.parts)
    outcomes: Counter[str] = Counter()
    reasons: Counter[str] = Counter()
    crashes: list[str] = []
    began = time.perf_counter()
    for template in templates:
        name = template.relative_to(folder)
        try:
            with contextlib.redirect_stderr(io.StringIO()):
                overrides = _fill(template) if fill_parameters else None
                if validate_only:
                    build_model(load_template(template), parameter_overrides=overrides)
                else:
                    LocalCloud.start(template, parameter_overrides=overrides).close()
            outcomes["started" if not validate_only else "valid"] += 1
        except ConfigurationError as exc:
            outcomes["refused"] += 1
            reasons.update(_reasons(exc))
        except Exception as exc:  # noqa: BLE001 - a crash is what the census is for
            outcomes["crashed"] += 1
            where = traceback.extract_tb(exc.__traceback__)[-1]
            crashes.append(f"{name}: {type(exc).__name__}: {exc} ({Path(where.filename).name}:{where.lineno})")
    total = len(templates)
    print(f"{total} templates in {time.perf_counter() - began:.1f} s")
    for outcome, count in outcomes.most_common():
        print(f"  {outcome:8} {count:4}  {100 * count / max(total, 1):.0f} %")
    if reasons:
        print("\nReasons for refusing (templates):")
        for reason, count in reasons.most_common():
            print(f"  {count:4}  {reason}")
    if crashes:
        print("\nCrashes:")
        for line in crashes:
            print(f"  {line}")
    return 1 if crashes else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("folder", type=Path)
    parser.add_argument("--validate-only", action="store_true", help="check without starting anything")
    parser.add_argument("--fill-parameters", action="store_true", help="give parameters without a Default a value")
    args = parser.parse_args(argv)
    return census(args.folder, args.validate_only, args.fill_parameters)


if __name__ == "__main__":
    sys.exit(main())
