"""How the API shows a DOI (on datasets and versions)."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from repository import access

from .selectors import doi_status

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
