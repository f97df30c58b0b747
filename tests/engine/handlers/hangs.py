"""A function that never returns when asked to hang."""

import time


def handler(event, context):
    while event.get("hang"):
        time.sleep(1)
    return "done"
