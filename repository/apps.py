from django.apps import AppConfig


class RepositoryConfig(AppConfig):
    name = "repository"
    verbose_name = "Repository"

    def ready(self) -> None:
        # The Celery app, configured from Django's settings, before any task is sent (the
        # openem package no longer imports it, to keep the command-line client's start fast).
        import openem.celery  # noqa: F401
