"""S3 and SNS as async event sources, duplicate delivery, and the event-invoke-config API."""

from __future__ import annotations

from urllib.parse import unquote_plus

import botocore.exceptions
import pytest

from tests.engine.async_apps import events_seen, start


@pytest.fixture
def cloud(make_cloud):
    return start(make_cloud)


def s3_records(cloud, function="Fn"):
    """The S3 records the function got, in sequencer order (events due together run concurrently)."""
    found = [e["Records"][0] for e in events_seen(cloud, function) if "Records" in e and "s3" in e["Records"][0]]
    return sorted(found, key=lambda r: int(r["s3"]["object"]["sequencer"], 16))


def test_put_copy_multipart_and_delete_reach_the_function_as_s3_events(cloud):
    """[S3],[L-S3]: object-created (Put, Copy, CompleteMultipartUpload) and removed events, in AWS's shape,
    keys URL-encoded, sequencers growing per key, size and eTag on created objects."""
    s3, bucket = cloud.client("s3"), cloud.resource("Uploads")
    s3.put_object(Bucket=bucket, Key="in/red flower.jpg", Body=b"petals")
    s3.copy_object(Bucket=bucket, Key="in/copy.jpg", CopySource={"Bucket": bucket, "Key": "in/red flower.jpg"})
    upload = s3.create_multipart_upload(Bucket=bucket, Key="in/big.bin")["UploadId"]
    part = s3.upload_part(Bucket=bucket, Key="in/big.bin", UploadId=upload, PartNumber=1, Body=b"x" * 10)
    s3.complete_multipart_upload(Bucket=bucket, Key="in/big.bin", UploadId=upload,
                                 MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": part["ETag"]}]})
    s3.delete_object(Bucket=bucket, Key="in/red flower.jpg")
    cloud.run_until_idle()
    records = s3_records(cloud)
    assert [r["eventName"] for r in records] == [
        "ObjectCreated:Put", "ObjectCreated:Copy", "ObjectCreated:CompleteMultipartUpload", "ObjectRemoved:Delete"]
    assert [r["s3"]["object"]["key"] for r in records] == [
        "in/red+flower.jpg", "in/copy.jpg", "in/big.bin", "in/red+flower.jpg"]
    put, delete = records[0], records[3]
    assert (put["s3"]["object"]["size"], put["s3"]["bucket"]["name"], put["eventSource"]) == (6, bucket, "aws:s3")
    assert "size" not in delete["s3"]["object"] and "eTag" not in delete["s3"]["object"]
    assert int(delete["s3"]["object"]["sequencer"], 16) > int(put["s3"]["object"]["sequencer"], 16)
    assert put["eventTime"].startswith("2026-01-01T00:00:00")
    assert {i.source for i in cloud.journal.invocations("Fn")} == {"s3:Uploads"}
    assert {i.invocation_type for i in cloud.journal.invocations("Fn")} == {"Event"}


def test_a_key_filter_keeps_other_objects_away_and_no_test_event_reaches_the_function(cloud):
    """[S3-N],[L-S3]: prefix rules filter object keys; the s3:TestEvent of setup never reaches a function."""
    cloud.client("s3").put_object(Bucket=cloud.resource("Uploads"), Key="out/skip.txt", Body=b"-")
    cloud.run_until_idle()
    assert events_seen(cloud) == []
    config = cloud.client("s3").get_bucket_notification_configuration(Bucket=cloud.resource("Uploads"))
    assert config["LambdaFunctionConfigurations"][0]["LambdaFunctionArn"].endswith(":function:Fn")


def test_a_versioned_bucket_adds_version_ids_and_a_delete_marker_event(cloud):
    """[S3]: versioned objects carry versionId; deleting without a version creates a delete marker."""
    s3, bucket = cloud.client("s3"), cloud.resource("Archive")
    version = s3.put_object(Bucket=bucket, Key="doc.txt", Body=b"v1")["VersionId"]
    marker = s3.delete_object(Bucket=bucket, Key="doc.txt")["VersionId"]
    cloud.run_until_idle()
    put, removed = s3_records(cloud)
    assert put["s3"]["object"]["versionId"] == version
    assert (removed["eventName"], removed["s3"]["object"]["versionId"]) == ("ObjectRemoved:DeleteMarkerCreated", marker)


def test_duplicate_delivery_of_an_s3_event_invokes_twice_with_the_same_event(cloud):
    """[S3-N],[A-ERR]: S3 delivers at least once; the scripted fault delivers the next event twice."""
    cloud.faults.duplicate_delivery("Uploads")
    cloud.client("s3").put_object(Bucket=cloud.resource("Uploads"), Key="in/once.txt", Body=b"1")
    cloud.run_until_idle()
    first, second = s3_records(cloud)
    assert first == second and unquote_plus(first["s3"]["object"]["key"]) == "in/once.txt"
    assert len({i.request_id for i in cloud.journal.invocations("Fn")}) == 2


def test_sns_filter_policies_on_attributes_and_on_the_body_and_fan_out(cloud):
    """[L-SNS]: one publish reaches every subscription whose filter policy matches (attribute scope and
    MessageBody scope), each as an async invoke with an SNS record."""
    sns, topic = cloud.client("sns"), cloud.resource("News")
    kind = {"kind": {"DataType": "String", "StringValue": "doc"}}
    sns.publish(TopicArn=topic, Message='{"status": "processed"}', Subject="both", MessageAttributes=kind)
    sns.publish(TopicArn=topic, Message='{"status": "queued"}', MessageAttributes=kind)
    sns.publish(TopicArn=topic, Message='{"status": "processed"}')
    sns.publish(TopicArn=topic, Message="not json", MessageAttributes={
        "kind": {"DataType": "String", "StringValue": "image"}})
    cloud.run_until_idle()
    to_fn = [e["Records"][0]["Sns"] for e in events_seen(cloud, "Fn")]
    to_watcher = [e["Records"][0]["Sns"] for e in events_seen(cloud, "Watcher")]
    assert sorted(m["Message"] for m in to_fn) == ['{"status": "processed"}', '{"status": "queued"}']
    assert [m["Message"] for m in to_watcher] == ['{"status": "processed"}', '{"status": "processed"}']
    [first] = [e["Records"][0] for e in events_seen(cloud, "Fn") if e["Records"][0]["Sns"]["Subject"] == "both"]
    assert first["EventSubscriptionArn"] == cloud.resource("FnDocs") and first["EventSource"] == "aws:sns"
    assert first["Sns"]["Subject"] == "both" and first["Sns"]["MessageAttributes"] == {
        "kind": {"Type": "String", "Value": "doc"}}
    assert {i.source for i in cloud.journal.invocations("Fn")} == {"sns:News"}


def test_duplicate_delivery_of_an_sns_message(cloud):
    """[SNS-R],[A-ERR]: deliveries may repeat; the scripted fault repeats the next one."""
    cloud.faults.duplicate_delivery("News")
    cloud.client("sns").publish(TopicArn=cloud.resource("News"), Message="hi", MessageAttributes={
        "kind": {"DataType": "String", "StringValue": "doc"}})
    cloud.run_until_idle()
    first, second = events_seen(cloud, "Fn")
    assert first == second


def test_event_invoke_config_put_get_update_list_delete_through_boto3(cloud):
    """[PFEIC],[A-a]: put replaces, update patches, get and list read it, delete removes it."""
    lam = cloud.client("lambda")
    got = lam.get_function_event_invoke_config(FunctionName="Fn")
    assert (got["MaximumRetryAttempts"], got["MaximumEventAgeInSeconds"]) == (2, 21600)
    assert got["DestinationConfig"]["OnFailure"]["Destination"] == cloud.attribute("Failed", "Arn")
    put = lam.put_function_event_invoke_config(FunctionName="Fn", MaximumRetryAttempts=1)
    assert (put["MaximumRetryAttempts"], put["MaximumEventAgeInSeconds"], put["DestinationConfig"]) == (
        1, 21600, {"OnSuccess": {}, "OnFailure": {}})
    updated = lam.update_function_event_invoke_config(FunctionName="Fn", MaximumEventAgeInSeconds=3600)
    assert (updated["MaximumRetryAttempts"], updated["MaximumEventAgeInSeconds"]) == (1, 3600)
    [listed] = lam.list_function_event_invoke_configs(FunctionName="Fn")["FunctionEventInvokeConfigs"]
    assert listed["FunctionArn"].endswith(":function:Fn:$LATEST")
    lam.delete_function_event_invoke_config(FunctionName="Fn")
    with pytest.raises(lam.exceptions.ResourceNotFoundException):
        lam.get_function_event_invoke_config(FunctionName="Fn")


@pytest.mark.parametrize(("settings", "fragment"), [
    ({"MaximumRetryAttempts": 3}, "Member must have value less than or equal to 2"),
    ({"MaximumEventAgeInSeconds": 30000}, "Member must have value less than or equal to 21600"),
])
def test_out_of_range_settings_get_aws_validation_errors(cloud, settings, fragment):
    """[PFEIC]: values outside 0-2 / 60-21600 are refused with AWS's validation error."""
    with pytest.raises(botocore.exceptions.ClientError) as raised:
        cloud.client("lambda").put_function_event_invoke_config(FunctionName="Fn", **settings)
    error = raised.value.response["Error"]
    assert error["Code"] == "ValidationException" and fragment in error["Message"]


def test_an_eventbridge_destination_is_refused_clearly(cloud):
    """[A-REC]: EventBridge destinations exist on AWS but are not emulated: refused, never ignored."""
    with pytest.raises(botocore.exceptions.ClientError) as raised:
        cloud.client("lambda").put_function_event_invoke_config(FunctionName="Fn", DestinationConfig={
            "OnSuccess": {"Destination": "arn:aws:events:us-east-1:123456789012:event-bus/default"}})
    assert raised.value.response["Error"]["Code"] == "NotSupportedLocally"
