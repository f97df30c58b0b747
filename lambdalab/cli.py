"""``lambdalab`` on the command line: up, invoke, logs, grade, labs, template check."""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

from lambdalab.errors import AwsApiError, LambdaLabError


def _project_root(template: Path) -> Path:
    return template.resolve().parent


def cmd_up(args: argparse.Namespace) -> int:
    from lambdalab.cloud import LocalCloud

    template = Path(args.template)
    print(f"lambdalab: starting a local cloud from {template} (real-time clock) ...", flush=True)
    began = time.perf_counter()
    log_dir = _project_root(template) / ".lambdalab" / "logs"
    for stale in log_dir.glob("*.log"):  # each session starts its log files fresh
        stale.unlink()
    cloud = LocalCloud.start(template, clock="real", quiet=False, log_dir=log_dir)
    print(f"lambdalab: up in {time.perf_counter() - began:.1f} s\n", flush=True)
    print(describe(cloud), flush=True)
    stop = threading.Event()
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    jupyter = None
    if args.jupyter:
        env = {**os.environ, **cloud.client_environment()}
        root = _project_root(template)
        cmd = [sys.executable, "-m", "jupyterlab", "--notebook-dir", str(root / "notebooks"), "--ip", "127.0.0.1"]
        if args.no_browser:
            cmd.append("--no-browser")
        if hasattr(os, "geteuid") and os.geteuid() == 0:
            cmd.append("--allow-root")  # containers and CI machines often run as root
        print("lambdalab: opening JupyterLab on notebooks/ (Ctrl-C stops both) ...", flush=True)
        # Its own session: a terminal's Ctrl-C reaches only lambdalab, which then stops Jupyter cleanly.
        jupyter = subprocess.Popen(cmd, env=env, cwd=root, start_new_session=True)
    print("\nlambdalab: ready. Ctrl-C to stop.", flush=True)
    try:
        while not stop.is_set():
            if jupyter is not None and jupyter.poll() is not None:
                break
            stop.wait(0.5)
    finally:
        print("\nlambdalab: shutting down ...", flush=True)
        if jupyter is not None and jupyter.poll() is None:
            jupyter.terminate()  # Jupyter shuts its kernels down on SIGTERM
            try:
                jupyter.wait(timeout=10)
            except subprocess.TimeoutExpired:
                jupyter.kill()
        cloud.close()
        print("lambdalab: stopped.", flush=True)
    return 0


DATA_PLANE_PREFIXES = ("AWS::S3", "AWS::SQS::Queue", "AWS::SNS::Topic", "AWS::Kinesis", "AWS::DynamoDB", "AWS::SSM")


def describe(cloud: Any) -> str:
    """Every endpoint, function, API and resource of a cloud, for people."""
    lines = ["Endpoints (set for you in notebooks started by `lambdalab up --jupyter`):"]
    lines += [f"  {k}={v}" for k, v in cloud.endpoints().items()]
    lines.append("Functions:")
    for fn in cloud.service.functions():
        reserved = cloud.concurrency.reserved(fn.FunctionName)
        extra = f", reserved concurrency {reserved}" if reserved is not None else ""
        lines.append(f"  {fn.FunctionName:28} {fn.Handler} ({fn.Runtime}, {fn.Timeout} s, {fn.MemorySize} MB{extra})")
    if cloud.api_gateways:
        lines.append("APIs:")
        for lid, server in cloud.api_gateways.items():
            lines.append(f"  {lid:28} {server.url}")
    lines.append("Resources:")
    for lid, attrs in cloud.model.attrs.items():
        kind = cloud.model.resources[lid]["Type"]
        if kind.startswith(DATA_PLANE_PREFIXES):
            lines.append(f"  {lid:28} {kind:24} {attrs.get('Ref')}")
    return "\n".join(lines)


def cmd_invoke(args: argparse.Namespace) -> int:
    from lambdalab.cloud import LocalCloud

    event: Any = {}
    if args.event:
        # A missing or malformed event file is the person's typo: one line, not a traceback.
        try:
            event = json.loads(Path(args.event).read_text())
        except FileNotFoundError:
            print(f"lambdalab: event file not found: {args.event}", file=sys.stderr)
            return 2
        except OSError as exc:
            print(f"lambdalab: cannot read event file {args.event}: {exc.strerror}", file=sys.stderr)
            return 2
        except ValueError as exc:  # JSONDecodeError, or bytes that are not UTF-8
            print(f"lambdalab: event file {args.event} is not valid JSON: {exc}", file=sys.stderr)
            return 2
    with LocalCloud.start(args.template) as cloud:
        try:
            result = cloud.invoke(args.function, event, log_type="Tail")
        except AwsApiError as exc:
            print(f"{exc.code}: {exc.message}", file=sys.stderr)
            return 1
        cloud.run_until_idle()
    print(result.log_tail.rstrip(), file=sys.stderr)
    if result.function_error:
        print(f"FunctionError: {result.function_error}", file=sys.stderr)
    print(result.payload.decode(errors="replace"))
    return 1 if result.function_error else 0


def cmd_logs(args: argparse.Namespace) -> int:
    path = _project_root(Path(args.template)) / ".lambdalab" / "logs" / f"{args.function}.log"
    if not path.exists() and not args.follow:
        print(f"no logs for {args.function} yet (they are written while `lambdalab up` runs): {path}",
              file=sys.stderr)
        return 1
    seen = 0
    while True:
        if path.exists():
            lines = path.read_text(errors="replace").splitlines()
            start = max(seen, len(lines) - args.tail) if seen == 0 and args.tail else seen
            for line in lines[start:]:
                print(line, flush=True)
            seen = len(lines)
        if not args.follow:
            return 0
        time.sleep(0.5)


def cmd_template_check(args: argparse.Namespace) -> int:
    from lambdalab.template.check import check_template

    findings = check_template(Path(args.template))
    for finding in findings:
        print(finding)
    errors = sum(f.is_error for f in findings)
    print(f"{errors} error(s), {len(findings) - errors} warning(s)" if findings else "no findings")
    return 1 if errors else 0  # warnings are advice: they do not fail the check


def cmd_labs(args: argparse.Namespace) -> int:
    from lambdalab import cli_labs

    root = _project_root(Path(args.template))
    action = {"build": cli_labs.cmd_labs_build, "check": cli_labs.cmd_labs_check,
              "verify-starters": cli_labs.cmd_labs_verify_starters}[args.action]
    return int(action(root))


def cmd_grade(args: argparse.Namespace) -> int:
    from lambdalab import cli_labs
    from lambdalab.environ import environ
    from lambdalab.grading import CLOUD_VARIABLE, STACK_VARIABLE

    cloud = args.cloud or os.environ.get(CLOUD_VARIABLE) or "local"
    stack = args.stack or os.environ.get(STACK_VARIABLE)
    if cloud == "aws" and not stack:
        print("lambdalab: --cloud aws needs --stack NAME, the deployed stack to grade", file=sys.stderr)
        return 2
    # The checks run in a pytest process of their own, which reads the cloud from its environment.
    with environ({CLOUD_VARIABLE: cloud, STACK_VARIABLE: stack if cloud == "aws" else None}):
        return int(cli_labs.cmd_grade(_project_root(Path(args.template)), args.lab, args.target))


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="lambdalab", description="AWS Lambda's invocation models, locally.")
    p.add_argument("--template", default="template.yaml", help="SAM template (default: template.yaml)")
    sub = p.add_subparsers(dest="command", required=True)
    up = sub.add_parser("up", help="run the local cloud in real time and print its endpoints")
    up.add_argument("--jupyter", action="store_true", help="also open JupyterLab on notebooks/")
    up.add_argument("--no-browser", action="store_true", help="with --jupyter: do not open a browser")
    up.set_defaults(run=cmd_up)
    inv = sub.add_parser("invoke", help="invoke a function once and print its payload and log tail")
    inv.add_argument("function")
    inv.add_argument("--event", help="JSON file with the event")
    inv.set_defaults(run=cmd_invoke)
    logs = sub.add_parser("logs", help="print a function's logs from the running `lambdalab up`")
    logs.add_argument("function")
    logs.add_argument("--tail", type=int, default=0, help="only the last N lines")
    logs.add_argument("--follow", "-f", action="store_true")
    logs.set_defaults(run=cmd_logs)
    grade = sub.add_parser("grade", help="run the graded checks and print the grade table")
    grade.add_argument("lab", nargs="?", help="e.g. 01_request_response (default: all)")
    grade.add_argument("--target", choices=("labs", "solutions"), default="labs")
    grade.add_argument("--cloud", choices=("local", "aws"), default=None,
                       help="grade on the local cloud (default) or a deployed stack, whose resources are read "
                            "with your AWS credentials and region; local-only checks earn no points there")
    grade.add_argument("--stack", metavar="NAME", help="with --cloud aws: the CloudFormation stack to grade")
    grade.set_defaults(run=cmd_grade)
    labs = sub.add_parser("labs", help="build or check labs/ from solutions/")
    labs.add_argument("action", choices=("build", "check", "verify-starters"))
    labs.set_defaults(run=cmd_labs)
    tpl = sub.add_parser("template", help="check a template offline")
    tpl.add_argument("action", choices=("check",))
    tpl.add_argument("file", nargs="?", help="template file (default: --template)")
    tpl.set_defaults(run=cmd_template_check)
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    if getattr(args, "file", None):
        args.template = args.file
    try:
        return int(args.run(args))
    except LambdaLabError as exc:
        print(f"lambdalab: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
