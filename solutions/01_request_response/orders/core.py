"""What an order is, and how a retried POST creates it exactly once.

A client that retries a POST (after a timeout, a 500, a dropped connection) cannot know whether
the first attempt created the order. It sends the same ``Idempotency-Key`` every time; the first
request claims the key with a DynamoDB *conditional* write, later ones replay the stored response.

The claim is a lease: it ends when its owner can no longer be running (Lambda stops an invocation
at its timeout), so a retry may take over the key of a request that crashed, never one that still
works. The claim also fixes the order's id, so an attempt that wrote the order but lost the answer
and the retry that takes over write the same order, never a second one.
"""

import hashlib
import json
import os
import time
import uuid
from decimal import Decimal


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

    def claim(self, key, request_hash, order_id, lease_s):
        """Conditionally claim the key for ``lease_s`` seconds: a new key, or the lapsed claim of
        the same request. Returns the order id the key stands for (an earlier claim's, if any), or
        None when the key is taken."""
        now = time.time()
        try:
            item = self.table.update_item(
                Key={"pk": f"idempotency#{key}"},
                UpdateExpression="SET #s = :in_progress, request_hash = :hash, expires_at = :expires, "
                                 "order_id = if_not_exists(order_id, :order_id)",
                ConditionExpression="attribute_not_exists(pk) OR "
                                    "(#s = :in_progress AND expires_at < :now AND request_hash = :hash)",
                ExpressionAttributeNames={"#s": "status"},
                ExpressionAttributeValues={":in_progress": "INPROGRESS", ":hash": request_hash,
                                           ":expires": Decimal(str(now + lease_s)), ":now": Decimal(str(now)),
                                           ":order_id": order_id},
                ReturnValues="ALL_NEW",
            )["Attributes"]
            return item["order_id"]
        except self.table.meta.client.exceptions.ConditionalCheckFailedException:
            return None

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
        """End the lease at once, so a retry may take over; the record keeps the order id."""
        self.table.update_item(Key={"pk": f"idempotency#{key}"}, UpdateExpression="SET expires_at = :zero",
                               ExpressionAttributeValues={":zero": 0})


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


def new_order_id():
    return uuid.uuid4().hex[:12]


def new_order(store, wanted, order_id):
    order = {"id": order_id, **wanted}
    charge_payment(order)
    store.put_order(order)
    return order


def create_order(store, body, idempotency_key=None, lease_s=900):
    """Create an order once per idempotency key; returns ``(status, order)``. ``lease_s``: how long
    the claim lasts, at least until this invocation's timeout (900 s is Lambda's longest)."""
    wanted = validate(body)
    if not idempotency_key:
        return 201, new_order(store, wanted, new_order_id())
    # BEGIN SOLUTION concept: a retried POST with the same Idempotency-Key must create the order once and answer the same; a different body under that key is a client error; a key still in use by a running request must wait hint: claim the key with store.claim (a conditional write); if it is taken, replay the stored response for the same body, raise KeyReused (422) for a different body and RequestInProgress (409) while the first request runs; otherwise create the order with the id the claim returned, store.release the key if that fails, then store.complete it
    request_hash = hashlib.sha256(json.dumps(wanted, sort_keys=True).encode()).hexdigest()
    order_id = store.claim(idempotency_key, request_hash, new_order_id(), lease_s)
    if order_id is None:
        record = store.record(idempotency_key)
        if record is None:  # expired and removed a moment ago
            raise RequestInProgress("a request with this Idempotency-Key just ended; retry")
        if record["request_hash"] != request_hash:
            raise KeyReused("this Idempotency-Key was used with a different request body")
        if record["status"] != "COMPLETED":
            raise RequestInProgress("a request with this Idempotency-Key is still in progress")
        return int(record["response_status"]), json.loads(record["response_body"])
    try:
        order = new_order(store, wanted, order_id)
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
