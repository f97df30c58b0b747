"""The setup notebook's first function: a thin handler over a pure core.

``greet`` is plain Python and is unit-tested with plain pytest; ``handler`` only adapts the
Lambda event to it. Configuration comes from environment variables set in template.yaml.
"""

import os
import time

# Module-level code runs once per execution environment (Init): a cold start.
INVOCATIONS = 0


def greet(name, greeting="Hello"):
    return f"{greeting}, {name}!"


def handler(event, context):
    global INVOCATIONS
    INVOCATIONS += 1
    action = event.get("action")
    if action == "sleep":
        time.sleep(float(event.get("seconds", 5)))
    elif action == "crash":
        os._exit(1)
    elif action == "raise":
        raise ValueError(f"cannot greet {event.get('name')!r}")
    print(f"greeting {event.get('name', 'world')}")
    return {
        "message": greet(event.get("name", "world"), os.environ.get("GREETING", "Hello")),
        "invocations_in_this_environment": INVOCATIONS,
    }
