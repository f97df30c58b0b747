"""A function that writes megabytes to stdout, through print and straight to fd 1."""

import os

LINE = "x" * 99


def handler(event, context):
    for _ in range(event.get("lines", 30_000)):
        print(LINE)
    os.write(1, b"y" * (1024 * 1024) + b"\n")
    return "flooded"
