"""Reading and understanding an uploaded document (given: the lab is about what happens around it).

``extract`` raises ``CorruptDocument`` for a file that can never be processed (poison) and
``DependencyUnavailable`` while the OCR service is down (transient: a later try will work).
"""

import json
import os

import boto3

_clients = {}


class CorruptDocument(ValueError):
    """The file itself is broken: retrying cannot help."""


class DependencyUnavailable(RuntimeError):
    """A service the extraction needs is down for now: retrying later will help."""


def client(name):
    if name not in _clients:
        _clients[name] = boto3.client(name)
    return _clients[name]


def read(bucket, key, version=None):
    """The object's bytes (the version the event names, when the bucket is versioned)."""
    extra = {"VersionId": version} if version else {}
    return client("s3").get_object(Bucket=bucket, Key=key, **extra)["Body"].read()


def extract(body):
    """The document's metadata: ``{"title": str, "pages": int}``."""
    status = client("ssm").get_parameter(Name=os.environ["OCR_STATUS_PARAMETER"])["Parameter"]["Value"]
    if status != "available":
        raise DependencyUnavailable(f"the OCR service is {status}")
    try:
        document = json.loads(body)
        return {"title": str(document["title"]), "pages": int(document.get("pages", 1))}
    except (ValueError, KeyError, TypeError) as err:
        raise CorruptDocument(f"not a document: {err}") from None
