"""The Lambda service: Invoke with AWS's limits and errors, concurrency, scripted faults and the Lambda REST API."""
