"""How the API shows a DOI (the ``doi`` object of datasets and versions, whose schema is
``repository.api.dois.DoiStatusSerializer``)."""

from __future__ import annotations

from typing import Any

from repository import access

from .models import DoiRegistration
from .selectors import doi_status, status_of


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
