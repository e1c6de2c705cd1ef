"""The ``doi`` object of datasets and versions in the API. Its values come from the DOI
provider registered with ``repository.identifiers`` (the ``publishing`` app)."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from repository.identifiers import DOI_STATES


class DoiStatusSerializer(serializers.Serializer[Any]):
    """Output only: the DOI of a dataset or version and the state of its registration."""

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
