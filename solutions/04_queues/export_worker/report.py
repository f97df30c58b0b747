"""Building one export: CSV rows, an upload to S3 and a presigned download URL (given, not an exercise).

``params["chaos"]`` lets a lesson or a check make one job misbehave on purpose:
``"transient-N"`` fails until the message's N-th receive, ``"poison"`` always fails.
"""

import csv
import io
import os

import boto3
from boto3.s3.transfer import TransferConfig

# boto3 switches to a multipart upload above this size (parts of the same size): a large export goes
# up in parts instead of one huge PUT (the CSV itself is built in memory first: see csv_bytes).
MULTIPART = TransferConfig(multipart_threshold=8 * 1024 * 1024, multipart_chunksize=8 * 1024 * 1024)
URL_SECONDS = 3600

_s3 = None


class ExportFailed(Exception):
    """This attempt failed; a later delivery of the message may succeed."""


def s3():
    global _s3
    if _s3 is None:
        _s3 = boto3.client("s3")
    return _s3


def check_chaos(params, receive_count):
    chaos = str(params.get("chaos") or "")
    if chaos == "poison":
        raise ExportFailed("this export can never succeed")
    if chaos.startswith("transient-") and receive_count < int(chaos.split("-", 1)[1]):
        raise ExportFailed(f"the source is not ready yet (receive {receive_count})")


def csv_bytes(params):
    rows = int(params.get("rows", 10))
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["row", "report", "value"])
    for n in range(rows):
        writer.writerow([n, params.get("report"), n * 7 % 100])
    return out.getvalue().encode()


def build(job_id, params, receive_count):
    """Write the CSV for one job and return its result: bucket, key and a presigned URL."""
    check_chaos(params, receive_count)
    bucket, key = os.environ["EXPORTS_BUCKET"], f"exports/{job_id}.csv"
    s3().upload_fileobj(io.BytesIO(csv_bytes(params)), bucket, key, Config=MULTIPART)
    url = s3().generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": key}, ExpiresIn=URL_SECONDS)
    return {"bucket": bucket, "key": key, "url": url}
