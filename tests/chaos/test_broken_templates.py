"""Broken templates, generated: each is refused in ONE line naming what is wrong, never a traceback.

Wrong types, missing required properties, values outside their enum, misspelt names, JSON text that
is not JSON (or not the right JSON), intrinsics that cannot be resolved, SAM transform refusals,
event-source refusals and files that are not UTF-8. Each one:

* started in-process with ``LocalCloud.start`` raises ``ConfigurationError`` whose message is one
  line naming the resource and property as written (the file, line and byte offset for a file that
  is not UTF-8), and leaves no server thread or process behind;
* on the command line, ``lambdalab up`` prints that line (and nothing else) to stderr, and
  ``lambdalab template check`` one error finding (cfn-lint's findings of the same mistake left
  out); no "Traceback" anywhere, no process left. The commands run in one process for all the
  templates (a process each would cost about 2 s apiece), each case's file descriptors captured on
  their own.

Prints the clear-error ratios (must be 100%) and what they cost: about 30 s, most of it cfn-lint.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import psutil
import pytest

from lambdalab import ConfigurationError, LocalCloud

ROOT = Path(__file__).resolve().parents[2]
HEAD = 'AWSTemplateFormatVersion: "2010-09-09"\nTransform: AWS::Serverless-2016-10-31\nResources:\n'
FUNCTION = ("  Fn:\n    Type: AWS::Serverless::Function\n    Properties:\n      CodeUri: src/\n"
            "      Handler: app.handler\n      Runtime: python3.12\n")
TABLE = ("BillingMode: PAY_PER_REQUEST\nAttributeDefinitions: [{AttributeName: pk, AttributeType: S}]\n"
         "KeySchema: [{AttributeName: pk, KeyType: HASH}]\n")
DLQ_ARN = "arn:aws:sqs:us-east-1:123456789012:Dlq"


def resource(name: str, kind: str, properties: str = "", depends_on: str = "") -> str:
    text = f"  {name}:\n    Type: {kind}\n" + (f"    DependsOn: {depends_on}\n" if depends_on else "")
    if properties:
        text += "    Properties:\n" + textwrap.indent(textwrap.dedent(properties), "      ")
    return text


def sqs_event(properties: str) -> str:
    return (FUNCTION + "      Events:\n        Work:\n          Type: SQS\n          Properties:\n"
            f"            Queue: !GetAtt Jobs.Arn\n            {properties}\n" + resource("Jobs", "AWS::SQS::Queue"))


# (kind, name, the resources after the function, what the one line must name)
CASES: list[tuple[str, str, str, str]] = [
    ("wrong type", "shard_count_list", resource("Stream", "AWS::Kinesis::Stream", "ShardCount: [2]\n"),
     "Stream.ShardCount"),
    ("wrong type", "shard_count_fraction", resource("Stream", "AWS::Kinesis::Stream", "ShardCount: 1.5\n"),
     "Stream.ShardCount"),
    ("wrong type", "retention_boolean", resource("Stream", "AWS::Kinesis::Stream", "RetentionPeriodHours: true\n"),
     "Stream.RetentionPeriodHours"),
    ("wrong type", "fifo_queue_maybe", resource("Jobs", "AWS::SQS::Queue", "FifoQueue: maybe\n"), "Jobs.FifoQueue"),
    ("wrong type", "visibility_text", resource("Jobs", "AWS::SQS::Queue", "VisibilityTimeout: soon\n"),
     "Jobs.VisibilityTimeout"),
    ("wrong type", "delay_mapping", resource("Jobs", "AWS::SQS::Queue", "DelaySeconds: {seconds: 5}\n"),
     "Jobs.DelaySeconds"),
    ("wrong type", "tags_text", resource("Jobs", "AWS::SQS::Queue", "Tags: team-a\n"), "Jobs.Tags"),
    ("wrong type", "fifo_topic_perhaps", resource("Topic", "AWS::SNS::Topic", "FifoTopic: perhaps\n"),
     "Topic.FifoTopic"),
    ("wrong type", "versioning_text", resource("Bucket", "AWS::S3::Bucket", "VersioningConfiguration: Enabled\n"),
     "Bucket.VersioningConfiguration"),
    ("wrong type", "parameter_value_mapping", resource("Param", "AWS::SSM::Parameter", "Type: String\nValue: {a: b}\n"),
     "Param.Value"),
    ("wrong type", "timeout_text", "      Timeout: soon\n", "Fn.Timeout"),
    ("wrong type", "memory_mapping", "      MemorySize: {a: 1}\n", "Fn.MemorySize"),
    ("wrong type", "environment_value_mapping", "      Environment: {Variables: {CONFIG: {a: 1}}}\n",
     "Fn.Environment.Variables.CONFIG"),
    ("missing required", "table_without_key_schema", resource(
        "Table", "AWS::DynamoDB::Table", TABLE.replace("KeySchema: [{AttributeName: pk, KeyType: HASH}]\n", "")),
     "Table.KeySchema"),
    ("missing required", "parameter_without_value", resource("Param", "AWS::SSM::Parameter", "Type: String\n"),
     "Param.Value"),
    ("missing required", "attribute_without_type", resource(
        "Table", "AWS::DynamoDB::Table", TABLE.replace(", AttributeType: S", "")),
     "Table.AttributeDefinitions[0].AttributeType"),
    ("missing required", "tag_without_value", resource("Jobs", "AWS::SQS::Queue", "Tags: [{Key: team}]\n"),
     "Jobs.Tags[0].Value"),
    ("bad enum", "billing_free", resource("Table", "AWS::DynamoDB::Table", TABLE.replace("PAY_PER_REQUEST", "FREE")),
     "Table.BillingMode"),
    ("bad enum", "key_type_primary", resource("Table", "AWS::DynamoDB::Table", TABLE.replace("HASH", "PRIMARY")),
     "Table.KeySchema[0].KeyType"),
    ("bad enum", "versioning_on", resource("Bucket", "AWS::S3::Bucket", "VersioningConfiguration: {Status: On}\n"),
     "Bucket.VersioningConfiguration.Status"),
    ("bad enum", "stream_mode_fast",
     resource("Stream", "AWS::Kinesis::Stream", "StreamModeDetails: {StreamMode: FAST}\n"),
     "Stream.StreamModeDetails.StreamMode"),
    ("bad enum", "stream_view_all", resource("Table", "AWS::DynamoDB::Table",
                                             TABLE + "StreamSpecification: {StreamViewType: ALL}\n"),
     "Table.StreamSpecification.StreamViewType"),
    ("bad enum", "parameter_type_number", resource("Param", "AWS::SSM::Parameter", "Type: Number\nValue: '1'\n"),
     "Param.Type"),
    ("bad JSON text", "redrive_count_lots", resource("Dlq", "AWS::SQS::Queue") + resource(
        "Jobs", "AWS::SQS::Queue",
        f"RedrivePolicy: '{{\"deadLetterTargetArn\": \"{DLQ_ARN}\", \"maxReceiveCount\": \"lots\"}}'\n"),
     "Jobs.RedrivePolicy.maxReceiveCount"),
    ("bad JSON text", "redrive_not_json", resource("Jobs", "AWS::SQS::Queue", "RedrivePolicy: 'maxReceiveCount=3'\n"),
     "Jobs.RedrivePolicy"),
    ("bad JSON text", "redrive_list", resource("Jobs", "AWS::SQS::Queue", "RedrivePolicy: '[1, 2]'\n"),
     "Jobs.RedrivePolicy"),
    ("bad JSON text", "redrive_without_target", resource(
        "Jobs", "AWS::SQS::Queue", "RedrivePolicy: '{\"maxReceiveCount\": 3}'\n"),
     "Jobs.RedrivePolicy.deadLetterTargetArn"),
    ("bad JSON text", "redrive_count_zero", resource("Dlq", "AWS::SQS::Queue") + resource(
        "Jobs", "AWS::SQS::Queue", "RedrivePolicy: {deadLetterTargetArn: !GetAtt Dlq.Arn, maxReceiveCount: 0}\n"),
     "Jobs.RedrivePolicy.maxReceiveCount"),
    ("bad JSON text", "redrive_allow_broken", resource("Jobs", "AWS::SQS::Queue", "RedriveAllowPolicy: '{broken'\n"),
     "Jobs.RedriveAllowPolicy"),
    ("bad JSON text", "filter_pattern_not_json", sqs_event("FilterCriteria: {Filters: [{Pattern: 'not json'}]}"),
     "Fn.Events.Work.Properties.FilterCriteria.Filters[0].Pattern"),
    ("unknown property", "queue_misspelt", resource("Jobs", "AWS::SQS::Queue", "VisiblityTimeout: 30\n"),
     "Jobs.VisiblityTimeout"),
    ("unknown property", "nested_misspelt", resource(
        "Bucket", "AWS::S3::Bucket", "VersioningConfiguration: {Stauts: Enabled}\n"),
     "Bucket.VersioningConfiguration.Stauts"),
    ("unknown property", "function_misspelt", "      Timout: 3\n", "Fn.Timout"),
    ("unknown property", "event_batch_size_text", sqs_event("BatchSize: lots"), "Fn.Events.Work.Properties.BatchSize"),
    ("bad intrinsic", "ref_nowhere", "      Environment: {Variables: {TABLE: !Ref Nowhere}}\n",
     "Fn.Environment.Variables.TABLE"),
    ("bad intrinsic", "getatt_unknown_attribute", resource("Jobs", "AWS::SQS::Queue") + resource(
        "Param", "AWS::SSM::Parameter", "Type: String\nValue: !GetAtt Jobs.Nope\n"), "Param.Value"),
    ("bad intrinsic", "sub_nowhere", resource("Jobs", "AWS::SQS::Queue", "QueueName: !Sub '${Nowhere}-jobs'\n"),
     "Jobs.QueueName"),
    ("bad intrinsic", "getazs", resource("Jobs", "AWS::SQS::Queue", "QueueName: !Select [0, !GetAZs '']\n"),
     "Jobs.QueueName"),
    ("bad intrinsic", "select_past_the_end", resource("Jobs", "AWS::SQS::Queue", "QueueName: !Select [5, [a, b]]\n"),
     "Jobs.QueueName"),
    ("bad intrinsic", "join_without_list", resource("Jobs", "AWS::SQS::Queue", "QueueName: !Join ['-', jobs]\n"),
     "Jobs.QueueName"),
    ("bad intrinsic", "ref_to_a_list", resource("Jobs", "AWS::SQS::Queue", "QueueName: {Ref: [a]}\n"),
     "Jobs.QueueName"),
    ("bad intrinsic", "if_unknown_condition", resource("Jobs", "AWS::SQS::Queue", "QueueName: !If [Nope, a, b]\n"),
     "Jobs.QueueName"),
    ("bad intrinsic", "depends_on_nowhere", resource("Jobs", "AWS::SQS::Queue", depends_on="Nowhere"),
     "Jobs.DependsOn"),
    ("bad structure", "properties_list", "  Jobs:\n    Type: AWS::SQS::Queue\n    Properties: [1, 2]\n",
     "Jobs.Properties"),
    ("bad structure", "resource_without_type", "  Jobs:\n    Properties: {}\n", "Jobs.Type"),
]
# (kind, name, the file's bytes, what the one line must name)
NOT_UTF8: list[tuple[str, str, bytes, str]] = [
    ("not UTF-8", "latin1_byte", (HEAD + FUNCTION).encode() + b"      Description: caf\xe9\n",
     "template.yaml:10: not UTF-8 text: byte 0xe9 at offset 241"),
    ("not UTF-8", "utf16", (HEAD + FUNCTION).encode("utf-16"),
     "template.yaml:1: not UTF-8 text: byte 0xff at offset 0"),
]


@pytest.fixture(scope="module")
def broken(tmp_path_factory: pytest.TempPathFactory) -> list[tuple[str, str, Path, str]]:
    """(kind, name, template, what its refusal must name), one folder each."""
    root = tmp_path_factory.mktemp("broken")
    made = []
    for kind, name, text, place in CASES:
        folder = root / name
        (folder / "src").mkdir(parents=True)
        (folder / "src" / "app.py").write_text("def handler(event, context):\n    return event\n")
        # a case's text is the whole function (an SQS event), the function's further properties, or
        # resources after the function
        (folder / "template.yaml").write_text(HEAD + (text if text.startswith("  Fn:") else FUNCTION + text))
        made.append((kind, name, folder / "template.yaml", place))
    for kind, name, data, place in NOT_UTF8:
        (root / name).mkdir()
        (root / name / "template.yaml").write_bytes(data)
        made.append((kind, name, root / name / "template.yaml", place))
    return made


def test_the_set_has_thirty_broken_templates_of_every_kind(broken):
    kinds = {kind for kind, *_ in broken}
    assert len(broken) >= 30
    assert kinds >= {"wrong type", "missing required", "bad enum", "not UTF-8", "bad JSON text", "unknown property",
                     "bad intrinsic"}


def test_each_broken_template_started_in_process_is_one_line_naming_what_is_wrong(broken, capfd):
    threads = set(threading.enumerate())
    processes = {p.pid for p in psutil.Process().children(recursive=True)}  # other tests' in this worker
    began, cpu = time.perf_counter(), time.process_time()
    clear, unclear = 0, []
    for kind, name, template, place in broken:
        try:
            LocalCloud.start(template).close()
        except ConfigurationError as exc:
            message = str(exc)
            if "\n" not in message and message.startswith("template.yaml:") and (
                    f": {place}: " in message or message.startswith(place)):
                clear += 1
            else:
                unclear.append(f"{kind} {name}: {message!r} (wanted {place})")
        else:
            unclear.append(f"{kind} {name}: started")
    wall, cpu = time.perf_counter() - began, time.process_time() - cpu
    err = capfd.readouterr().err
    left = {t for t in set(threading.enumerate()) - threads if t.name.startswith("lambdalab-")}
    children = [p for p in psutil.Process().children(recursive=True) if p.pid not in processes]
    print(f"\nbroken templates started in-process: {len(broken)}, clear one-line refusals: {clear} "
          f"({100 * clear / len(broken):.0f}%), {wall:.1f} s wall, {cpu:.1f} s CPU")
    assert not unclear, "\n".join(unclear)
    assert clear == len(broken)
    assert "Traceback" not in err
    assert not left, left
    assert not children, children


DRIVER = r"""
import contextlib, json, os, sys, tempfile
import psutil
from lambdalab.cli import main

def run(argv):
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        sys.stdout.flush(); sys.stderr.flush()
        saved = os.dup(1), os.dup(2)
        os.dup2(out.fileno(), 1); os.dup2(err.fileno(), 2)
        try:
            code = main(argv)
        except BaseException as exc:  # noqa: BLE001  # reported, not raised: the next case still runs
            code = f"raised {type(exc).__name__}"
        finally:
            sys.stdout.flush(); sys.stderr.flush()
            os.dup2(saved[0], 1); os.dup2(saved[1], 2)
            os.close(saved[0]); os.close(saved[1])
        out.seek(0); err.seek(0)
        return code, out.read().decode(errors="replace"), err.read().decode(errors="replace")

for line in sys.stdin:
    case = json.loads(line)
    code, out, err = run(case["argv"])
    children = [p.pid for p in psutil.Process().children(recursive=True)]
    print(json.dumps({**case, "code": code, "out": out, "err": err, "children": children}), flush=True)
"""


def test_the_command_line_prints_one_line_for_each_and_leaves_nothing_running(broken):
    cases = [{"name": name, "place": place, "command": "up", "argv": ["--template", str(template), "up"]}
             for _, name, template, place in broken]
    cases += [{"name": name, "place": place, "command": "template check", "argv": ["template", "check", str(template)]}
              for _, name, template, place in broken]
    began = time.perf_counter()
    driver = subprocess.Popen([sys.executable, "-c", DRIVER], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True, cwd=ROOT, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    try:
        out, err = driver.communicate("".join(json.dumps(c) + "\n" for c in cases), timeout=300)
    finally:
        if driver.poll() is None:
            driver.kill()
    wall = time.perf_counter() - began
    results = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    assert len(results) == len(cases), err[-3000:]
    clear, unclear = 0, []
    for r in results:
        if r["command"] == "up":
            lines = r["err"].splitlines()
            good = r["code"] == 2 and len(lines) == 1 and lines[0].startswith("lambdalab: ") and r["place"] in lines[0]
        else:
            errors = [line.replace(": error: ", ": ") for line in r["out"].splitlines() if ": error: " in line]
            good = r["code"] == 1 and len(errors) == 1 and r["place"] in errors[0] and r["err"] == ""
        good = good and "Traceback" not in r["out"] + r["err"] and not r["children"]
        clear += good
        if not good:
            unclear.append(f"{r['command']} {r['name']}: code {r['code']}, out {r['out']!r}, err {r['err']!r}")
    leftover = [p for p in psutil.process_iter(["cmdline"]) if any(str(broken[0][2].parent.parent) in part
                                                                   for part in p.info["cmdline"] or [])]
    ups = sum(c["command"] == "up" for c in cases)
    print(f"\ncommand line: {ups} `lambdalab up` and {len(cases) - ups} `lambdalab template check` in one process, "
          f"clear one-line answers: {clear}/{len(cases)} ({100 * clear / len(cases):.0f}%), {wall:.1f} s wall")
    assert not unclear, "\n".join(unclear)
    assert "Traceback" not in err, err[-3000:]
    assert not leftover, leftover

