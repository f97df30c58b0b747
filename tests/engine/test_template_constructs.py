"""The SAM constructs real apps use, each in a small template of ``tests/engine/templates/``:
unquoted dates, settings with no local effect, the default CodeUri, InlineCode, parameters,
conditions, layers, CORS; and refusals, all at once, named as written, with their lines.

A folder named ``starts_*`` starts; one named ``refused_*`` is refused with a ConfigurationError;
none may crash (design: refuse, never ignore; never a traceback).
"""

from __future__ import annotations

import importlib.util
import json
import re
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from lambdalab import ConfigurationError, LocalCloud
from lambdalab.template.refusals import TemplateRefused, as_written

ROOT = Path(__file__).resolve().parents[2]
TEMPLATES = Path(__file__).parent / "templates"
SET = sorted(p.parent.name for p in TEMPLATES.glob("*/template.yaml"))


def start(name: str, **kwargs) -> LocalCloud:
    return LocalCloud.start(TEMPLATES / name / "template.yaml", **kwargs)


def body(cloud: LocalCloud, function: str = "Fn") -> str:
    return json.loads(cloud.invoke(function, {}).payload)["body"]


@pytest.mark.parametrize("name", SET)
def test_each_template_of_the_set_starts_or_is_refused_as_its_name_says(name):
    assert name.startswith(("starts_", "refused_")), name
    if name.startswith("starts_"):
        start(name).close()
    else:
        with pytest.raises(ConfigurationError):
            start(name).close()


def test_the_set_has_a_template_for_each_construct():
    assert len(SET) >= 18


def test_the_census_runs_over_the_set_and_nothing_crashes():
    done = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "template_census.py"), str(TEMPLATES)],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    started = sum(n.startswith("starts_") for n in SET)
    assert re.search(rf"started\s+{started}\b", done.stdout) and "crashed" not in done.stdout, done.stdout
    assert "Reasons for refusing" in done.stdout


# -- dates -----------------------------------------------------------------------------------------
def test_unquoted_yaml_dates_are_read_as_their_text_as_cloudformation_reads_them():
    from lambdalab.template.load import load_template

    loaded = load_template(TEMPLATES / "starts_dates" / "template.yaml")
    assert loaded.sam["AWSTemplateFormatVersion"] == "2010-09-09"
    policies = loaded.sam["Resources"]["Fn"]["Properties"]["Policies"]
    assert policies[0]["Version"] == "2012-10-17"


def test_template_check_reads_unquoted_dates_without_a_traceback():
    done = subprocess.run([sys.executable, "-m", "lambdalab.cli", "template", "check",
                           str(TEMPLATES / "starts_dates" / "template.yaml")],
                          capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert "Traceback" not in done.stderr and "not JSON serializable" not in done.stdout + done.stderr
    assert done.returncode == 0, done.stdout + done.stderr


# -- accepted, not emulated ------------------------------------------------------------------------
def test_settings_without_a_local_effect_start_with_one_notice_naming_them_as_written(capsys):
    with start("starts_not_emulated") as cloud:
        notices = [line for line in capsys.readouterr().err.splitlines() if "accepted but not emulated" in line]
        assert len(notices) == 1
        for name in ("Globals.Function.Tracing", "Globals.Api.TracingEnabled", "Logs (AWS::Logs::LogGroup",
                     "Table.SSESpecification", "Table.PointInTimeRecoverySpecification",
                     "Queue.SqsManagedSseEnabled", "Queue.RedriveAllowPolicy", "Topic.KmsMasterKeyId",
                     "Bucket.BucketEncryption"):
            assert name in notices[0]
        assert "TracingConfig" not in notices[0] and "ServerlessRestApi" not in notices[0]
        env = cloud.function_environment(cloud.function("Fn"), "stream")
        assert env["_X_AMZN_TRACE_ID"].endswith("Sampled=0")
        assert cloud.invoke("Fn", {}).function_error is None


def test_transformed_names_map_back_to_the_template_as_written():
    sam = {"Globals": {"Api": {"TracingEnabled": True}, "Function": {"Layers": ["x"]}},
           "Resources": {"Fn": {"Type": "AWS::Serverless::Function", "Properties": {
               "Tracing": "Active", "Events": {"Jobs": {"Type": "SQS"}}, "AutoPublishAlias": "live"}}}}
    assert as_written(sam, "Fn", "TracingConfig") == ("Fn", "Tracing")
    assert as_written(sam, "ServerlessRestApiProdStage", "TracingEnabled") == ("Globals", "Api.TracingEnabled")
    assert as_written(sam, "Fn", "Layers") == ("Globals", "Function.Layers")
    assert as_written(sam, "FnJobs", "BatchSize") == ("Fn", "Events.Jobs.Properties.BatchSize")
    assert as_written(sam, "FnAliaslive", "Type") == ("Fn", "AutoPublishAlias")


# -- code ------------------------------------------------------------------------------------------
def test_a_function_without_code_uri_runs_from_the_templates_folder():
    with start("starts_codeuri_default") as cloud:
        assert json.loads(cloud.invoke("Fn", {}).payload) == "hello from the template's folder"


def test_inline_code_is_written_out_as_index_py_and_runs():
    with start("starts_inline_code") as cloud:
        assert json.loads(cloud.invoke("Fn", {"n": 1}).payload) == {"inline": {"n": 1}}
        assert (TEMPLATES / "starts_inline_code" / ".lambdalab" / "inline" / "Fn" / "index.py").is_file()


# -- parameters ------------------------------------------------------------------------------------
def test_parameters_without_a_value_are_one_error_listing_them_all():
    with pytest.raises(ConfigurationError) as raised:
        start("refused_parameters_without_value")
    message = str(raised.value)
    assert "Stage, TableName" in message and "Region" not in message
    assert "parameter_overrides" in message and "--parameter-overrides" in message


def test_parameter_overrides_give_parameters_their_values():
    with start("refused_parameters_without_value", parameter_overrides={"Stage": "prod", "TableName": "t"}) as cloud:
        assert cloud.function("Fn").Environment == {"STAGE": "prod", "TABLE": "t"}


@pytest.mark.parametrize(("overrides", "words"), [
    ({"Stage": "prod", "TableName": "t", "Nope": "x"}, "does not declare: Nope"),
    ({"Stage": "test"}, "'test' is not one of its AllowedValues"),
])
def test_overrides_the_template_cannot_take_are_refused(overrides, words):
    name = "starts_conditions" if "Nope" not in overrides else "refused_parameters_without_value"
    with pytest.raises(ConfigurationError, match=re.escape(words)):
        start(name, parameter_overrides=overrides)


def test_the_command_line_takes_parameter_overrides_like_sam_local():
    template = TEMPLATES / "refused_parameters_without_value" / "template.yaml"
    done = subprocess.run([sys.executable, "-m", "lambdalab.cli", "--template", str(template), "invoke", "Fn",
                           "--parameter-overrides", "Stage=prod", "TableName=orders"],
                          capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["body"] == "None prod"


# -- conditions ------------------------------------------------------------------------------------
def test_conditions_drop_resources_properties_and_outputs_whose_condition_is_false():
    with start("starts_conditions") as dev:
        assert "Archive" not in dev.model.resources and "TestQueue" in dev.model.resources
        assert dev.function("Fn").MemorySize == 128 and "ARCHIVE" not in dev.function("Fn").Environment
        assert body(dev) == "None dev"
    with start("starts_conditions", parameter_overrides={"Stage": "prod"}) as prod:
        assert "Archive" in prod.model.resources and "TestQueue" not in prod.model.resources
        assert prod.function("Fn").MemorySize == 1024
        assert prod.function("Fn").Environment["ARCHIVE"] == prod.resource("Archive")


def test_applied_conditions_keep_outputs_whose_condition_holds():
    from lambdalab.template.conditions import Conditions

    template = {"Conditions": {"On": {"Fn::Equals": ["a", "a"]}, "Off": {"Fn::Not": [{"Condition": "On"}]}},
                "Resources": {}, "Outputs": {"Kept": {"Condition": "On", "Value": 1},
                                             "Dropped": {"Condition": "Off", "Value": 2}}}
    assert Conditions(template["Conditions"], {}).applied(template)["Outputs"] == {"Kept": {"Value": 1}}


@pytest.mark.parametrize(("name", "words"), [
    ("refused_condition_cycle", "cycle: A -> B -> A"),
    ("refused_condition_unknown", "'Nowhere', which Conditions does not declare"),
])
def test_cyclic_or_unknown_conditions_are_a_clear_error(name, words):
    with pytest.raises(ConfigurationError, match=re.escape(words)):
        start(name)


# -- layers ----------------------------------------------------------------------------------------
@pytest.mark.parametrize(("name", "value"), [
    ("starts_layer_local", "from layer/python"), ("starts_layer_flat", "from the layer folder"),
])
def test_a_local_layer_is_on_the_functions_import_path_as_opt_python_would_be(name, value):
    with start(name) as cloud:
        assert body(cloud) == f"{value} -"


def test_a_published_layer_other_than_powertools_is_refused_naming_it():
    with pytest.raises(ConfigurationError, match=r"Fn\.Layers: layer arn:aws:lambda:\S+:layer:pandas:3 cannot"):
        start("refused_layer_unknown_arn")


def test_the_powertools_layer_comes_from_this_environment_or_says_what_to_install(tmp_path):
    template = (TEMPLATES / "refused_layer_unknown_arn" / "template.yaml").read_text().replace(
        "arn:aws:lambda:us-east-1:123456789012:layer:pandas:3",
        "arn:aws:lambda:us-east-1:017000801446:layer:AWSLambdaPowertoolsPythonV3-python312-x86_64:7")
    (tmp_path / "template.yaml").write_text(template.replace("../code/", str(TEMPLATES / "code")))
    if importlib.util.find_spec("aws_lambda_powertools") is not None:
        LocalCloud.start(tmp_path / "template.yaml").close()
    else:
        with pytest.raises(ConfigurationError, match=re.escape("pip install 'aws-lambda-powertools>=3,<4'")):
            LocalCloud.start(tmp_path / "template.yaml")


# -- CORS ------------------------------------------------------------------------------------------
def request(url: str, method: str = "GET", **headers: str) -> tuple[int, dict[str, str]]:
    try:
        answer = urllib.request.urlopen(urllib.request.Request(url, method=method, headers=headers), timeout=30)
    except urllib.error.HTTPError as error:
        answer = error
    return answer.status, {k.lower(): v for k, v in answer.headers.items()}


PREFLIGHT = {"Access-Control-Request-Method": "GET", "Access-Control-Request-Headers": "content-type"}


def test_an_http_api_answers_preflights_itself_and_puts_its_cors_headers_on_responses():
    """AG http-api-cors.html: API Gateway answers the preflight (with no OPTIONS route) and replaces
    the integration's CORS headers with the configured ones, for an allowed origin only."""
    with start("starts_cors_http") as cloud:
        url = cloud.api_url("Http") + "/items"
        status, headers = request(url, "OPTIONS", Origin="https://app.example", **PREFLIGHT)
        assert status == 204
        assert headers["access-control-allow-origin"] == "https://app.example"
        assert headers["access-control-allow-methods"] == "GET,POST"
        assert headers["access-control-allow-headers"] == "content-type"
        assert headers["access-control-max-age"] == "600"
        status, headers = request(url, "OPTIONS", Origin="https://other.example", **PREFLIGHT)
        assert status == 204 and "access-control-allow-origin" not in headers
        status, headers = request(url, Origin="https://app.example")
        assert status == 200
        assert headers["access-control-allow-origin"] == "https://app.example"
        assert headers["access-control-expose-headers"] == "x-request-id"


def test_a_rest_apis_cors_preflight_is_answered_by_the_options_method_sam_writes():
    with start("starts_cors_rest") as cloud:
        status, headers = request(cloud.api_url("ServerlessRestApi") + "/items", "OPTIONS",
                                  Origin="https://app.example", **PREFLIGHT)
        assert status == 200
        assert headers["access-control-allow-origin"] == "https://app.example"
        assert headers["access-control-allow-methods"] == "GET,OPTIONS"
        assert headers["access-control-allow-headers"] == "Content-Type"


# -- refusals --------------------------------------------------------------------------------------
def test_every_refusal_comes_at_once_named_as_written_with_its_line_before_anything_starts():
    template = TEMPLATES / "refused_all_at_once" / "template.yaml"
    with pytest.raises(ConfigurationError):
        LocalCloud.start(template)  # warms the transform cache
    began = time.perf_counter()
    with pytest.raises(TemplateRefused) as raised:
        LocalCloud.start(template)
    assert time.perf_counter() - began < 0.5
    lines = str(raised.value).splitlines()
    assert lines[0] == "template.yaml: 5 settings cannot run locally (nothing was started):"
    written = template.read_text().splitlines()
    expected = {"Globals.Api.MethodSettings": "MethodSettings", "Fn.Runtime": "Runtime",
                "Fn.VpcConfig": "VpcConfig", "Activity.Type": "Type: AWS::StepFunctions::Activity",
                "Table.ContributorInsightsSpecification": "ContributorInsightsSpecification"}
    for where, text in expected.items():
        line = next(line for line in lines[1:] if f" {where}: " in line)
        number = int(re.match(r"\s+template\.yaml:(\d+): ", line).group(1))
        assert text in written[number - 1], (line, written[number - 1])
    assert "Traceback" not in str(raised.value)


@pytest.mark.parametrize(("name", "words"), [
    ("refused_yaml_syntax", "cannot be parsed: line 4"),
    ("refused_unknown_intrinsic", "template.yaml:5: Q.QueueName: Fn::GetAZs is not supported locally"),
    ("refused_codeuri_s3", "Fn.CodeUri: CodeUri must be a local directory path"),
    ("refused_bad_types", "Fn.Timeout: must be an integer"),
])
def test_bad_input_is_one_clear_error_each(name, words):
    with pytest.raises(ConfigurationError) as raised:
        start(name)
    assert words in str(raised.value)
    if name == "refused_bad_types":
        assert "Fn.MemorySize: must be an integer" in str(raised.value)
    if name == "refused_codeuri_s3":
        assert "Handler" not in str(raised.value)


# -- values checked against the resource type's schema ---------------------------------------------
@pytest.mark.parametrize(("name", "refusal"), [
    ("refused_shard_count_list", "template.yaml:9: Stream.ShardCount: must be an integer, got [2]"),
    ("refused_fifo_queue_maybe", "template.yaml:5: Jobs.FifoQueue: must be a boolean (true or false), got 'maybe'"),
    ("refused_table_without_key_schema",
     "template.yaml:4: Table.KeySchema: is required (the AWS::DynamoDB::Table schema)"),
    ("refused_redrive_policy_text", "template.yaml:7: Jobs.RedrivePolicy.maxReceiveCount: must be a whole number "
                                    "of receives, 1 or more, got 'lots'"),
])
def test_a_value_the_type_does_not_allow_is_one_line_naming_it_before_anything_is_created(name, refusal, capfd):
    """CloudFormation checks each property against the type's schema [CFN-SCHEMA] (and SQS reads the
    JSON text of a redrive policy [SQS-RP]): the engine refuses in a dry run, before a data plane
    exists, in one line with the property as written; moto never sees the value, so none of its
    tracebacks is printed."""
    from lambdalab.template import build_model, load_template

    with pytest.raises(TemplateRefused) as dry:
        build_model(load_template(TEMPLATES / name / "template.yaml"))
    with pytest.raises(ConfigurationError) as raised:
        start(name)
    assert str(raised.value) == str(dry.value) == refusal
    assert "Traceback" not in capfd.readouterr().err


def test_fifo_queue_as_text_is_read_as_cloudformation_reads_it(tmp_path):
    """``FifoQueue: "false"`` is a standard queue (no ``.fifo`` name), ``"true"`` a FIFO queue."""
    (tmp_path / "template.yaml").write_text(
        "Resources:\n  Plain: {Type: AWS::SQS::Queue, Properties: {FifoQueue: 'false'}}\n"
        "  Ordered: {Type: AWS::SQS::Queue, Properties: {FifoQueue: 'true'}}\n")
    with LocalCloud.start(tmp_path / "template.yaml") as cloud:
        assert cloud.resource("Plain").endswith("/Plain")
        assert cloud.resource("Ordered").endswith("/Ordered.fifo")
        assert cloud.client("sqs").get_queue_attributes(
            QueueUrl=cloud.resource("Ordered"), AttributeNames=["FifoQueue"])["Attributes"]["FifoQueue"] == "true"


def test_a_misspelt_nested_property_is_one_refusal_that_names_the_meant_one(tmp_path):
    (tmp_path / "template.yaml").write_text(
        "Resources:\n  Bucket:\n    Type: AWS::S3::Bucket\n    Properties:\n"
        "      VersioningConfiguration: {Stauts: Enabled}\n")
    with pytest.raises(ConfigurationError) as raised:
        LocalCloud.start(tmp_path / "template.yaml")
    assert str(raised.value) == ("template.yaml:5: Bucket.VersioningConfiguration.Stauts: is not a property in the "
                                 "AWS::S3::Bucket schema; did you mean Status?")


def test_a_list_item_is_named_by_its_index_with_its_own_line(tmp_path):
    (tmp_path / "template.yaml").write_text(
        "Resources:\n  Table:\n    Type: AWS::DynamoDB::Table\n    Properties:\n"
        "      BillingMode: PAY_PER_REQUEST\n      AttributeDefinitions: [{AttributeName: pk, AttributeType: S}]\n"
        "      KeySchema:\n        - AttributeName: pk\n          KeyType: PRIMARY\n")
    with pytest.raises(ConfigurationError) as raised:
        LocalCloud.start(tmp_path / "template.yaml")
    assert str(raised.value) == "template.yaml:9: Table.KeySchema[0].KeyType: must be HASH; got 'PRIMARY'"


def test_a_template_that_is_not_utf8_is_one_line_naming_the_file_line_and_byte_offset(tmp_path):
    """Not ``Cannot read file contents: {filename}`` (cfn-lint's words, with the name left out)."""
    template = tmp_path / "template.yaml"
    template.write_bytes(b"Resources:\n  Q:\n    Type: AWS::SQS::Queue\n    Properties: {QueueName: caf\xe9}\n")
    expected = "template.yaml:4: not UTF-8 text: byte 0xe9 at offset 73 cannot be read; save the file as UTF-8"
    with pytest.raises(ConfigurationError) as raised:
        LocalCloud.start(template)
    assert str(raised.value) == expected
    done = subprocess.run([sys.executable, "-m", "lambdalab.cli", "template", "check", str(template)],
                          capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert done.returncode == 1 and done.stderr == ""
    assert done.stdout.splitlines() == [expected.replace(": not UTF-8", ": error: not UTF-8"),
                                        "1 error(s), 0 warning(s)"]


@pytest.mark.parametrize(("properties", "refusal"), [
    ("Timout: 3", "template.yaml:5: Fn.Timout: the SAM transform refused it: property Timout not defined for "
                  "resource of type AWS::Serverless::Function"),
    ("Events: {Work: {Type: SQS, Properties: {Queue: !GetAtt Jobs.Arn, BatchSize: lots}}}",
     "template.yaml:5: Fn.Events.Work.Properties.BatchSize: the SAM transform refused it: Type of property "
     "'BatchSize' is invalid."),
])
def test_a_sam_transform_refusal_names_the_resource_and_property_as_written(tmp_path, properties, refusal):
    (tmp_path / "template.yaml").write_text(
        "Transform: AWS::Serverless-2016-10-31\nResources:\n  Fn:\n    Type: AWS::Serverless::Function\n"
        f"    Properties: {{Handler: app.handler, Runtime: python3.12, CodeUri: {TEMPLATES / 'code'}, "
        f"{properties}}}\n"
        "  Jobs: {Type: AWS::SQS::Queue}\n")
    with pytest.raises(ConfigurationError) as raised:
        LocalCloud.start(tmp_path / "template.yaml")
    assert str(raised.value) == refusal


@pytest.mark.parametrize(("value", "refusal"), [
    ("!GetAtt Jobs.Nope", "Fn::GetAtt Jobs.Nope: Jobs has no attribute Nope locally (Fn::GetAtt can read: Arn, "
                          "QueueName, QueueUrl)"),
    ("!Ref Nowhere", "Ref Nowhere: refers to 'Nowhere', which is not a resource of the template"),
    ("!Join ['-', jobs]", "Fn::Join takes [delimiter, [values]]; its list is jobs"),
    ("!Select [5, [a, b]]", "Fn::Select index 5 is outside its list of 2"),
])
def test_an_intrinsic_that_cannot_be_resolved_names_the_property_it_is_in(tmp_path, value, refusal):
    """Found in the dry run (a placeholder knows the attributes its type will have), not after the
    data plane started."""
    (tmp_path / "template.yaml").write_text(
        "Resources:\n  Jobs: {Type: AWS::SQS::Queue}\n  Param:\n    Type: AWS::SSM::Parameter\n"
        f"    Properties:\n      Type: String\n      Value: {value}\n")
    with pytest.raises(TemplateRefused) as raised:
        LocalCloud.start(tmp_path / "template.yaml")
    assert str(raised.value) == f"template.yaml:7: Param.Value: {refusal}"


def test_an_event_sources_refusal_is_named_as_written_and_leaves_no_server_running(tmp_path):
    """A filter pattern that is not JSON [FILTER] is refused by the SQS event source's check in the
    dry run: one line, named as written, and no server is left running."""
    import threading

    (tmp_path / "template.yaml").write_text(
        "Transform: AWS::Serverless-2016-10-31\nResources:\n  Fn:\n    Type: AWS::Serverless::Function\n"
        f"    Properties:\n      Handler: app.handler\n      Runtime: python3.12\n      CodeUri: {TEMPLATES / 'code'}\n"
        "      Events:\n        Work:\n          Type: SQS\n          Properties:\n"
        "            Queue: !GetAtt Jobs.Arn\n            FilterCriteria: {Filters: [{Pattern: 'not json'}]}\n"
        "  Jobs: {Type: AWS::SQS::Queue}\n")
    def servers() -> set[threading.Thread]:
        return {t for t in threading.enumerate() if t.name.startswith("lambdalab-")}

    before = servers()
    with pytest.raises(ConfigurationError) as raised:
        LocalCloud.start(tmp_path / "template.yaml")
    where = "template.yaml:14: Fn.Events.Work.Properties.FilterCriteria.Filters[0].Pattern: "
    assert str(raised.value).startswith(where)
    assert "\n" not in str(raised.value)
    assert not servers() - before  # none started by this start is left running


def _refused_before_anything_starts(name: str, monkeypatch) -> list[str]:
    """The refusal's lines, from a start that never started a data plane, a server or a function."""
    import threading

    from lambdalab.dataplane.server import DataPlane

    def never(self):
        raise AssertionError("the data plane started")

    monkeypatch.setattr(DataPlane, "start", never)
    before = {t for t in threading.enumerate() if t.name.startswith("lambdalab-")}
    with pytest.raises(TemplateRefused) as raised:
        start(name)
    assert not {t for t in threading.enumerate() if t.name.startswith("lambdalab-")} - before
    assert "Traceback" not in str(raised.value)
    return str(raised.value).splitlines()


def _each_at_its_line(name: str, lines: list[str], expected: dict[str, str]) -> None:
    written = (TEMPLATES / name / "template.yaml").read_text().splitlines()
    assert len(lines) == len(expected) + 1, lines
    for where, text in expected.items():
        line = next(line for line in lines[1:] if f" {where}: " in line)
        number = int(re.match(r"\s+template\.yaml:(\d+): ", line).group(1))
        assert text in written[number - 1], (line, written[number - 1])


def test_event_source_refusals_come_with_the_templates_other_refusals_before_anything_starts(monkeypatch):
    """SQS, Kinesis, DynamoDB Streams, SNS and destination settings the event sources refuse are
    found in the dry run, from the template alone: all at once, each at its line, before a data
    plane, a server or a function exists."""
    lines = _refused_before_anything_starts("refused_event_sources_all_at_once", monkeypatch)
    assert lines[0] == "template.yaml: 5 settings cannot run locally (nothing was started):"
    _each_at_its_line("refused_event_sources_all_at_once", lines, {
        "Fn.Events.Work.Properties.BatchSize": "BatchSize: 50",
        "Fn.Events.Click.Properties.TumblingWindowInSeconds": "TumblingWindowInSeconds: 30",
        "Fn.Events.Change.Properties.ParallelizationFactor": "ParallelizationFactor: 20",
        "Fn.Events.Alert.Properties.Region": "Region: eu-west-3",
        "Fn.EventInvokeConfig.OnFailure": "EventInvokeConfig",
    })
    assert "Maximum batch window in seconds must be greater than 0" in "\n".join(lines)


def test_every_refusal_of_an_openapi_body_comes_at_once(monkeypatch):
    """Not only the first: an operation's security and its mock integration, an operation without an
    integration, a query-string parameter."""
    lines = _refused_before_anything_starts("refused_openapi_all_at_once", monkeypatch)
    assert lines[0] == "template.yaml: 4 settings cannot run locally (nothing was started):"
    _each_at_its_line("refused_openapi_all_at_once", lines, {
        "Api.DefinitionBody.paths./a.get.security": "security:",
        "Api.DefinitionBody.paths./a.get.x-amazon-apigateway-integration": "type: mock",
        "Api.DefinitionBody.paths./b.get": "get: {}",
        "Api.DefinitionBody.paths./c.post.parameters": "in: query",
    })


def test_an_event_source_refusal_in_the_dry_run_is_the_same_from_build_model():
    from lambdalab.template import build_model, load_template

    with pytest.raises(TemplateRefused) as dry:
        build_model(load_template(TEMPLATES / "refused_event_sources_all_at_once" / "template.yaml"))
    assert len(dry.value.refusals) == 5


# -- parameters the SAM transform resolves ---------------------------------------------------------
def test_parameter_overrides_reach_the_sam_transform_and_the_properties_it_resolves():
    with start("starts_parameters_in_sam_properties") as prod:
        assert prod.api_url("Api").endswith("/prod")
        assert prod.function("Fn").CodeUri == (TEMPLATES / "code").resolve()
    with start("starts_parameters_in_sam_properties", parameter_overrides={"Stage": "dev"}) as dev:
        assert dev.api_url("Api").endswith("/dev") and dev.function("Fn").Environment["STAGE"] == "dev"
        status, _ = request(dev.api_url("Api") + "/x")
        assert status == 200


def test_a_code_uri_from_a_parameter_takes_the_override():
    with pytest.raises(TemplateRefused, match=r"Fn\.CodeUri: CodeUri directory \S*nowhere does not exist"):
        start("starts_parameters_in_sam_properties", parameter_overrides={"Code": "nowhere/"})


def test_the_transform_cache_keeps_one_entry_per_set_of_parameter_values(tmp_path):
    """``AutoPublishAlias: !Ref Alias`` is resolved by the SAM transform itself: its Alias resource
    is named after the value, so a cached transform of other values must not be reused."""
    from lambdalab.template.load import load_template

    (tmp_path / "template.yaml").write_text(
        "Transform: AWS::Serverless-2016-10-31\nParameters:\n  Alias: {Type: String, Default: live}\n"
        "Resources:\n  Fn:\n    Type: AWS::Serverless::Function\n"
        f"    Properties: {{Handler: app.handler, Runtime: python3.12, CodeUri: {TEMPLATES / 'code'}, "
        "AutoPublishAlias: !Ref Alias}\n")
    assert "FnAliaslive" in load_template(tmp_path / "template.yaml").cfn["Resources"]
    assert "FnAliasblue" in load_template(tmp_path / "template.yaml", {"Alias": "blue"}).cfn["Resources"]
    assert "FnAliaslive" in load_template(tmp_path / "template.yaml").cfn["Resources"]


def test_the_sam_transform_prints_nothing_of_its_own(tmp_path, caplog):
    """The translator logs a warning about its own feature flags for an OpenAPI body ("Feature
    'normalized_open_api_version' not available in Feature Toggle Config."); nothing of it reaches
    the learner's output."""
    import logging

    (tmp_path / "template.yaml").write_text((TEMPLATES / "refused_openapi_all_at_once" / "template.yaml").read_text()
                                            .replace("../code/", str(TEMPLATES / "code")))
    caplog.set_level(logging.DEBUG)
    with pytest.raises(TemplateRefused):
        LocalCloud.start(tmp_path / "template.yaml")  # a cold cache: the transform runs
    assert not [r for r in caplog.records if r.name.startswith("samtranslator") and r.levelno >= logging.WARNING]
