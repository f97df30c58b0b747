"""Event sources: API Gateway, the async queue (S3, SNS), stream pollers, SQS pollers and
schedules (EventBridge rules and EventBridge Scheduler)."""
