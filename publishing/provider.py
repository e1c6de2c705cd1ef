"""The DOI provider publishing registers with ``repository.identifiers`` (in
``PublishingConfig.ready``): the repository's pages, API and the FAIR records show the DOIs
publishing registered, without importing publishing."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from repository.identifiers import ConceptStatuses
from repository.models import Dataset

from . import selectors, serializers


class PublishingDois:
    def public_doi(self, dataset: Dataset, version: Any | None = None) -> str:
        return selectors.public_doi(dataset, version)

    def status(self, user: Any, dataset: Dataset, version: Any | None = None) -> dict[str, Any]:
        return serializers.doi_representation(user, dataset, version)

    def concept_statuses(self, user: Any, datasets: Sequence[Dataset]) -> ConceptStatuses:
        return serializers.ConceptDois(user, datasets).of


PROVIDER = PublishingDois()
