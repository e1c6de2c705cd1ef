"""The extension points of the repository's dataset pages (``repository.extensions``,
``repository.identifiers``): apps above the repository add to its pages without being imported
by it."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.http import HttpRequest
from django.http.response import HttpResponseBase
from django.test import Client
from rest_framework.test import APIClient

from repository import extensions, identifiers
from repository.models import Dataset
from tests.support.catalogue import Catalogue

pytestmark = pytest.mark.django_db


def test_a_wrapper_registered_later_wraps_the_landing_views(
    client: Client, catalogue: Catalogue
) -> None:
    seen: list[str] = []

    def wrapper(view: Callable[..., HttpResponseBase]) -> Callable[..., HttpResponseBase]:
        def wrapped(request: HttpRequest, pid: str, *args: Any, **kwargs: Any) -> Any:
            seen.append(pid)
            response = view(request, pid, *args, **kwargs)
            response["X-Wrapped"] = "yes"
            return response

        return wrapped

    dataset: Dataset = catalogue.public
    extensions.register_view_wrapper(extensions.LANDING, wrapper)
    try:
        wrapped = client.get(dataset.get_absolute_url())
        file_page = client.get(dataset.get_absolute_url() + "files/")
    finally:
        extensions.unregister_view_wrapper(extensions.LANDING, wrapper)
    plain = client.get(dataset.get_absolute_url())
    assert wrapped.status_code == 200 and wrapped["X-Wrapped"] == "yes"
    assert seen == [dataset.pid]  # the file browser is no landing view
    assert "X-Wrapped" not in file_page and "X-Wrapped" not in plain
    assert "Link" in wrapped and 'rel="cite-as"' in plain["Link"]  # fair's wrapper still runs


def test_a_context_provider_adds_to_the_page_but_overrides_nothing(
    client: Client, catalogue: Catalogue
) -> None:
    pages: list[extensions.LandingPage] = []

    def provider(page: extensions.LandingPage) -> dict[str, Any]:
        pages.append(page)
        return {"title": "not the repository's", "url": "https://example.invalid/"}

    dataset: Dataset = catalogue.public
    extensions.register_landing_context(provider)
    try:
        response = client.get(dataset.get_absolute_url())
    finally:
        extensions.unregister_landing_context(provider)
    assert response.status_code == 200
    assert response.context["title"] == "not the repository's"  # a key of its own: added
    assert response.context["url"].endswith(dataset.get_absolute_url())  # the repository's
    assert [(p.dataset.pk, p.version) for p in pages] == [(dataset.pk, None)]


def test_without_a_doi_provider_the_api_and_citation_name_no_doi(
    catalogue: Catalogue, settings: Any
) -> None:
    from publishing.provider import PROVIDER

    settings.OPENEM_DATACITE_PREFIX = "10.80000"
    dataset: Dataset = catalogue.public
    identifiers.unregister_doi_provider(PROVIDER)
    try:
        body = APIClient().get(f"/api/v1/datasets/{dataset.pid}/").json()
        cited = identifiers.cite_url(dataset, None, "https://portal.invalid/")
    finally:
        identifiers.register_doi_provider(PROVIDER)
    assert body["doi"] == {
        "doi": None,
        "state": "not_configured",
        "url": None,
        "message": identifiers.NOT_CONFIGURED_MESSAGE,
    }
    assert cited == "https://portal.invalid/"
    provided = APIClient().get(f"/api/v1/datasets/{dataset.pid}/").json()
    assert provided["doi"]["state"] != "not_configured"  # publishing's answer again
