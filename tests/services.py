"""Fixtures for the real services: the S3 server (moto, its own process) and a Celery worker."""
