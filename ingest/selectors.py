"""Reads about ingest progress, for the upload/progress pages and the API.

One aggregate query per call (indexed on ``dataset, state``), so a progress bar over a
session of 10^5 files stays cheap to poll.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from django.db.models import Count, Q, QuerySet, Sum
from django.db.models.functions import Coalesce

from repository.models import DataFile, Dataset, FileState

from .models import UploadSession

#: States in which a file still moves (waiting for bytes, queued or being processed).
PENDING_STATES = (FileState.REGISTERED, FileState.STORED, FileState.PROCESSING)


@dataclass(frozen=True)
class IngestProgress:
    """Counts of files and bytes by outcome; ``done`` means ready, ``failed`` needs a person."""

    files_total: int
    files_done: int
    files_failed: int
    bytes_total: int
    bytes_done: int
    bytes_failed: int
    files_by_state: dict[str, int] = field(default_factory=dict)

    @property
    def files_pending(self) -> int:
        return self.files_total - self.files_done - self.files_failed

    @property
    def bytes_pending(self) -> int:
        return self.bytes_total - self.bytes_done - self.bytes_failed

    @property
    def settled(self) -> bool:
        """Every file has ended (ready or failed); an empty set has nothing left to do."""
        return self.files_pending == 0

    @property
    def fraction_settled(self) -> float:
        """Share of the bytes that have ended, 0..1 (files when there are no bytes)."""
        if self.bytes_total:
            return (self.bytes_done + self.bytes_failed) / self.bytes_total
        if self.files_total:
            return (self.files_done + self.files_failed) / self.files_total
        return 1.0

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready, with the derived figures, for the API and the progress page."""
        return {
            **asdict(self),
            "files_pending": self.files_pending,
            "bytes_pending": self.bytes_pending,
            "settled": self.settled,
            "fraction_settled": self.fraction_settled,
        }


def _progress(files: QuerySet[DataFile]) -> IngestProgress:
    zero = 0
    done = Q(state=FileState.READY)
    failed = Q(state=FileState.FAILED)
    figures = files.aggregate(
        files_total=Count("pk"),
        files_done=Count("pk", filter=done),
        files_failed=Count("pk", filter=failed),
        bytes_total=Coalesce(Sum("size"), zero),
        bytes_done=Coalesce(Sum("size", filter=done), zero),
        bytes_failed=Coalesce(Sum("size", filter=failed), zero),
        **{f"state_{state}": Count("pk", filter=Q(state=state)) for state in FileState.values},
    )
    by_state = {state: int(figures.pop(f"state_{state}")) for state in FileState.values}
    return IngestProgress(
        **{name: int(value) for name, value in figures.items()}, files_by_state=by_state
    )


def dataset_ingest_progress(dataset: Dataset) -> IngestProgress:
    """How far the ingest of all files of a dataset has come."""
    return _progress(DataFile.objects.filter(dataset_id=dataset.pk))


def upload_session_progress(session: UploadSession) -> IngestProgress:
    """How far the files registered in one upload session have come."""
    return _progress(DataFile.objects.filter(upload_session_id=session.pk))


#: How many of the newest micrographs the landing page shows while a session is acquiring.
ACQUISITION_PREVIEWS = 6


@dataclass(frozen=True)
class Acquisition:
    """A session that ``openem watch`` keeps open while the microscope acquires."""

    session: UploadSession
    files_registered: int
    latest: list[DataFile]  # the newest ingested files with a thumbnail, newest first


def acquisition_in_progress(
    dataset: Dataset, *, previews: int = ACQUISITION_PREVIEWS
) -> Acquisition | None:
    """The dataset's open acquiring session with its newest micrographs, or None."""
    session = (
        UploadSession.objects.filter(dataset=dataset, state="open", acquiring=True)
        .order_by("-created", "-pk")
        .first()
    )
    if session is None:
        return None
    latest = list(
        DataFile.objects.filter(dataset=dataset, state=FileState.READY)
        .exclude(thumbnail_key="")
        .only("pk", "dataset_id", "name", "path", "thumbnail_key")
        .order_by("-pk")[:previews]
    )
    return Acquisition(
        session=session,
        files_registered=DataFile.objects.filter(upload_session=session).count(),
        latest=latest,
    )
