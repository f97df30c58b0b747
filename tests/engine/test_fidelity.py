"""docs/fidelity.md stays true: every test it cites exists, and several refusals it quotes are re-run.

The table is parsed, never executed: cited tests are found by reading their files with ``ast``. The
refusals below start a tiny cloud (or call the Lambda API) and compare the error with the text the
table quotes, ``<id>``, ``<arn>``, ``<name>`` and ``<runtime>`` standing for any value.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Callable
from functools import cache
from pathlib import Path

import botocore.exceptions
import pytest

from lambdalab import LocalCloud
from lambdalab.errors import ConfigurationError
from tests.engine.apps import function

ROOT = Path(__file__).resolve().parents[2]
TABLE = ROOT / "docs" / "fidelity.md"
STATUSES = ("emulated", "partly", "refused")
CITED = re.compile(r"`(tests/engine/[\w/]+\.py)::(\w+)`")
QUOTED = re.compile(r"`([^`]+)`")
PLACEHOLDER = re.compile(r"<(id|arn|name|runtime)>")
LOCATION = re.compile(r"^[\w.-]+:\d+: ")  # "template.yaml:12: ", where the refused setting is written
HANDLERS = {"app.py": "def handler(event, context):\n    return event\n"}


def rows() -> list[tuple[str, str, str, str]]:
    """(section heading, behaviour, status, evidence) for every row of every table."""
    found, section = [], ""
    for line in TABLE.read_text().splitlines():
        if line.startswith("## "):
            section = line[3:].strip()
        elif line.startswith("| ") and not line.startswith(("| Behaviour", "|---")):
            cells = [cell.strip() for cell in line.strip().strip("|").split(" | ")]
            assert len(cells) == 3, f"a row needs 3 cells: {line}"
            found.append((section, cells[0], cells[1].strip("*"), cells[2]))
    return found


def row(behaviour: str) -> tuple[str, str]:
    """(status, evidence) of the row whose behaviour cell starts with ``behaviour``."""
    matches = [(status, evidence) for _, name, status, evidence in rows() if name.startswith(behaviour)]
    assert len(matches) == 1, f"{len(matches)} rows start with {behaviour!r}"
    return matches[0]


@cache
def defined_tests(path: str) -> frozenset[str]:
    tree = ast.parse((ROOT / path).read_text(), filename=path)
    return frozenset(node.name for node in tree.body
                     if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name.startswith("test_"))


def matches_quote(quote: str, actual: str) -> bool:
    """``quote`` with each placeholder standing for any text equals ``actual``."""
    parts = PLACEHOLDER.split(quote)
    pattern = "".join(re.escape(part) if i % 2 == 0 else ".+?" for i, part in enumerate(parts))
    return re.fullmatch(pattern, actual) is not None


def assert_quoted(behaviour: str, actual: str) -> None:
    """The row is **refused** and quotes ``actual`` (up to placeholders) somewhere in its evidence."""
    status, evidence = row(behaviour)
    assert status == "refused", f"{behaviour!r} is {status}"
    quotes = QUOTED.findall(evidence)
    assert any(matches_quote(q, actual) for q in quotes), f"{actual!r} is not among the quotes {quotes}"


# -- the table's shape and its citations -------------------------------------------------------
def test_there_is_a_table_for_each_section_of_the_reference():
    sections = [line[3:] for line in TABLE.read_text().splitlines() if line.startswith("## ")]
    assert [s.split(".")[0] for s in sections] == [str(n) for n in range(1, 8)]
    assert {section for section, *_ in rows()} == set(sections)


def test_every_row_has_a_known_status_and_says_why():
    for section, behaviour, status, evidence in rows():
        assert status in STATUSES, f"{section} / {behaviour}: status {status!r}"
        assert evidence, f"{section} / {behaviour}: no evidence"
        if status == "refused":
            assert QUOTED.search(CITED.sub("", evidence)), f"{behaviour}: a refusal must quote its error"


def test_every_cited_test_exists():
    cited = [(path, name) for *_, evidence in rows() for path, name in CITED.findall(evidence)]
    assert len(cited) > 100
    missing = [f"{path}::{name}" for path, name in cited
               if not (ROOT / path).is_file() or name not in defined_tests(path)]
    assert not missing, f"docs/fidelity.md cites tests that do not exist: {missing}"


def test_emulated_rows_cite_a_test_or_say_there_is_none():
    for _, behaviour, status, evidence in rows():
        if status == "emulated":
            assert CITED.search(evidence) or "no engine test" in evidence, behaviour


# -- refusals, re-run --------------------------------------------------------------------------
KINESIS_EVENT = """\
Events:
  Records:
    Type: Kinesis
    Properties:
      Stream: !GetAtt Stream.Arn
      StartingPosition: TRIM_HORIZON
      {prop}
"""
STREAM = "Stream:\n  Type: AWS::Kinesis::Stream\n  Properties: {ShardCount: 1}\n"
QUEUE = "Queue:\n  Type: AWS::SQS::Queue\n  Properties: {VisibilityTimeout: 30}\n"
SQS_EVENT = """\
Events:
  Jobs:
    Type: SQS
    Properties:
      Queue: !GetAtt Queue.Arn
      ProvisionedPollerConfig: {MinimumPollers: 2}
"""
EVENTBRIDGE = """\
EventInvokeConfig:
  DestinationConfig:
    OnSuccess:
      Type: EventBridge
      Destination: arn:aws:events:us-east-1:123456789012:event-bus/default
"""
API_EVENT = """\
Events:
  Create:
    Type: Api
    Properties:
      Path: /orders
      Method: post
      {prop}
"""
REFUSED_TEMPLATES = {
    "TumblingWindowInSeconds":
        STREAM + function("Fn", extra=KINESIS_EVENT.format(prop="TumblingWindowInSeconds: 60")),
    "On-failure destination S3 or Kafka": STREAM + function("Fn", extra=KINESIS_EVENT.format(
        prop="DestinationConfig: {OnFailure: {Destination: 'arn:aws:s3:::failures'}}")),
    "EventBridge destination": function("Fn", extra=EVENTBRIDGE),
    "Runtime (language)": function("Fn", Runtime="nodejs20.x"),
    "Provisioned concurrency": function(
        "Fn", AutoPublishAlias="live", extra="ProvisionedConcurrencyConfig:\n  ProvisionedConcurrentExecutions: 1\n"),
    "SnapStart": function("Fn", extra="SnapStart:\n  ApplyOn: PublishedVersions\n"),
    "Provisioned mode": QUEUE + function("Fn", extra=SQS_EVENT),
    "API keys, authorizers": function("Fn", extra=API_EVENT.format(prop="Auth: {ApiKeyRequired: true}")),
    "Request parameters and models": function(
        "Fn", extra=API_EVENT.format(prop="RequestParameters: [method.request.header.x-customer]")),
    "Operations without a Lambda proxy integration": (
        "Api:\n  Type: AWS::Serverless::Api\n  Properties:\n    StageName: Prod\n    DefinitionBody:\n"
        "      swagger: '2.0'\n      info: {title: api, version: '1'}\n      paths: {/x: {get: {responses: {}}}}\n"),
}


@pytest.mark.parametrize("behaviour", sorted(REFUSED_TEMPLATES))
def test_template_refusals_are_the_ones_the_table_quotes(make_cloud, behaviour):
    with pytest.raises(ConfigurationError) as raised:
        make_cloud(REFUSED_TEMPLATES[behaviour], HANDLERS)
    assert_quoted(behaviour, LOCATION.sub("", str(raised.value)))


def _code_and_message(call: Callable[[], object]) -> tuple[str, str]:
    with pytest.raises(botocore.exceptions.ClientError) as raised:
        call()
    error = raised.value.response["Error"]
    return error["Code"], error["Message"]


def test_lambda_api_refusals_are_the_ones_the_table_quotes(make_cloud):
    cloud: LocalCloud = make_cloud(function("Fn"), HANDLERS)
    lam = cloud.client("lambda")
    calls: dict[str, Callable[[], object]] = {
        "Deprecated `InvokeAsync`": lambda: lam.invoke_async(FunctionName="Fn", InvokeArgs=b"{}"),
        "Provisioned concurrency": lambda: lam.put_provisioned_concurrency_config(
            FunctionName="Fn", Qualifier="1", ProvisionedConcurrentExecutions=1),
        "Versions and aliases": lambda: lam.publish_version(FunctionName="Fn"),
        "EventBridge destination": lambda: lam.put_function_event_invoke_config(FunctionName="Fn", DestinationConfig={
            "OnSuccess": {"Destination": "arn:aws:events:us-east-1:123456789012:event-bus/default"}}),
    }
    for behaviour, call in calls.items():
        code, message = _code_and_message(call)
        assert code == "NotSupportedLocally", (behaviour, code)
        assert "NotSupportedLocally" in row(behaviour)[1]
        assert_quoted(behaviour, message)
