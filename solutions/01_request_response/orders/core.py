"""What an order is, and how a retried POST creates it exactly once.

A client that retries a POST (after a timeout, a 500, a dropped connection) cannot know whether
the first attempt created the order. It sends the same ``Idempotency-Key`` every time; the first
request claims the key with a DynamoDB *conditional* write, later ones replay the stored response.
"""

import hashlib
import json
import os
import time
import uuid

from boto3.dynamodb.conditions import Attr


class OrderError(Exception):
    """An error the client caused or must know about; ``status`` is its HTTP status."""

    status = 400


class InvalidOrder(OrderError):
    status = 400


class OrderNotFound(OrderError):
    status = 404


class RequestInProgress(OrderError):
    """The same key is being processed right now: retry later (HTTP 409)."""

    status = 409


class KeyReused(OrderError):
    """The same key came with a different body: a client bug, never a retry (HTTP 422)."""

    status = 422


class OrdersStore:
    """Orders and idempotency records in one DynamoDB table (partition key ``pk``)."""

    def __init__(self, table):
        self.table = table

    def put_order(self, order):
        self.table.put_item(Item={"pk": f"order#{order['id']}", **order})

    def get_order(self, order_id):
        item = self.table.get_item(Key={"pk": f"order#{order_id}"}, ConsistentRead=True).get("Item")
        if item is None:
            return None
        item.pop("pk")
        return {k: (int(v) if k == "quantity" else v) for k, v in item.items()}

    def claim(self, key, request_hash):
        """Conditionally write an IN_PROGRESS record; False if the key already has one."""
        try:
            self.table.put_item(
                Item={"pk": f"idempotency#{key}", "status": "INPROGRESS", "request_hash": request_hash},
                ConditionExpression=Attr("pk").not_exists(),
            )
            return True
        except self.table.meta.client.exceptions.ConditionalCheckFailedException:
            return False

    def record(self, key):
        return self.table.get_item(Key={"pk": f"idempotency#{key}"}, ConsistentRead=True).get("Item")

    def complete(self, key, status, body):
        self.table.update_item(
            Key={"pk": f"idempotency#{key}"},
            UpdateExpression="SET #s = :done, response_status = :status, response_body = :body",
            ExpressionAttributeNames={"#s": "status"},
            ExpressionAttributeValues={":done": "COMPLETED", ":status": status, ":body": json.dumps(body)},
        )

    def release(self, key):
        self.table.delete_item(Key={"pk": f"idempotency#{key}"})


def validate(body):
    """An order is ``{"item": non-empty str, "quantity": int 1..100}``."""
    if not isinstance(body, dict):
        raise InvalidOrder("body must be a JSON object")
    item, quantity = body.get("item"), body.get("quantity")
    if not isinstance(item, str) or not item:
        raise InvalidOrder("item must be a non-empty string")
    if not isinstance(quantity, int) or isinstance(quantity, bool) or not 1 <= quantity <= 100:
        raise InvalidOrder("quantity must be an integer from 1 to 100")
    return {"item": item, "quantity": quantity}


def charge_payment(order):
    """Stands in for a slow payment provider: PAYMENT_LATENCY_MS sets how slow. When
    PAYMENT_HOLD_FILE names a file, payments also wait until it exists, so a check can keep a
    request in flight exactly as long as it needs, however fast or slow the machine."""
    time.sleep(int(os.environ.get("PAYMENT_LATENCY_MS", "0")) / 1000)
    hold = os.environ.get("PAYMENT_HOLD_FILE")
    while hold and not os.path.exists(hold):
        time.sleep(0.005)


def new_order(store, wanted):
    order = {"id": uuid.uuid4().hex[:12], **wanted}
    charge_payment(order)
    store.put_order(order)
    return order


def create_order(store, body, idempotency_key=None):
    """Create an order once per idempotency key; returns ``(status, order)``."""
    wanted = validate(body)
    if not idempotency_key:
        return 201, new_order(store, wanted)
    # BEGIN SOLUTION hint: claim the key with a conditional write; replay the stored response for the same body, raise KeyReused (422) for a different body and RequestInProgress (409) while the first request runs; release the key if creating the order fails
    request_hash = hashlib.sha256(json.dumps(wanted, sort_keys=True).encode()).hexdigest()
    if not store.claim(idempotency_key, request_hash):
        record = store.record(idempotency_key)
        if record is None:  # released by a failed attempt a moment ago
            raise RequestInProgress("a request with this Idempotency-Key just failed; retry")
        if record["request_hash"] != request_hash:
            raise KeyReused("this Idempotency-Key was used with a different request body")
        if record["status"] != "COMPLETED":
            raise RequestInProgress("a request with this Idempotency-Key is still in progress")
        return int(record["response_status"]), json.loads(record["response_body"])
    try:
        order = new_order(store, wanted)
    except Exception:
        store.release(idempotency_key)
        raise
    store.complete(idempotency_key, 201, order)
    return 201, order
    # END SOLUTION


def get_order(store, order_id):
    order = store.get_order(order_id) if order_id else None
    if order is None:
        raise OrderNotFound(f"order {order_id} not found")
    return order
