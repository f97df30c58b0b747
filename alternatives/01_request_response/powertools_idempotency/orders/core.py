"""What an order is, and how a retried POST creates it exactly once, with AWS Lambda Powertools.

Powertools' idempotency utility claims the ``Idempotency-Key`` with a conditional write to the
orders table (its record's key in ``pk``), answers a repeat from the stored response, refuses a
repeat whose body differs, and lets the claim lapse when the invocation holding it times out. The
order's id is derived from the key, so an attempt that wrote the order but failed afterwards and
the retry that follows it write the same order, never a second one.
"""

import os
import time
import uuid

from aws_lambda_powertools.utilities.idempotency import (
    DynamoDBPersistenceLayer,
    IdempotencyConfig,
    idempotent_function,
)
from aws_lambda_powertools.utilities.idempotency.exceptions import (
    IdempotencyAlreadyInProgressError,
    IdempotencyValidationError,
)


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
    """Orders in the DynamoDB table (partition key ``pk``); Powertools keeps its records there too."""

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


persistence = DynamoDBPersistenceLayer(table_name=os.environ["ORDERS_TABLE"], key_attr="pk")
config = IdempotencyConfig(event_key_jmespath="key", payload_validation_jmespath="order",
                           raise_on_no_idempotency_key=True)


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
    PAYMENT_HOLD_FILE names a file, payments also wait until it exists."""
    time.sleep(int(os.environ.get("PAYMENT_LATENCY_MS", "0")) / 1000)
    hold = os.environ.get("PAYMENT_HOLD_FILE")
    while hold and not os.path.exists(hold):
        time.sleep(0.005)


def new_order(store, wanted, order_id):
    order = {"id": order_id, **wanted}
    charge_payment(order)
    store.put_order(order)
    return order


@idempotent_function(data_keyword_argument="request", config=config, persistence_store=persistence)
def create_once(store, request):
    order_id = uuid.uuid5(uuid.NAMESPACE_URL, f"orders/{request['key']}").hex[:12]
    return new_order(store, request["order"], order_id)


def create_order(store, body, idempotency_key=None, context=None):
    """Create an order once per idempotency key; returns ``(status, order)``. ``context``: the
    Lambda context, so that a claim lapses when this invocation would time out."""
    wanted = validate(body)
    if not idempotency_key:
        return 201, new_order(store, wanted, uuid.uuid4().hex[:12])
    if context is not None:
        config.register_lambda_context(context)
    try:
        return 201, create_once(store, request={"key": idempotency_key, "order": wanted})
    except IdempotencyValidationError as err:
        raise KeyReused("this Idempotency-Key was used with a different request body") from err
    except IdempotencyAlreadyInProgressError as err:
        raise RequestInProgress("a request with this Idempotency-Key is still in progress") from err


def get_order(store, order_id):
    order = store.get_order(order_id) if order_id else None
    if order is None:
        raise OrderNotFound(f"order {order_id} not found")
    return order
