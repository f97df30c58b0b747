"""A function that fails on request, to show how API Gateway turns each failure into a status.

GET /demo/{behaviour}: ``ok`` answers properly, ``event`` describes the proxy event it got, ``malformed`` returns a dict API Gateway cannot map,
``raise`` raises, ``slow`` outlives the route's integration timeout (1 s in template.yaml).
"""

import json
import time


def handler(event, context):
    behaviour = (event.get("pathParameters") or {}).get("behaviour")
    if behaviour == "malformed":
        return {"message": "a dict without statusCode"}
    if behaviour == "raise":
        raise RuntimeError("something broke")
    if behaviour == "slow":
        time.sleep(1.5)
    if behaviour == "event":
        described = {
            "keys": sorted(event),
            "requestContext keys": sorted(event["requestContext"]),
            **{k: event[k] for k in ("httpMethod", "resource", "path", "pathParameters", "queryStringParameters")},
            "headers[X-Course]": event["headers"].get("X-Course"),
        }
        return {"statusCode": 200, "headers": {"Content-Type": "application/json"}, "body": json.dumps(described)}
    return {"statusCode": 200, "headers": {"Content-Type": "application/json"},
            "body": json.dumps({"behaviour": behaviour, "path": event["path"]})}
