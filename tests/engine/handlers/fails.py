"""A function that raises: the runtime reports the exception and the environment stays warm."""


def handler(event, context):
    return {}["x"]


def unmarshalable(event, context):
    return {"tags": {"a", "b"}}
