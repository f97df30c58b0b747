"""A function that takes its runtime down, in the way the event asks."""

import ctypes
import os
import signal
import sys
import time


def handler(event, context):
    how = event["how"]
    if how == "os._exit":
        os._exit(3)
    if how == "sys.exit()":
        sys.exit()
    if how == "sys.exit(2)":
        sys.exit(2)
    if how == "segfault":
        ctypes.string_at(0)
    if how == "fork, then os._exit":  # the forked child keeps every pipe of the runtime open
        if os.fork() == 0:
            time.sleep(60)
        os._exit(4)
    if how == "SIGKILL":
        os.kill(os.getpid(), signal.SIGKILL)
    return "still here"
