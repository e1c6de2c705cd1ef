"""What curators should fix in a dataset's identifiers, and what blocks its DOI.

- :func:`curation_warnings`: every identifier that is not what it claims (an ORCID iD of the
  wrong form or with a wrong check digit, a facility ROR id that is no ROR id, a publication
  DOI that is no DOI), with its path. Shown to insiders on the landing page; they never make
  the metadata invalid (the OSC-EM schemas accept any text for an ORCID).
- :func:`doi_blockers`: the problems DataCite would refuse (required citation fields missing,
  a malformed ORCID/ROR/DOI value), with their paths. The DOI provider calls it before it
  registers; the dataset is still published without a DOI.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings

from metadata.identifiers import doi_problem, identifier_warnings, ror_problem
from metadata.validation import Problem
from repository.models import Dataset

from . import datacite


def curation_warnings(dataset: Dataset, version: Any | None = None) -> list[Problem]:
    source: Any = version if version is not None else dataset
    metadata = getattr(source, "metadata", None) or dataset.metadata or {}
    warnings = [Problem(f"metadata.{p.path}", p.message) for p in identifier_warnings(metadata)]
    message = ror_problem(dataset.facility.ror_id)
    if message:
        warnings.append(Problem("facility.ror_id", message))
    dois = getattr(source, "publication_dois", None) or dataset.publication_dois or []
    for index, doi in enumerate(dois):
        message = doi_problem(doi)
        if message:
            warnings.append(Problem(f"publication_dois[{index}]", message))
    return warnings


def dois_enabled() -> bool:
    """Whether the portal registers DOIs (a DataCite prefix is configured)."""
    return bool(getattr(settings, "OPENEM_DATACITE_PREFIX", ""))


def doi_blockers(dataset: Dataset, version: Any | None = None) -> list[Problem]:
    """What DataCite would refuse in the record of ``dataset`` (or ``version``); empty: the
    DOI can be registered."""
    return [
        Problem(problem.path, problem.message)
        for problem in datacite.datacite_problems(dataset, version)
    ]
