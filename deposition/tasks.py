"""Thin task interfaces for deposition (routed to the ``export`` queue as ``deposition.*``)."""

from __future__ import annotations

from celery import shared_task

from storage import TransientStorageError

from . import services


@shared_task(
    name="deposition.package",
    acks_late=True,  # safe: the job claim makes a second delivery a no-op
    autoretry_for=(TransientStorageError,),
    retry_backoff=5,
    retry_backoff_max=600,
    retry_jitter=True,
    max_retries=5,
    soft_time_limit=12 * 3600,  # server-side copies of a multi-TB session
    time_limit=12 * 3600 + 300,
)
def package_deposition(deposition_id: int) -> str:
    return services.deposition_package_run(deposition_id)


@shared_task(name="deposition.reconcile_package_jobs")
def reconcile_package_jobs(older_than_seconds: float = 1800.0) -> int:
    """Queue again the packaging jobs a dead worker (or a lost message) left behind."""
    import datetime as dt

    ids = services.deposition_reconcile_package_jobs(
        older_than=dt.timedelta(seconds=older_than_seconds)
    )
    for deposition_id in ids:
        package_deposition.delay(deposition_id)
    return len(ids)
