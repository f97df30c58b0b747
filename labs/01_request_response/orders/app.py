"""The orders API handler: API Gateway proxy event in, proxy response out.

Kept thin on purpose: it parses the request and maps outcomes to HTTP status codes; what an order
is and how a retried POST stays safe lives in ``core.py``, which plain pytest can test alone.
"""

import json
import os

import boto3
from core import OrderError, OrdersStore, create_order, get_order

# Created once per execution environment (Init), reused by every warm invocation.
_store = None


def store():
    global _store
    if _store is None:
        table = boto3.resource("dynamodb").Table(os.environ["ORDERS_TABLE"])
        _store = OrdersStore(table)
    return _store


def response(status, body):
    """A Lambda proxy response: API Gateway answers 502 to any other shape."""
    return {
        "statusCode": status,
        "headers": {"Content-Type": "application/json"},
        "body": json.dumps(body),
    }


def header(event, name):
    """Header lookup that ignores case, as HTTP does (clients send any case)."""
    for key, value in (event.get("headers") or {}).items():
        if key.lower() == name.lower():
            return value
    return None


def handler(event, context):
    # TODO: map outcomes to HTTP so that clients know whether to retry: the request's own errors are 4xx, a dependency failing is a retryable 5xx
    #   step by step: parse the request, call core.create_order (its claim lasting the invocation's remaining time) / core.get_order, and turn an OrderError into its HTTP status (400, 404, 409, 422); let any other failure raise, so API Gateway answers 502 and the client retries
    raise NotImplementedError("map outcomes to HTTP so that clients know whether to retry: the request's own errors are 4xx, a dependency failing is a retryable 5xx")
