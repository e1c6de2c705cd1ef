"""The DOIs of datasets and versions as the repository's pages and API show them: an extension
point. The app that registers DOIs (``publishing``) sits above the repository and registers a
:class:`DoiProvider` here in its ``AppConfig.ready``; without one nothing has a DOI, the pages
cite the PID URL and the API says ``not_configured``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Protocol

from .models import Dataset

#: What the API says when the portal registers no DOIs.
NOT_CONFIGURED_MESSAGE = (
    "This portal registers no DOIs: the dataset's persistent identifier is its OpenEM PID."
)

#: The ``state`` of a DOI in the API (``repository.api.dois.DoiStatusSerializer``).
DOI_STATES = ["not_configured", "none", "pending", "failed", "draft", "findable", "registered"]

#: ``statuses(dataset)`` -> the API's ``doi`` object of one dataset of a page.
ConceptStatuses = Callable[[Dataset], dict[str, Any]]


class DoiProvider(Protocol):
    def public_doi(self, dataset: Dataset, version: Any | None = None) -> str:
        """The DOI to cite (``10.xxxx/...``) once it resolves, or ''; ``version=None``: the
        concept DOI."""
        ...

    def status(self, user: Any, dataset: Dataset, version: Any | None = None) -> dict[str, Any]:
        """The API's ``doi`` object of a dataset (concept) or version, as ``user`` sees it."""
        ...

    def concept_statuses(self, user: Any, datasets: Sequence[Dataset]) -> ConceptStatuses:
        """The ``doi`` objects of a page of datasets, read at once (not one query each)."""
        ...


_providers: list[DoiProvider] = []


def register_doi_provider(provider: DoiProvider) -> None:
    """Make ``provider`` the source of DOIs (registered again, it replaces itself)."""
    _providers[:] = [provider]


def unregister_doi_provider(provider: DoiProvider) -> None:
    if provider in _providers:
        _providers.remove(provider)


def _not_configured() -> dict[str, Any]:
    return {
        "doi": None,
        "state": "not_configured",
        "url": None,
        "message": NOT_CONFIGURED_MESSAGE,
    }


def public_doi(dataset: Dataset, version: Any | None = None) -> str:
    return _providers[0].public_doi(dataset, version) if _providers else ""


def cite_url(dataset: Dataset, version: Any | None, url: str) -> str:
    """The DOI's resolver URL once the DOI resolves, else ``url`` (the landing page)."""
    doi = public_doi(dataset, version)
    return f"https://doi.org/{doi}" if doi else url


def doi_status(user: Any, dataset: Dataset, version: Any | None = None) -> dict[str, Any]:
    return _providers[0].status(user, dataset, version) if _providers else _not_configured()


def concept_doi_statuses(user: Any, datasets: Sequence[Dataset]) -> ConceptStatuses:
    if _providers:
        return _providers[0].concept_statuses(user, datasets)
    return lambda dataset: _not_configured()
