"""A module whose import never finishes."""

import time

time.sleep(60)


def handler(event, context):
    return "unreachable"
