"""A function whose background thread dies of an uncaught exception."""

import threading


def explode():
    raise RuntimeError("background work failed")


def handler(event, context):
    worker = threading.Thread(target=explode, name="worker")
    worker.start()
    worker.join()
    return "handler finished"
