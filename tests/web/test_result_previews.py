"""Search results show a preview image of each dataset whose files the reader may see; an
embargoed or private dataset's previews stay hidden from outsiders, in the page and by URL."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.db import connection
from django.test import Client

from repository import selectors
from repository.models import Dataset
from tests.support.catalogue import Catalogue

pytestmark = pytest.mark.django_db


def _preview_urls(html: str) -> dict[str, str]:
    """``{pid: preview image URL}`` of the result cards on a search page."""
    cards = re.findall(r'<li class="result[^"]*" data-pid="([^"]+)">(.*?)</li>', html, re.S)
    found = {}
    for pid, card in cards:
        image = re.search(r'class="result-preview"[^>]*><img src="([^"]+)"', card)
        if image:
            found[pid] = image.group(1)
    return found


def _page(client: Client) -> str:
    response = client.get("/datasets/")
    assert response.status_code == 200
    return response.content.decode()


def test_anonymous_sees_previews_of_open_datasets_only(client: Client, catalogue: Catalogue):
    previews = _preview_urls(_page(client))

    assert set(previews) == {catalogue.public.pid}
    assert catalogue.embargoed.pid in _page(client)  # listed, without a preview
    image = client.get(previews[catalogue.public.pid])
    body = b"".join(image.streaming_content) if image.streaming else image.content
    assert image.status_code == 200 and body.startswith(b"\x89PNG")


def test_facility_staff_see_previews_of_their_embargoed_datasets(
    client: Client, catalogue: Catalogue, world: Any
):
    client.force_login(world["staff"])

    previews = _preview_urls(_page(client))

    assert set(previews) == {catalogue.public.pid, catalogue.embargoed.pid, catalogue.private.pid}
    tilt = catalogue.files["tilt"]
    assert previews[catalogue.embargoed.pid].endswith(
        f"/datasets/{catalogue.embargoed.pid}/files/{tilt.pk}/thumbnail.png"
    )
    assert client.get(previews[catalogue.embargoed.pid]).status_code == 200


def test_an_outsider_cannot_fetch_an_embargoed_preview_by_url(
    client: Client, catalogue: Catalogue, world: Any
):
    tilt = catalogue.files["tilt"]
    url = f"/datasets/{catalogue.embargoed.pid}/files/{tilt.pk}/thumbnail.png"

    assert client.get(url).status_code == 403
    client.force_login(world["stranger"])
    assert client.get(url).status_code == 403


def test_a_dataset_without_thumbnails_has_no_preview(catalogue: Catalogue, world: Any):
    datasets = list(Dataset.objects.filter(pk__in=[catalogue.public.pk, catalogue.draft.pk]))

    previews = selectors.previews_for(world["admin"], datasets)

    assert set(previews) == {catalogue.public.pk}  # the draft has no file with a picture
    assert previews[catalogue.public.pk].thumbnail_key
    assert selectors.previews_for(world["staff"], []) == {}


@pytest.mark.skipif(
    connection.vendor != "postgresql",
    reason="one UNION for all previews is PostgreSQL's (SQLite asks once per dataset)",
)
def test_a_page_of_previews_costs_two_queries(
    catalogue: Catalogue, world: Any, django_assert_max_num_queries: Any
):
    datasets = list(Dataset.objects.all())
    assert len(datasets) >= 4

    with django_assert_max_num_queries(2):
        previews = selectors.previews_for(world["admin"], datasets)

    assert set(previews) == {
        catalogue.public.pk,
        catalogue.embargoed.pk,
        catalogue.private.pk,
    }
    assert all(preview.thumbnail_key for preview in previews.values())
