"""A well-behaved function: counts its invocations, logs, prints and reports what it sees."""

import logging
import os
import sys
from decimal import Decimal

print("init: hello imported")
invocations = 0


def handler(event, context):
    global invocations
    invocations += 1
    print("event", event)
    logging.info("an info record")
    logging.warning("a warning record")
    logging.error("first line\nsecond line")
    os.write(1, b"raw bytes on fd 1\n")
    os.write(2, b"raw bytes on fd 2\n")
    print("on stderr", file=sys.stderr)
    return {"invocations": invocations, "pid": os.getpid()}


def describe(event, context):
    client = context.client_context
    return {
        "aws_request_id": context.aws_request_id,
        "function_name": context.function_name,
        "function_version": context.function_version,
        "invoked_function_arn": context.invoked_function_arn,
        "memory_limit_in_mb": context.memory_limit_in_mb,
        "log_group_name": context.log_group_name,
        "log_stream_name": context.log_stream_name,
        "remaining_ms": context.get_remaining_time_in_millis(),
        "identity_id": context.identity.cognito_identity_id,
        "custom": client and client.custom,
        "app_title": client and client.client.app_title,
        "cwd": os.getcwd(),
        "first_on_path": sys.path[0],
    }


def decimals(event, context):
    return {"price": Decimal("1.5"), "quantity": Decimal("3")}


def raw_bytes(event, context):
    return b"not json at all"


def echo(event, context):
    return event
