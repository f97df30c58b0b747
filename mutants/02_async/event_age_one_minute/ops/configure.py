# Mistake: keeps events only 60 seconds, so a burst throttled against reserved concurrency is dropped
"""How the intake function's asynchronous invocations are handled: run once against the deployed
function (or write the same settings under ``EventInvokeConfig`` in template.yaml)."""


def configure(lambda_client, function_name, on_failure_arn):
    """Retry a failed event once (so 2 attempts in all), keep events up to 4 hours (a burst against a
    small concurrency limit takes hours to drain), and send events that fail to ``on_failure_arn``."""
    return lambda_client.put_function_event_invoke_config(
        FunctionName=function_name,
        MaximumRetryAttempts=1,
        MaximumEventAgeInSeconds=60,
        DestinationConfig={"OnFailure": {"Destination": on_failure_arn}},
    )
