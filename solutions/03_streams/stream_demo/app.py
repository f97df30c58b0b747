"""A demo consumer for the streams notebook: it prints each record it is given and fails on a
record whose data says ``"poison": true``.

It raises on a poison record, or, with ``REPORT=1``, answers with ``batchItemFailures`` naming it
(so Lambda retries from that record on). ``SLEEP_MS`` makes each batch take a while, to see
concurrency on a timeline.
"""

import base64
import json
import os
import time


def handler(event, context):
    time.sleep(int(os.environ.get("SLEEP_MS", "0")) / 1000)
    for record in event["Records"]:
        data = json.loads(base64.b64decode(record["kinesis"]["data"]))
        sequence = record["kinesis"]["sequenceNumber"]
        shard = record["eventID"].split(":")[0]
        print(json.dumps({"id": data["id"], "key": record["kinesis"]["partitionKey"], "seq": sequence, "shard": shard}))
        if data.get("poison"):
            if os.environ.get("REPORT") == "1":
                return {"batchItemFailures": [{"itemIdentifier": sequence}]}
            raise ValueError(f"cannot process record {data['id']}")
    return {"batchItemFailures": []}
