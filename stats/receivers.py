"""Signals the lower layers send that this app counts."""

from __future__ import annotations

from typing import Any

from django.dispatch import receiver

from repository.signals import file_download_started

from .models import UsageKind
from .recording import usage_record


@receiver(file_download_started, dispatch_uid="stats-file-download")
def count_file_download(sender: Any, *, request: Any, datafile: Any, **_: Any) -> None:
    usage_record(
        request,
        kind=UsageKind.REQUEST,
        dataset_pid=datafile.dataset.pid,
        file_id=datafile.pk,
    )
