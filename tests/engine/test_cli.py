"""The command line a person uses: up (real time), invoke, logs, template check."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import boto3

ROOT = Path(__file__).resolve().parents[2]


def lambdalab(*args: str, cwd: Path = ROOT, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "lambdalab.cli", *args], cwd=cwd, capture_output=True,
                          text=True, timeout=120, **kwargs)


def test_invoke_prints_the_payload_and_the_log_tail():
    event = ROOT / ".lambdalab" / "test-event.json"
    event.parent.mkdir(exist_ok=True)
    event.write_text(json.dumps({"name": "CLI"}))
    done = lambdalab("invoke", "HelloFunction", "--event", str(event))
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["message"] == "Hello, CLI!"
    assert "START RequestId:" in done.stderr and "greeting CLI" in done.stderr


def test_invoke_of_a_failing_function_exits_non_zero_and_shows_the_error(tmp_path):
    event = tmp_path / "event.json"
    event.write_text(json.dumps({"action": "raise", "name": "x"}))
    done = lambdalab("invoke", "HelloFunction", "--event", str(event))
    assert done.returncode == 1
    assert "FunctionError: Unhandled" in done.stderr
    assert json.loads(done.stdout)["errorType"] == "ValueError"


def test_template_check_passes_the_course_template_and_names_a_broken_one(tmp_path):
    assert lambdalab("template", "check").returncode == 0
    broken = tmp_path / "template.yaml"
    broken.write_text("Resources:\n  Q:\n    Type: AWS::SQS::Queue\n    Properties: {VisibilityTimeout: many}\n")
    done = lambdalab("template", "check", str(broken))
    assert done.returncode == 1
    assert "VisibilityTimeout" in done.stdout


def test_up_serves_the_template_in_real_time_until_interrupted():
    """`lambdalab up` prints every endpoint; plain boto3 reaches the functions; Ctrl-C stops it."""
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
