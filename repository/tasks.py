"""Thin task interfaces: load, call a service, return."""

from celery import shared_task

from openem.locks import single_run

from . import services


@shared_task(name="repository.release_embargoes", acks_late=True, time_limit=3600)
def release_embargoes() -> int:
    """Skipped (-1) while another run holds the lock (a second beat, a slow run)."""
    with single_run("release_embargoes") as mine:
        return services.release_embargoes() if mine else -1
