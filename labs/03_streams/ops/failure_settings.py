"""How the ledger's stream mapping handles a record it can never apply.

With Lambda's defaults a failing batch is retried until its records expire (24 hours on a
Kinesis stream, up to a week with longer retention), and its shard is blocked all that time.
``failure_settings`` returns the UpdateEventSourceMapping parameters that bound it:

    lambda_client.update_event_source_mapping(UUID=uuid, **failure_settings(queue_arn))

In template.yaml the same settings are properties of the ``Kinesis`` event:

    MaximumRetryAttempts: 2
    BisectBatchOnFunctionError: true
    DestinationConfig:
      OnFailure:
        Type: SQS
        Destination: !GetAtt LedgerFailuresQueue.Arn
"""

MAX_ATTEMPTS = 3  # a poison record may be tried this many times in all (first try + retries)


def failure_settings(on_failure_queue_arn):
    """UpdateEventSourceMapping parameters: at most MAX_ATTEMPTS tries of a failing record, bisect
    so good records around a bad one still get applied, and an on-failure destination."""
    # TODO: a record that always fails must not block its shard forever: bound the attempts, split failing batches, and send what is given up to a destination
    #   step by step: return a dict with MaximumRetryAttempts (retries after the first try, so MAX_ATTEMPTS - 1), BisectBatchOnFunctionError=True and DestinationConfig={"OnFailure": {"Destination": on_failure_queue_arn}}
    raise NotImplementedError('a record that always fails must not block its shard forever: bound the attempts, split failing batches, and send what is given up to a destination')
