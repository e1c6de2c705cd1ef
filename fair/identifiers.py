"""The identifier a dataset or version is cited by: its DOI when it has one, otherwise the
portal's own PID URL (the landing page).

The DOI provider (the ``publishing`` app) registers with ``repository.identifiers``; further
lookups may be added with :func:`register_doi_lookup`. Without a DOI (or when no DOI is
configured) every surface cites the PID URL, so nothing here depends on a DOI existing.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from openem.site import site_url
from repository import identifiers
from repository.models import Dataset

#: ``lookup(dataset, version)`` -> the DOI (``10.xxxx/...``) or "" (``version=None``: the
#: concept DOI, which resolves to the latest version).
DoiLookup = Callable[[Dataset, Any], str]
_lookups: list[DoiLookup] = []


def register_doi_lookup(lookup: DoiLookup) -> None:
    """Let ``lookup`` say which DOI a dataset (concept) or version has. Registered twice, it
    is asked once."""
    if lookup not in _lookups:
        _lookups.append(lookup)


def unregister_doi_lookup(lookup: DoiLookup) -> None:
    if lookup in _lookups:
        _lookups.remove(lookup)


def registered_doi(dataset: Dataset, version: Any | None = None) -> str:
    """The DOI registered for a version (or the concept): the DOI provider's, else a lookup's."""
    for lookup in (identifiers.public_doi, *_lookups):
        doi = (lookup(dataset, version) or "").strip()
        if doi:
            return doi.removeprefix("https://doi.org/").removeprefix("doi:")
    return ""


def doi_of(dataset: Dataset, version: Any | None = None) -> str:
    """The DOI of a version (or of the concept, ``version=None``), or "" when it has none.
    A ``doi`` field on the version or a ``concept_doi`` field on the dataset counts too."""
    doi = registered_doi(dataset, version)
    if doi:
        return doi
    if version is not None:
        return str(getattr(version, "doi", "") or "").strip()
    return str(getattr(dataset, "concept_doi", "") or getattr(dataset, "doi", "") or "").strip()


def doi_url(doi: str) -> str:
    return f"https://doi.org/{doi}"


def landing_url(dataset: Dataset, version: Any | None = None) -> str:
    """The landing page: ``/datasets/<pid>/`` (the latest) or ``/datasets/<pid>/v/<n>/``."""
    path = dataset.get_absolute_url()
    if version is not None:
        path += f"v/{version.number}/"
    return site_url() + path


def cite_as(dataset: Dataset, version: Any | None = None) -> str:
    """The URL to cite: the DOI's resolver URL, or the PID URL when there is no DOI."""
    doi = doi_of(dataset, version)
    return doi_url(doi) if doi else landing_url(dataset, version)
