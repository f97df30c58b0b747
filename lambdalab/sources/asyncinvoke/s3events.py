"""S3 event notification records in AWS's shape (pure functions) [S3],[S3-a].

Every key of ``sam local generate-event s3 put`` / ``delete``: ``eventVersion``, ``eventSource``
``aws:s3``, ``awsRegion``, ``eventTime``, ``eventName`` without the ``s3:`` prefix,
``userIdentity``, ``requestParameters``, ``responseElements`` and
``s3{s3SchemaVersion, configurationId, bucket{name, ownerIdentity, arn}, object{...}}``. The object
key is form-URL-encoded ("red flower.jpg" -> "red+flower.jpg"). Created objects carry ``size`` and
``eTag``; every record carries ``sequencer``, a hex string that orders the events of one key; a
versioned bucket adds ``versionId``.
"""

from __future__ import annotations

import base64
import hashlib
from typing import Any
from urllib.parse import quote_plus

EVENT_VERSION = "2.1"
SCHEMA_VERSION = "1.0"
REQUESTER = "AWS:AIDALAMBDALABLOCAL"  # who made the request (one local principal for every caller)
BUCKET_OWNER = "A1LAMBDALABLOCAL"
SOURCE_IP = "127.0.0.1"


def encode_key(key: str) -> str:
    """The object key as S3 puts it in an event: form-URL-encoded (spaces as '+'), '/' kept."""
    return quote_plus(key, safe="/")


def sequencer(number: int) -> str:
    """An 18-digit hex sequencer; later events of a key get greater numbers."""
    return f"{number:018X}"


def response_elements(seed: str) -> dict[str, str]:
    digest = hashlib.sha256(seed.encode()).digest()
    return {
        "x-amz-request-id": digest[:8].hex().upper(),
        "x-amz-id-2": base64.b64encode(digest + digest[:24]).decode(),
    }


def s3_record(*, event_name: str, region: str, time: str, bucket: str, key: str, configuration_id: str,
              sequence: str, size: int | None = None, etag: str | None = None,
              version_id: str | None = None) -> dict[str, Any]:
    """One record; ``event_name`` may carry moto's ``s3:`` prefix, which the record drops."""
    obj: dict[str, Any] = {"key": encode_key(key)}
    if size is not None:
        obj["size"] = size
    if etag is not None:
        obj["eTag"] = etag.strip('"')
    if version_id:
        obj["versionId"] = version_id
    obj["sequencer"] = sequence
    return {
        "eventVersion": EVENT_VERSION,
        "eventSource": "aws:s3",
        "awsRegion": region,
        "eventTime": time,
        "eventName": event_name.removeprefix("s3:"),
        "userIdentity": {"principalId": REQUESTER},
        "requestParameters": {"sourceIPAddress": SOURCE_IP},
        "responseElements": response_elements(f"{bucket}/{key}/{sequence}"),
        "s3": {
            "s3SchemaVersion": SCHEMA_VERSION,
            "configurationId": configuration_id,
            "bucket": {"name": bucket, "ownerIdentity": {"principalId": BUCKET_OWNER}, "arn": f"arn:aws:s3:::{bucket}"},
            "object": obj,
        },
    }


def s3_event(*records: dict[str, Any]) -> dict[str, Any]:
    return {"Records": list(records)}
