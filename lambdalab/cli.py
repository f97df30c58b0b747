"""The engine on the command line: ``up``, ``invoke``, ``logs``, ``template check``.

The course adds its own commands (``grade``, ``labs``, ``up --jupyter``) in ``lambdalab_course.cli``
through ``parser(extend=...)`` and ``cmd_up``'s ``companion``; the engine knows nothing of them.
"""

from __future__ import annotations

import argparse
import json
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from lambdalab import running
from lambdalab.errors import AwsApiError, LambdaLabError

# Starts a process beside a running cloud (given the cloud); None when there is nothing to start.
Companion = Callable[[Any], "subprocess.Popen[bytes] | None"]


def _project_root(template: Path) -> Path:
    return template.resolve().parent


def cmd_up(args: argparse.Namespace, companion: Companion | None = None) -> int:
    """Run a real-time cloud until Ctrl-C; ``companion`` starts a process beside it (e.g. JupyterLab),
    which is stopped with the cloud, and whose exit stops the cloud too."""
    from lambdalab.cloud import LocalCloud  # lazy: `logs` and `--help` start without the engine (~0.1 s)

    template = Path(args.template)
    print(f"lambdalab: starting a local cloud from {template} (real-time clock) ...", flush=True)
    began = time.perf_counter()
    log_dir = _project_root(template) / ".lambdalab" / "logs"
    for stale in log_dir.glob("*.log"):  # each session starts its log files fresh
        stale.unlink()
    cloud = LocalCloud.start(template, clock="real", quiet=False, log_dir=log_dir,
                             parameter_overrides=_parameter_overrides(args))
    print(f"lambdalab: up in {time.perf_counter() - began:.1f} s\n", flush=True)
    print(describe(cloud), flush=True)
    project = _project_root(template)
    running.write(project, cloud.client_environment(), [fn.FunctionName for fn in cloud.service.functions()])
    stop = threading.Event()
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    if hasattr(signal, "SIGHUP"):  # the terminal closed: stop JupyterLab and the functions too
        signal.signal(signal.SIGHUP, lambda *_: stop.set())
    companion_process = companion(cloud) if companion is not None else None
    print("\nlambdalab: ready. Ctrl-C to stop.", flush=True)
    try:
        while not stop.is_set():
            if companion_process is not None and companion_process.poll() is not None:
                break
            stop.wait(0.5)
    finally:
        print("\nlambdalab: shutting down ...", flush=True)
        if companion_process is not None and companion_process.poll() is None:
            companion_process.terminate()  # Jupyter, for one, shuts its kernels down on SIGTERM
            try:
                companion_process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                companion_process.kill()
        running.remove(project)
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
    from lambdalab.cloud import LocalCloud  # lazy: `logs` and `--help` start without the engine (~0.1 s)

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
    up = running.read(_project_root(Path(args.template)))
    if up is not None:
        return _invoke_running(up, args.function, event)
    print("lambdalab: no `lambdalab up` is running here: invoking on a cloud started for this call", file=sys.stderr)
    with LocalCloud.start(args.template, parameter_overrides=_parameter_overrides(args)) as cloud:
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


def _invoke_running(up: dict[str, Any], function: str, event: Any) -> int:
    """Invoke through the running cloud's Lambda API, as any boto3 caller would."""
    import base64

    import boto3
    from botocore.exceptions import BotoCoreError, ClientError

    env = up["environment"]
    print(f"lambdalab: invoking {function} on the running `lambdalab up` (pid {up['pid']})", file=sys.stderr)
    client = boto3.client("lambda", endpoint_url=env["AWS_ENDPOINT_URL_LAMBDA"],
                          region_name=env["AWS_DEFAULT_REGION"], aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
                          aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"],
                          aws_session_token=env["AWS_SESSION_TOKEN"])
    try:
        reply = client.invoke(FunctionName=function, Payload=json.dumps(event).encode(), LogType="Tail")
    except ClientError as exc:
        error = exc.response.get("Error", {})
        print(f"{error.get('Code')}: {error.get('Message')}", file=sys.stderr)
        return 1
    except BotoCoreError as exc:
        print(f"lambdalab: cannot reach the running `lambdalab up`: {exc}", file=sys.stderr)
        return 1
    if reply.get("LogResult"):
        print(base64.b64decode(reply["LogResult"]).decode(errors="replace").rstrip(), file=sys.stderr)
    if reply.get("FunctionError"):
        print(f"FunctionError: {reply['FunctionError']}", file=sys.stderr)
    print(reply["Payload"].read().decode(errors="replace"))
    return 1 if reply.get("FunctionError") else 0


def cmd_logs(args: argparse.Namespace) -> int:
    project = _project_root(Path(args.template))
    path = project / ".lambdalab" / "logs" / f"{args.function}.log"
    up = running.read(project)
    if up is not None and args.function not in up["functions"]:
        print(f"lambdalab: no function {args.function} in the running cloud; its functions: "
              f"{', '.join(up['functions'])}", file=sys.stderr)
        return 2
    if not path.exists() and not args.follow:
        why = ("it has not run since `lambdalab up` started" if up is not None
               else "`lambdalab up` is not running here; logs are written while it runs")
        print(f"no logs for {args.function} yet ({why})", file=sys.stderr)
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
    from lambdalab.template.check import check_template  # lazy: cfn-lint takes ~0.4 s to import

    findings = check_template(Path(args.template), _parameter_overrides(args))
    for finding in findings:
        print(finding)
    errors = sum(f.is_error for f in findings)
    print(f"{errors} error(s), {len(findings) - errors} warning(s)" if findings else "no findings")
    return 1 if errors else 0  # warnings are advice: they do not fail the check


def _parameter_overrides(args: argparse.Namespace) -> dict[str, str]:
    from lambdalab.template.parameters import parse_overrides  # lazy: `logs` and `--help` need no engine

    return parse_overrides(getattr(args, "parameter_overrides", None) or [])


def _with_parameter_overrides(command: argparse.ArgumentParser) -> argparse.ArgumentParser:
    command.add_argument("--parameter-overrides", nargs="+", metavar="KEY=VALUE", default=[],
                         help="values for the template's parameters, as `sam local` takes them")
    return command


def parser(extend: Callable[[Any], None] | None = None) -> argparse.ArgumentParser:
    """The engine's commands; ``extend`` gets the subparsers to add more (the course's)."""
    p = argparse.ArgumentParser(prog="lambdalab", description="AWS Lambda's invocation models, locally.")
    p.add_argument("--template", default="template.yaml", help="SAM template (default: template.yaml)")
    sub = p.add_subparsers(dest="command", required=True)
    up = _with_parameter_overrides(
        sub.add_parser("up", help="run the local cloud in real time and print its endpoints"))
    up.set_defaults(run=cmd_up)
    inv = _with_parameter_overrides(
        sub.add_parser("invoke", help="invoke a function once and print its payload and log tail"))
    inv.add_argument("function")
    inv.add_argument("--event", help="JSON file with the event")
    inv.set_defaults(run=cmd_invoke)
    logs = sub.add_parser("logs", help="print a function's logs from the running `lambdalab up`")
    logs.add_argument("function")
    logs.add_argument("--tail", type=int, default=0, help="only the last N lines")
    logs.add_argument("--follow", "-f", action="store_true")
    logs.set_defaults(run=cmd_logs)
    tpl = _with_parameter_overrides(sub.add_parser("template", help="check a template offline"))
    tpl.add_argument("action", choices=("check",))
    tpl.add_argument("file", nargs="?", help="template file (default: --template)")
    tpl.set_defaults(run=cmd_template_check)
    if extend is not None:
        extend(sub)
    return p


def main(argv: list[str] | None = None, extend: Callable[[Any], None] | None = None) -> int:
    args = parser(extend).parse_args(argv)
    if getattr(args, "file", None):
        args.template = args.file
    try:
        return int(args.run(args))
    except LambdaLabError as exc:
        print(f"lambdalab: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
