"""How the API shows a DOI (on datasets and versions)."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from repository import access

from .models import DoiRegistration
from .selectors import doi_status, status_of

DOI_STATES = [
    "not_configured",
    "none",
    "pending",
    "failed",
    "draft",
    "findable",
    "registered",
]


class DoiStatusSerializer(serializers.Serializer[Any]):
    """Output only (built by :func:`doi_representation`)."""

    doi = serializers.CharField(allow_null=True, help_text="e.g. 10.80000/oem-7k2m9q4x1z.v2")
    state = serializers.ChoiceField(
        choices=DOI_STATES,
        help_text="not_configured: the portal registers no DOIs (cite the PID); none: no DOI "
        "yet; pending: being sent to DataCite (faults are retried); failed: DataCite refused "
        "it (see last_error); draft: reserved; findable: registered and public; registered: "
        "hidden after a withdrawal, still resolving to the tombstone.",
    )
    url = serializers.URLField(allow_null=True, help_text="https://doi.org/... once it resolves.")
    message = serializers.CharField(required=False)
    last_error = serializers.CharField(required=False, help_text="Curators only.")
    attempts = serializers.IntegerField(required=False, help_text="Curators only.")
    updated_at = serializers.DateTimeField(
        required=False, allow_null=True, help_text="Curators only."
    )


def doi_representation(user: Any, dataset: Any, version: Any = None) -> dict[str, Any]:
    status = doi_status(dataset, version)
    curator = status.registration_id is not None and access.can_publish(user, dataset)
    return status.as_dict(with_errors=curator)


class ConceptDois:
    """The concept DOIs of a page of datasets, read in one query (not one per dataset)."""

    def __init__(self, user: Any, datasets: Any) -> None:
        self.user = user
        ids = [d.pk for d in datasets]
        self.registrations = {
            r.dataset_id: r
            for r in DoiRegistration.objects.filter(dataset_id__in=ids, version__isnull=True)
        }

    def of(self, dataset: Any) -> dict[str, Any]:
        registration = self.registrations.get(dataset.pk)
        status = status_of(registration)
        return status.as_dict(with_errors=registration is not None and self._curates(dataset))

    def _curates(self, dataset: Any) -> bool:
        if not hasattr(self, "_curated"):  # one query, and only when a DOI is shown
            self._curated = (
                None
                if access.is_site_admin(self.user)
                else set(access.facilities_curated_by(self.user))
            )
        return self._curated is None or dataset.facility_id in self._curated
