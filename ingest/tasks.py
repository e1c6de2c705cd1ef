"""Thin task interfaces for ingest: take ids, call a service, return."""

from __future__ import annotations

import datetime as dt

from celery import shared_task
from django.db import InterfaceError, OperationalError

from openem.locks import single_run
from storage import TransientStorageError

from . import services


@shared_task(
    name="ingest.process_file",
    acks_late=True,  # safe: the claim makes a second delivery a no-op
    ignore_result=True,  # the outcome is in the database; nobody reads the task result
    # A storage hiccup, or a database connection that broke before the claim (the server
    # restarted or terminated it: the retry runs on a new one, see openem.celery).
    autoretry_for=(TransientStorageError, OperationalError, InterfaceError),
    retry_backoff=2,
    retry_backoff_max=300,
    retry_jitter=True,
    max_retries=6,
    soft_time_limit=6 * 3600,  # a TB-scale file takes a while to hash
    time_limit=6 * 3600 + 120,
)
def process_file(datafile_id: int) -> str:
    return services.datafile_process(datafile_id)


@shared_task(name="ingest.settle_dataset", acks_late=True, ignore_result=True)
def settle_dataset(dataset_id: int) -> bool:
    """Aggregate a dataset's metadata once its files are settled (an acquisition closed)."""
    return services.dataset_settle_if_done(dataset_id)


@shared_task(
    name="ingest.fixity_check",
    acks_late=True,
    # A batch must end before the next is due (every 6 h): past 5 h it stops where it is (the
    # files it did not reach are the oldest-checked next time).
    soft_time_limit=5 * 3600,
    time_limit=5 * 3600 + 120,
)
def fixity_check() -> dict[str, int]:
    """Skipped (``{"skipped": 1}``) while another run holds the lock (a second beat)."""
    with single_run("fixity_check") as mine:
        return services.fixity_check_batch() if mine else {"skipped": 1}


@shared_task(name="ingest.reconcile")
def reconcile(older_than_seconds: float = 1800.0) -> int:
    """Hand back the files a dead worker left behind, then settle the datasets whose files all
    settled while nobody settled the dataset (its worker died in between)."""
    ids = services.reconcile_stuck_files(older_than=dt.timedelta(seconds=older_than_seconds))
    for datafile_id in ids:
        process_file.delay(datafile_id)
    services.reconcile_unsettled_datasets()
    return len(ids)


@shared_task(name="ingest.abort_stale_uploads", time_limit=3600)
def abort_stale_uploads() -> dict[str, int]:
    from .uploads import abort_stale_multipart_uploads

    with single_run("abort_stale_uploads") as mine:
        return abort_stale_multipart_uploads() if mine else {"skipped": 1}
