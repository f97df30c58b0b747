"""How the intake function's asynchronous invocations are handled: run once against the deployed
function (or write the same settings under ``EventInvokeConfig`` in template.yaml)."""


def configure(lambda_client, function_name, on_failure_arn):
    """Retry a failed event once (so 2 attempts in all), keep events up to 4 hours (a long outage or a
    throttling backlog must not age them out), and send events that fail to ``on_failure_arn``."""
    # TODO: an async event must be retried a bounded number of times, survive a long throttling backlog, and end somewhere you can see when it fails for good
    #   step by step: lambda_client.put_function_event_invoke_config(FunctionName=..., MaximumRetryAttempts=1, MaximumEventAgeInSeconds=14400, DestinationConfig={"OnFailure": {"Destination": on_failure_arn}})
    raise NotImplementedError('an async event must be retried a bounded number of times, survive a long throttling backlog, and end somewhere you can see when it fails for good')
