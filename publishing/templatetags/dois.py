"""The DOI panel of a landing page: the concept DOI and the shown version's, their state, and
for curators the reason of a pending or failed registration with a retry button."""

from __future__ import annotations

from typing import Any

from django import template

from publishing.selectors import doi_enabled, doi_status
from repository import access
from repository import versions as repository_versions
from repository.models import VersionState

register = template.Library()


@register.inclusion_tag("publishing/_doi_panel.html", takes_context=True)
def doi_panel(context: Any, dataset: Any, version: Any = None) -> dict[str, Any]:
    request = context.get("request")
    user = getattr(request, "user", None)
    if version is not None and getattr(version, "state", "") == VersionState.DRAFT:
        version = repository_versions.version_latest_published(dataset)
    concept = doi_status(dataset)
    shown = doi_status(dataset, version) if version is not None else None
    rows = [("All versions (concept)", concept)]
    if shown is not None and version is not None:
        rows.append((f"Version {version.number}", shown))
    return {
        "request": request,
        "csrf_token": context.get("csrf_token"),
        "dataset": dataset,
        "enabled": doi_enabled(),
        "rows": [(label, status) for label, status in rows if status.doi],
        "curator": user is not None and access.can_publish(user, dataset),
    }
