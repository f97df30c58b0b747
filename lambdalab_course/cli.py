"""``lambdalab`` for the course: the engine's commands plus ``grade``, ``grade-class``, ``labs`` and
``up --jupyter``."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path
from typing import Any
from unittest import mock

from lambdalab import cli as engine_cli
from lambdalab_course import cli_labs
from lambdalab_course.targets import CLOUD_VARIABLE, STACK_VARIABLE


def _project_root(args: argparse.Namespace) -> Path:
    return Path(args.template).resolve().parent


def jupyter_beside(args: argparse.Namespace) -> engine_cli.Companion:
    """JupyterLab on the course's notebooks/, its environment pointed at the running cloud."""

    def start(cloud: Any) -> subprocess.Popen[bytes]:
        env = {**os.environ, **cloud.client_environment()}
        root = _project_root(args)
        cmd = [sys.executable, "-m", "jupyterlab", "--notebook-dir", str(root / "notebooks"), "--ip", "127.0.0.1"]
        if args.no_browser:
            cmd.append("--no-browser")
        if hasattr(os, "geteuid") and os.geteuid() == 0:
            cmd.append("--allow-root")  # containers and CI machines often run as root
        print("lambdalab: opening JupyterLab on notebooks/ (Ctrl-C stops both) ...", flush=True)
        # Its own session: a terminal's Ctrl-C reaches only lambdalab, which then stops Jupyter cleanly.
        return subprocess.Popen(cmd, env=env, cwd=root, start_new_session=True)

    return start


def cmd_up(args: argparse.Namespace) -> int:
    return engine_cli.cmd_up(args, jupyter_beside(args) if args.jupyter else None)


def cmd_labs(args: argparse.Namespace) -> int:
    if args.action == "verify-mutants":
        return int(cli_labs.cmd_labs_verify_mutants(_project_root(args), args.labs, args.jobs))
    if args.labs:
        print(f"lambdalab: labs {args.action} takes no lab names", file=sys.stderr)
        return 2
    action = {"build": cli_labs.cmd_labs_build, "check": cli_labs.cmd_labs_check,
              "verify-starters": cli_labs.cmd_labs_verify_starters,
              "run-notebooks": cli_labs.cmd_labs_run_notebooks}[args.action]
    return int(action(_project_root(args)))


def cmd_grade(args: argparse.Namespace) -> int:
    if args.labs_from:
        if args.target != "labs" or args.cloud == "aws":
            print("lambdalab: --labs-from grades a learner's labs/ on the local cloud", file=sys.stderr)
            return 2
        return int(cli_labs.cmd_grade_labs_from(_project_root(args), args.lab, Path(args.labs_from)))
    cloud = args.cloud or os.environ.get(CLOUD_VARIABLE) or "local"
    stack = args.stack or os.environ.get(STACK_VARIABLE)
    if cloud == "aws" and not stack:
        print("lambdalab: --cloud aws needs --stack NAME, the deployed stack to grade", file=sys.stderr)
        return 2
    # The checks run in a pytest process of their own, which reads the cloud from its environment.
    with mock.patch.dict(os.environ):  # put back as it was after grading
        os.environ[CLOUD_VARIABLE] = cloud
        if cloud == "aws" and stack:
            os.environ[STACK_VARIABLE] = stack
        else:
            os.environ.pop(STACK_VARIABLE, None)
        return int(cli_labs.cmd_grade(_project_root(args), args.lab, args.target, args.verbose))


def cmd_grade_class(args: argparse.Namespace) -> int:
    root = _project_root(args)
    cache = Path(args.cache) if args.cache else root / ".lambdalab" / "clones"
    step = "fetch" if args.fetch_only else "grade-cached" if args.cached else "fetch-and-grade"
    return int(cli_labs.cmd_grade_class(root, Path(args.roster), args.lab, Path(args.out), cache, args.jobs,
                                        args.time_limit, step))


def add_course_commands(sub: Any) -> None:
    up = sub.choices["up"]
    up.add_argument("--jupyter", action="store_true", help="also open JupyterLab on notebooks/")
    up.add_argument("--no-browser", action="store_true", help="with --jupyter: do not open a browser")
    up.set_defaults(run=cmd_up)
    grade = sub.add_parser("grade", help="run the graded checks and print the grade table")
    grade.add_argument("lab", nargs="?", help="e.g. 01_request_response (default: all)")
    grade.add_argument("--target", choices=("labs", "solutions"), default="labs")
    grade.add_argument("-v", "--verbose", action="store_true",
                       help="after each failed check, the log lines of the functions that failed while it ran")
    grade.add_argument("--cloud", choices=("local", "aws"), default=None,
                       help="grade on the local cloud (default) or a deployed stack, whose resources are read "
                            "with your AWS credentials and region; local-only checks earn no points there")
    grade.add_argument("--stack", metavar="NAME", help="with --cloud aws: the CloudFormation stack to grade")
    grade.add_argument("--labs-from", metavar="PATH",
                       help="grade only the labs/ of a learner's clone (or .zip / .tar.gz of one) with this kit's "
                            "checks, hidden ones included; the learner's other files are listed, never run")
    grade.set_defaults(run=cmd_grade)
    grade_class = sub.add_parser("grade-class", help="clone and grade every learner of a roster; write the gradebook")
    grade_class.add_argument("roster", help="CSV of `learner id, repository URL or path` (paths from its folder)")
    grade_class.add_argument("--lab", help="grade one lab, e.g. 02_async (default: all)")
    grade_class.add_argument("--out", default="gradebook", metavar="DIR",
                             help="where gradebook.csv/.json/.html and reports/ go (default: gradebook)")
    grade_class.add_argument("--cache", metavar="DIR",
                             help="where the clones are kept between runs (default: .lambdalab/clones in the course)")
    grade_class.add_argument("--jobs", type=int, default=None, help="learners graded at once (default: one per core)")
    grade_class.add_argument("--time-limit", type=float, default=cli_labs.DEFAULT_TIME_LIMIT_S, metavar="S",
                             help="seconds for one learner's clone and grading (default: %(default)g)")
    steps = grade_class.add_mutually_exclusive_group()
    steps.add_argument("--fetch-only", action="store_true",
                       help="only clone or update every repository in the cache (the step that needs credentials)")
    steps.add_argument("--cached", action="store_true",
                       help="grade the clones in the cache as they are, fetching nothing (a step without credentials)")
    grade_class.set_defaults(run=cmd_grade_class)
    labs = sub.add_parser("labs", help="build or check labs/ from solutions/; prove the checks with mutants")
    labs.add_argument("action", choices=("build", "check", "verify-starters", "verify-mutants", "run-notebooks"),
                      help="verify-mutants: grade every mutant (must lose points) and alternative (must keep "
                           "full marks) of the solutions; run-notebooks: run every notebook on the untouched "
                           "starters, which must reach the last cell without an error")
    labs.add_argument("labs", nargs="*", metavar="LAB", help="with verify-mutants: only these labs (default: all)")
    labs.add_argument("--jobs", type=int, default=1, help="with verify-mutants: variants graded at once (default: 1)")
    labs.set_defaults(run=cmd_labs)


def parser() -> argparse.ArgumentParser:
    return engine_cli.parser(add_course_commands)


def main(argv: list[str] | None = None) -> int:
    return engine_cli.main(argv, add_course_commands)


if __name__ == "__main__":
    sys.exit(main())
