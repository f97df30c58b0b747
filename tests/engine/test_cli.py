"""The command line a person uses: up (real time), invoke, logs, template check."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import boto3
import pytest

from tests.engine.apps import function, write_app

ROOT = Path(__file__).resolve().parents[2]


def lambdalab(*args: str, cwd: Path = ROOT, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "lambdalab.cli", *args], cwd=cwd, capture_output=True,
                          text=True, timeout=120, **kwargs)


def test_invoke_prints_the_payload_and_the_log_tail():
    """`invoke` prints the payload on stdout and the log tail on stderr, the tail being what
    X-Amz-Log-Result carries [INV] (design: the command line)."""
    event = ROOT / ".lambdalab" / "test-event.json"
    event.parent.mkdir(exist_ok=True)
    event.write_text(json.dumps({"name": "CLI"}))
    done = lambdalab("invoke", "HelloFunction", "--event", str(event))
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["message"] == "Hello, CLI!"
    assert "START RequestId:" in done.stderr and "greeting CLI" in done.stderr


def test_invoke_of_a_failing_function_exits_non_zero_and_shows_the_error(tmp_path):
    """A function error exits 1 and shows FunctionError: Unhandled with the error body [PYERR]
    (design: the command line)."""
    event = tmp_path / "event.json"
    event.write_text(json.dumps({"action": "raise", "name": "x"}))
    done = lambdalab("invoke", "HelloFunction", "--event", str(event))
    assert done.returncode == 1
    assert "FunctionError: Unhandled" in done.stderr
    assert json.loads(done.stdout)["errorType"] == "ValueError"


@pytest.mark.parametrize(("content", "words"), [
    (None, "event file not found"),
    ("{not json", "is not valid JSON"),
])
def test_invoke_with_a_missing_or_malformed_event_file_is_a_one_line_error(tmp_path, content, words):
    """A person's typo in --event is one line on stderr and exit 2, like every other refusal of the
    command line, never a traceback (design: the command line)."""
    event = tmp_path / "event.json"
    if content is not None:
        event.write_text(content)
    done = lambdalab("invoke", "HelloFunction", "--event", str(event))
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1 and done.stderr.startswith("lambdalab: ")
    assert words in done.stderr and str(event) in done.stderr
    assert done.stdout == ""


def test_template_check_passes_the_course_template_and_names_a_broken_one(tmp_path):
    """`template check` reports what cfn-lint or the engine would refuse, naming the property
    (design: refuse, never ignore)."""
    assert lambdalab("template", "check").returncode == 0
    broken = tmp_path / "template.yaml"
    broken.write_text("Resources:\n  Q:\n    Type: AWS::SQS::Queue\n    Properties: {VisibilityTimeout: many}\n")
    done = lambdalab("template", "check", str(broken))
    assert done.returncode == 1
    assert "VisibilityTimeout" in done.stdout


def test_up_serves_the_template_in_real_time_until_interrupted():
    """`lambdalab up` prints every endpoint; plain boto3 reaches the functions; Ctrl-C stops it
    (design: the real clock serves `lambdalab up`)."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    up = subprocess.Popen([sys.executable, "-m", "lambdalab.cli", "up"], cwd=ROOT, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True, env=env)
    try:
        assert up.stdout is not None
        seen: list[str] = []
        for line in up.stdout:
            seen.append(line)
            if "ready" in line:
                break
        text = "".join(seen)
        assert "HelloFunction" in text and "ServerlessRestApi" in text and "OrdersTable" in text, text
        endpoint = next(line.split("=", 1)[1].strip() for line in seen if "AWS_ENDPOINT_URL_LAMBDA=" in line)
        lam = boto3.client("lambda", endpoint_url=endpoint, region_name="us-east-1",
                           aws_access_key_id="testing", aws_secret_access_key="testing")
        reply = lam.invoke(FunctionName="HelloFunction", Payload=json.dumps({"name": "up"}))
        assert json.loads(reply["Payload"].read())["message"] == "Hello, up!"
        logs = lambdalab("logs", "HelloFunction")
        assert "greeting up" in logs.stdout
    finally:
        up.send_signal(signal.SIGINT)
        rest, _ = up.communicate(timeout=60)
    assert up.returncode == 0
    assert "stopped" in rest


def test_up_starts_each_sessions_log_files_fresh(tmp_path):
    """`lambdalab logs` reads what `up` writes; a previous session's lines must not pass for this
    session's, so `up` clears .lambdalab/logs/*.log when it starts (design: the command line)."""
    template = write_app(tmp_path, function("Fn"), {"app.py": "def handler(event, context):\n    print('fresh')\n"})
    logs = tmp_path / ".lambdalab" / "logs"
    logs.mkdir(parents=True)
    (logs / "Fn.log").write_text("stale line of an earlier session\n")
    (logs / "Gone.log").write_text("stale line of a function since removed\n")
    (logs / "notes.txt").write_text("not a log file\n")
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    up = subprocess.Popen([sys.executable, "-m", "lambdalab.cli", "--template", str(template), "up"], cwd=ROOT,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    try:
        assert up.stdout is not None
        seen = []
        for line in up.stdout:
            seen.append(line)
            if "ready" in line:
                break
        assert sorted(p.name for p in logs.iterdir()) == ["notes.txt"], "".join(seen)
        endpoint = next(line.split("=", 1)[1].strip() for line in seen if "AWS_ENDPOINT_URL_LAMBDA=" in line)
        lam = boto3.client("lambda", endpoint_url=endpoint, region_name="us-east-1",
                           aws_access_key_id="testing", aws_secret_access_key="testing")
        lam.invoke(FunctionName="Fn", Payload=b"{}")
        shown = lambdalab("--template", str(template), "logs", "Fn").stdout
        assert "fresh" in shown and "stale" not in shown
    finally:
        up.send_signal(signal.SIGINT)
        up.communicate(timeout=60)
    assert up.returncode == 0


def test_invoke_and_logs_reach_the_running_up_and_name_unknown_functions(tmp_path):
    """While `up` runs, `invoke` goes through its Lambda API (no cloud of its own) and says so;
    `logs` of a function the cloud lacks names those it has; the log stream carries today's date
    on the real clock; SIGTERM stops `up` without a traceback and removes its record."""
    import time

    template = write_app(tmp_path, function("Fn"), {"app.py": "def handler(event, context):\n"
                                                              "    print('ran', event['n'])\n    return event['n']\n"})
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    up = subprocess.Popen([sys.executable, "-m", "lambdalab.cli", "--template", str(template), "up"], cwd=ROOT,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    try:
        assert up.stdout is not None
        seen = []
        for line in up.stdout:
            seen.append(line)
            if "ready" in line:
                break
        invoked = lambdalab("--template", str(template), "invoke", "Fn", "--event", str(write_event(tmp_path)))
        assert invoked.returncode == 0 and invoked.stdout.strip() == "7", invoked.stderr
        assert f"on the running `lambdalab up` (pid {up.pid})" in invoked.stderr and "ran 7" in invoked.stderr
        shown = lambdalab("--template", str(template), "logs", "Fn").stdout
        assert "ran 7" in shown and time.strftime("%Y/%m/%d", time.gmtime()) in shown
        unknown = lambdalab("--template", str(template), "logs", "Nope")
        assert unknown.returncode == 2 and unknown.stderr.strip() == (
            "lambdalab: no function Nope in the running cloud; its functions: Fn")
    finally:
        up.send_signal(signal.SIGTERM)
        rest, _ = up.communicate(timeout=60)
    assert up.returncode == 0 and "Traceback" not in rest and "stopped" in rest
    assert not (tmp_path / ".lambdalab" / "up.json").exists()
    after = lambdalab("--template", str(template), "logs", "Other")
    assert after.returncode == 1 and "`lambdalab up` is not running here" in after.stderr


def write_event(folder: Path) -> Path:
    path = folder / "event.json"
    path.write_text(json.dumps({"n": 7}))
    return path
