"""What ingest adds to the repository's landing page (registered with
``repository.extensions`` in ``IngestConfig.ready``): the panel of a live acquisition, for
those who may list the files."""

from __future__ import annotations

from typing import Any

from repository.extensions import LandingPage

from .selectors import acquisition_in_progress


def landing_context(page: LandingPage) -> dict[str, Any]:
    if page.version is not None:
        return {}  # a published version's page: no acquisition
    return {"acquisition": acquisition_in_progress(page.dataset) if page.can_list_files else None}
