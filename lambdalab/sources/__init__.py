"""Event sources: API Gateway, the async queue (S3, SNS), stream pollers and SQS pollers."""
