"""The export API: POST /exports enqueues an export job, GET /exports/{jobId} reports on it.

A job's id is a hash of its *normalised* parameters, so the same request sent twice (a double
click, a client retry) is one job: the worker's idempotency lock then makes sure it runs once.
"""

import hashlib
import json
import os

import boto3

_sqs = None
_table = None


def sqs():
    global _sqs
    if _sqs is None:
        _sqs = boto3.client("sqs")
    return _sqs


def table():
    global _table
    if _table is None:
        _table = boto3.resource("dynamodb").Table(os.environ["JOBS_TABLE"])
    return _table


def normalise(params):
    """Parameters that mean the same export look the same: keys and text lowercased and trimmed."""
    # TODO: requests that mean the same export must look the same, or a retried request becomes a second job
    #   step by step: return a new dict: keys stripped and lowercased; string values stripped and lowercased; other values unchanged
    raise NotImplementedError('requests that mean the same export must look the same, or a retried request becomes a second job')


def job_id(params):
    """sha256 (hex) of the normalised parameters as canonical JSON (sorted keys, no spaces)."""
    # TODO: the job id must be a pure function of the normalised request, so that the same request twice is one job
    #   step by step: hashlib.sha256 of json.dumps(normalise(params), sort_keys=True, separators=(",", ":")), as hexdigest()
    raise NotImplementedError('the job id must be a pure function of the normalised request, so that the same request twice is one job')


def response(status, body):
    return {"statusCode": status, "headers": {"Content-Type": "application/json"}, "body": json.dumps(body)}


def handler(event, context):
    method = event["requestContext"]["http"]["method"]
    if method == "POST":
        try:
            params = json.loads(event.get("body") or "null")
        except ValueError:
            return response(400, {"message": "body must be JSON"})
        if not isinstance(params, dict) or not params.get("report"):
            return response(400, {"message": "an export needs at least a 'report'"})
        jid = job_id(params)
        sqs().send_message(QueueUrl=os.environ["JOBS_QUEUE_URL"],
                           MessageBody=json.dumps({"jobId": jid, "params": normalise(params)}))
        return response(202, {"jobId": jid})
    jid = (event.get("pathParameters") or {}).get("jobId")
    item = table().get_item(Key={"jobId": jid}, ConsistentRead=True).get("Item")
    if item is None:
        return response(404, {"message": f"no export job {jid}"})
    return response(200, {"jobId": jid, "status": item["status"], "result": item.get("result")})
