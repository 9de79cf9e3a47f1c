"""Worker-side entry points: the Celery app and tasks, and the AMI event consumer."""
