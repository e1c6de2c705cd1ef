"""Thin task interfaces: load, call a service, return."""

from celery import shared_task

from . import services


@shared_task(name="repository.release_embargoes", acks_late=True)
def release_embargoes() -> int:
    return services.release_embargoes()
