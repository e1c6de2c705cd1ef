"""``sitemap.xml``: a sitemap index of pages of at most 10,000 landing pages each (the
protocol allows 50,000; smaller pages keep each response quick at 10^5 datasets), with
``lastmod``. Only what an anonymous visitor may see is listed (``repository.access``):
published public datasets and embargoed ones, whose landing pages are public.
"""

from __future__ import annotations

import datetime as dt
from typing import Any
from urllib.parse import urlsplit

from django.contrib.auth.models import AnonymousUser
from django.contrib.sitemaps import Sitemap
from django.db.models import Max, QuerySet

from openem.site import site_url
from repository import access
from repository.models import Dataset, DatasetStatus

PAGE_SIZE = 10_000


class DatasetSitemap(Sitemap):  # type: ignore[type-arg]
    limit = PAGE_SIZE
    changefreq = "monthly"

    def items(self) -> QuerySet[Dataset]:
        return (
            access.datasets_visible_to(AnonymousUser())
            .filter(status=DatasetStatus.PUBLISHED)
            .only("pid", "modified")
            .order_by("pk")
        )

    def lastmod(self, item: Dataset) -> dt.datetime:
        return item.modified

    def location(self, item: Dataset) -> str:
        return item.get_absolute_url()

    # Links follow openem.site (OPENEM_SITE_URL or the request's host), not the sites framework.
    def get_protocol(self, protocol: str | None = None) -> str:
        return urlsplit(site_url()).scheme

    def get_domain(self, site: Any = None) -> str:
        return urlsplit(site_url()).netloc

    def get_latest_lastmod(self) -> dt.datetime | None:
        """One aggregate, not a pass over every item (Django's default)."""
        latest: dt.datetime | None = self.items().aggregate(latest=Max("modified"))["latest"]
        return latest


SITEMAPS: dict[str, Any] = {"datasets": DatasetSitemap}
