def handler(event, context):
    return "hello from the template's folder"
