"""Links leaving the page follow the host the portal was reached at when OPENEM_SITE_URL is
not set (``make run`` on another PORT), and the setting when it is."""

from __future__ import annotations

import json
import re

import pytest
from django.test import Client
from django.urls import reverse

from tests.support.catalogue import Catalogue

HOST = "127.0.0.1:8123"


def _links(client: Client, catalogue: Catalogue) -> dict[str, str]:
    pid = catalogue.public.pid
    landing = client.get(reverse("dataset-detail", kwargs={"pid": pid})).content.decode()
    document = json.loads(
        re.search(r'<script type="application/ld\+json"[^>]*>(.*?)</script>', landing, re.S).group(
            1
        )  # type: ignore[union-attr]
    )
    return {
        "landing": landing,
        "json-ld": document["url"],
        "bibtex": client.get(reverse("dataset-citation", kwargs={"pid": pid})).content.decode(),
        "wget": b"".join(
            client.get(reverse("dataset-urls", kwargs={"pid": pid}) + "?format=wget")
        ).decode(),
    }


def test_links_follow_the_request_host_when_no_site_url_is_set(catalogue, settings):
    settings.OPENEM_SITE_URL_SET = False
    settings.OPENEM_SITE_URL = "http://127.0.0.1:8000"
    links = _links(Client(HTTP_HOST=HOST), catalogue)
    base = f"http://{HOST}"
    assert links["json-ld"] == base + catalogue.public.get_absolute_url()
    assert base + catalogue.public.get_absolute_url() in links["bibtex"]
    assert base + "/download/" in links["wget"] or "X-Amz-" in links["wget"]
    for name, text in links.items():
        assert "127.0.0.1:8000" not in text, name


def test_the_setting_wins_when_it_is_set(catalogue, settings):
    settings.OPENEM_SITE_URL_SET = True
    settings.OPENEM_SITE_URL = "https://openem.example.org"
    links = _links(Client(HTTP_HOST=HOST), catalogue)
    assert links["json-ld"] == "https://openem.example.org" + catalogue.public.get_absolute_url()
    assert "https://openem.example.org/" in links["bibtex"]
    assert HOST not in links["bibtex"] and HOST not in links["json-ld"]


@pytest.mark.parametrize("host", ["evil.example.com", "127.0.0.1:8123\r\nX: y"])
def test_a_host_not_allowed_is_refused_not_linked(catalogue, settings, host):
    settings.OPENEM_SITE_URL_SET = False
    response = Client(HTTP_HOST=host).get(catalogue.public.get_absolute_url())
    assert response.status_code == 400
    assert "evil.example.com" not in response.content.decode()
