"""Thin task interfaces for DOI registration (queue ``default``)."""

from __future__ import annotations

from typing import Any

from celery import shared_task
from celery.utils.time import get_exponential_backoff_interval
from django.conf import settings

from openem.locks import single_run

from . import services
from .datacite_client import DataCiteUnavailable


@shared_task(
    name="publishing.register_doi",
    bind=True,
    acks_late=True,  # safe: a generation already sent is not sent again
    max_retries=None,  # counted against OPENEM_DATACITE_MAX_RETRIES below, read at run time
    soft_time_limit=300,
    time_limit=360,
)
def register_doi(self: Any, registration_id: int) -> str:
    """Retries with exponential backoff while DataCite is unavailable; after the last one the
    registration stays pending (its reason stored) for the periodic retry. Run in-process
    (the embedded default) it is tried once, never holding a request for the backoff."""
    try:
        result = services.doi_sync(registration_id)
    except DataCiteUnavailable as exc:
        if self.request.is_eager or self.request.retries >= settings.OPENEM_DATACITE_MAX_RETRIES:
            return f"pending: {exc}"
        countdown = get_exponential_backoff_interval(
            factor=2, retries=self.request.retries, maximum=600, full_jitter=True
        )
        raise self.retry(exc=exc, countdown=max(1, countdown)) from exc
    if result == "busy" and not self.request.is_eager and self.request.retries < 10:
        # Another run holds this DOI; it may have read the row before a change committed.
        raise self.retry(countdown=2)
    return result


@shared_task(name="publishing.retry_pending_dois", acks_late=True, time_limit=600)
def retry_pending_dois() -> int:
    """Skipped (-1) while another run holds the lock."""
    with single_run("retry_pending_dois") as mine:
        return services.dois_retry_pending() if mine else -1
