"""Reads of DOI registrations, for the landing pages, the API, citations and the FAIR exports."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db.models import QuerySet

from openem.memo import memoized
from repository.identifiers import NOT_CONFIGURED_MESSAGE
from repository.models import Dataset

from .models import DoiRegistration, DoiState


def doi_enabled() -> bool:
    """Whether the portal registers DOIs (a DataCite prefix is configured)."""
    return bool(settings.OPENEM_DATACITE_PREFIX)


def doi_registration(dataset: Dataset, version: Any | None = None) -> DoiRegistration | None:
    """The concept registration (``version=None``) or one version's, if any."""
    if dataset.pk is None:
        return None
    found = DoiRegistration.objects.filter(dataset_id=dataset.pk)
    if version is None:
        return memoized(
            ("doi_registration", dataset.pk, None),
            lambda: found.filter(version__isnull=True).first(),
        )
    if getattr(version, "pk", None) is None:
        return None
    return memoized(
        ("doi_registration", dataset.pk, version.pk),
        lambda: found.filter(version_id=version.pk).first(),
    )


def dataset_registrations(dataset: Dataset) -> QuerySet[DoiRegistration]:
    """The concept registration first, then the versions', v1 first."""
    return (
        DoiRegistration.objects.filter(dataset_id=dataset.pk)
        .select_related("version")
        .order_by("version__number")
    )


def public_doi(dataset: Dataset, version: Any | None = None) -> str:
    """The DOI to cite, once DataCite has it findable (or hidden after a withdrawal, where it
    still resolves to the tombstone); '' otherwise."""
    # Asked even with DOIs off: a DOI registered before stays the one to cite.
    registration = doi_registration(dataset, version)
    return registration.doi if registration is not None and registration.is_public else ""


def dois_to_retry() -> QuerySet[DoiRegistration]:
    """Registrations left pending (a fault outlasted the task's retries, a worker died)."""
    return DoiRegistration.objects.filter(state=DoiState.PENDING).order_by("last_attempt_at")


@dataclass(frozen=True)
class DoiStatus:
    """What the landing page and the API say about a dataset's or version's identifier."""

    enabled: bool
    doi: str  # '' when none is reserved
    state: str  # not_configured | none | pending | failed | draft | findable | registered
    resolves: bool
    last_error: str
    attempts: int
    updated_at: Any
    registration_id: int | None

    @property
    def url(self) -> str:
        return f"https://doi.org/{self.doi}" if self.doi and self.resolves else ""

    def as_dict(self, *, with_errors: bool) -> dict[str, Any]:
        body: dict[str, Any] = {
            "doi": self.doi or None,
            "state": self.state,
            "url": self.url or None,
        }
        if self.state == "not_configured":
            body["message"] = NOT_CONFIGURED_MESSAGE
        if with_errors and self.registration_id is not None:
            body.update(
                {
                    "last_error": self.last_error,
                    "attempts": self.attempts,
                    "updated_at": self.updated_at.isoformat() if self.updated_at else None,
                }
            )
        return body


def doi_status(dataset: Dataset, version: Any | None = None) -> DoiStatus:
    return status_of(doi_registration(dataset, version))


def status_of(registration: DoiRegistration | None) -> DoiStatus:
    if registration is None:
        return DoiStatus(
            enabled=doi_enabled(),
            doi="",
            state="none" if doi_enabled() else "not_configured",
            resolves=False,
            last_error="",
            attempts=0,
            updated_at=None,
            registration_id=None,
        )
    return DoiStatus(
        enabled=doi_enabled(),
        doi=registration.doi,
        state=registration.state,
        resolves=registration.is_public,
        last_error=registration.last_error,
        attempts=registration.attempts,
        updated_at=registration.updated_at,
        registration_id=registration.pk,
    )
