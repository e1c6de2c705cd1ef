"""sitemap.xml (an index of pages of at most 10,000 landing pages, only what anonymous
visitors may see, with lastmod) and robots.txt (crawling traps disallowed, the sitemap named)."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client
from django.utils import timezone
from lxml import etree

from fair import sitemaps
from repository.models import Dataset, DatasetStatus, Visibility
from tests.factories import DatasetFactory

NS = {"s": "http://www.sitemaps.org/schemas/sitemap/0.9"}


def _xml(response: Any) -> Any:
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/xml")
    return etree.fromstring(b"".join(response) if response.streaming else response.content)


@pytest.fixture
def catalogue(world: Any) -> dict[str, Any]:
    kinds = {
        "public": DatasetFactory(facility=world.facility, published_at=timezone.now()),
        "embargoed": DatasetFactory(
            facility=world.facility,
            visibility=Visibility.EMBARGOED,
            embargo_until=timezone.localdate().replace(year=timezone.localdate().year + 1),
        ),
        "private": DatasetFactory(facility=world.facility, visibility=Visibility.PRIVATE),
        "draft": DatasetFactory(facility=world.facility, status=DatasetStatus.DRAFT),
        "withdrawn": DatasetFactory(facility=world.facility, status=DatasetStatus.WITHDRAWN),
    }
    return kinds


def test_index_and_page_list_only_public_landing_pages(
    client: Client, catalogue: dict[str, Any]
) -> None:
    index = _xml(client.get("/sitemap.xml"))
    [page_url] = index.xpath("//s:sitemap/s:loc/text()", namespaces=NS)
    assert page_url == "http://testserver/sitemap-datasets.xml"
    assert index.xpath("//s:sitemap/s:lastmod/text()", namespaces=NS)
    page = _xml(client.get("/sitemap-datasets.xml"))
    locs = set(page.xpath("//s:url/s:loc/text()", namespaces=NS))
    assert locs == {
        f"http://testserver{catalogue[kind].get_absolute_url()}" for kind in ("public", "embargoed")
    }
    lastmod = page.xpath("//s:url[1]/s:lastmod/text()", namespaces=NS)[0]
    assert lastmod.startswith(str(catalogue["public"].modified.date()))


def test_pages_hold_at_most_the_limit(client: Client, world: Any, settings: Any) -> None:
    Dataset.objects.bulk_create(
        DatasetFactory.build(facility=world.facility, owner=world["staff"], pid=f"oem-bulk{n:04d}")
        for n in range(25)
    )
    original = sitemaps.DatasetSitemap.limit
    sitemaps.DatasetSitemap.limit = 10
    try:
        index = _xml(client.get("/sitemap.xml"))
        pages = index.xpath("//s:sitemap/s:loc/text()", namespaces=NS)
        assert pages == [
            "http://testserver/sitemap-datasets.xml",
            "http://testserver/sitemap-datasets.xml?p=2",
            "http://testserver/sitemap-datasets.xml?p=3",
        ]
        sizes = [
            len(_xml(client.get("/sitemap-datasets.xml", {"p": p})).xpath("//s:url", namespaces=NS))
            for p in (1, 2, 3)
        ]
        assert sizes == [10, 10, 5]
        assert client.get("/sitemap-datasets.xml", {"p": 4}).status_code == 404
    finally:
        sitemaps.DatasetSitemap.limit = original
    assert sitemaps.PAGE_SIZE == 10_000


@pytest.mark.parametrize("page", ["0", "-1", "999", "abc", "1.5"])
def test_pages_out_of_range_are_404(client: Client, catalogue: Any, page: str) -> None:
    assert client.get("/sitemap-datasets.xml", {"p": page}).status_code == 404


def test_unknown_section_is_404(client: Client, catalogue: Any) -> None:
    assert client.get("/sitemap-nosuch.xml").status_code == 404


def test_robots_txt_disallows_the_traps_and_names_the_sitemap(client: Client) -> None:
    response = client.get("/robots.txt")
    assert response.status_code == 200
    assert response["Content-Type"] == "text/plain; charset=utf-8"
    lines = response.content.decode().splitlines()
    assert lines[0] == "User-agent: *"
    for trap in ("/api/", "/download/", "/datasets/?", "/datasets/*/files/", "/oai"):
        assert f"Disallow: {trap}" in lines
    assert "Disallow: /datasets/" not in lines  # landing pages stay crawlable
    assert "Sitemap: http://testserver/sitemap.xml" in lines
