"""The OpenEM portal's project package; its Celery app is imported here so that
``shared_task`` binds to it wherever Django starts (web, worker, management commands)."""

from .celery import app as celery_app

__all__ = ("celery_app",)
