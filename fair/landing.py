"""What fair adds to the repository's landing pages (registered with ``repository.extensions``
in ``FairConfig.ready``): the schema.org JSON-LD of the page and, for insiders, the identifiers
to fix and what blocks a DOI."""

from __future__ import annotations

from typing import Any

from repository import jsonld
from repository.extensions import LandingPage

from . import checks, formats
from .targets import Target


def landing_context(page: LandingPage) -> dict[str, Any]:
    user = page.request.user
    explicit = page.version is not None  # a version's own page names its version
    target = Target(page.dataset, page.version, user, explicit=explicit)
    context: dict[str, Any] = {
        "json_ld": jsonld.json_ld_script(
            formats.json_ld(target, distributions=list(page.distributions))
        ),
    }
    if page.version is None:
        # Identifiers to fix and what blocks a DOI: for insiders only.
        can_edit = page.can_edit
        context["identifier_warnings"] = checks.curation_warnings(page.dataset) if can_edit else []
        context["doi_blockers"] = (
            checks.doi_blockers(page.dataset) if can_edit and checks.dois_enabled() else []
        )
    return context
