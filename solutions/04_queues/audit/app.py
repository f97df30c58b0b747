"""The audit trail of export jobs, from a FIFO queue (given code: notebook 04 uses it).

Messages of one group (one export job) must be handled in order. So when a message fails, the
function reports it *and every later message of its group* in ``batchItemFailures``: that group
comes back later, in order, while the other groups of the batch carry on. (AWS's simplest rule,
stop at the first failure and report everything after it, is also correct but holds up every
group; Powertools' batch utility calls this choice ``skip_group_on_error``.)
"""

import json


def handler(event, context):
    failures, failed_groups = [], set()
    for record in event["Records"]:
        body = json.loads(record["body"])
        group = record["attributes"]["MessageGroupId"]
        receive_count = int(record["attributes"]["ApproximateReceiveCount"])
        if group in failed_groups:
            failures.append({"itemIdentifier": record["messageId"]})
        elif receive_count < body.get("fail_until", 0):
            print(f"failed {group} {body['step']} (receive {receive_count})")
            failed_groups.add(group)
            failures.append({"itemIdentifier": record["messageId"]})
        else:
            print(f"audited {group} {body['step']}")
    return {"batchItemFailures": failures}
