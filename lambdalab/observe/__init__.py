"""What happened: the journal of attempts, its timeline plot, and CloudWatch-style log lines."""
