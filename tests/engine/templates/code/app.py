"""Answers with what a test needs to see: the event, the layer's value when there is one."""

import os


def handler(event, context):
    try:
        import shared  # from a layer, when the template gives the function one

        layer = shared.VALUE
    except ImportError:
        layer = None
    return {"statusCode": 200, "body": f"{layer} {os.environ.get('STAGE', '-')}",
            "headers": {"Access-Control-Allow-Origin": "https://not-configured.example"}}
