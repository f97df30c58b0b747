"""A function that allocates far more than its memory size, 10 MB at a time."""

CHUNK = 10 * 1024 * 1024


def handler(event, context):
    chunks = [b"\x01" * CHUNK for _ in range(event.get("mb", 400) // 10)]
    return len(chunks)
