"""A module whose first import outlasts the Init limit; later imports are quick."""

import os
import time

MARKER = os.environ["SLOW_INIT_MARKER"]
if not os.path.exists(MARKER):
    open(MARKER, "w").close()
    time.sleep(60)


def handler(event, context):
    return "initialised"
