"""Personal contact data (authors' e-mail addresses) only for a dataset's insiders, on every
surface that shows metadata: the API (detail and list), the landing page and its JSON-LD, the
DataCite exports and OAI-PMH. The persona matrix of tests/repository/test_access.py, for
personal data."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from tests.support.catalogue import AUTHORS, Catalogue

EMAILS = {author["email"] for author in AUTHORS}
ADDRESS = re.compile(r"[\w.+-]+@[\w-]+\.[\w.-]+")
INSIDERS = ("member", "staff", "curator", "admin")
OUTSIDERS = ("anonymous", "stranger", "other_staff")


def _client(user: Any) -> Client:
    client = Client()
    if user.is_authenticated:
        client.force_login(user)
    return client


def _surfaces(catalogue: Catalogue) -> dict[str, str]:
    pid = catalogue.public.pid
    return {
        "api detail": reverse("api:dataset-detail", kwargs={"pid": pid}),
        "api list": reverse("api:dataset-list"),
        "api search": reverse("api:dataset-list") + "?q=apoferritin",
        "landing": reverse("dataset-detail", kwargs={"pid": pid}),
        "datacite xml": f"/datasets/{pid}/datacite.xml",
        "datacite json": f"/datasets/{pid}/datacite.json",
        "oai": "/oai?verb=ListRecords&metadataPrefix=oai_dc",
    }


@pytest.mark.parametrize("persona", OUTSIDERS)
def test_outsiders_see_no_personal_e_mail_address_anywhere(catalogue, persona):
    client = _client(catalogue.world[persona])
    for surface, url in _surfaces(catalogue).items():
        response = client.get(url)
        assert response.status_code == 200, (surface, response.status_code)
        body = response.content.decode()
        leaked = EMAILS & set(ADDRESS.findall(body))
        assert not leaked, f"{surface} shows {leaked} to {persona}"
    # the rest of the authors' data is still there
    detail = client.get(_surfaces(catalogue)["api detail"]).json()
    authors = detail["metadata"]["organizational"]["authors"]
    assert [a["family_name"] for a in authors] == ["Franklin", "Dubochet"]
    assert all("email" not in author for author in authors)


@pytest.mark.parametrize("persona", INSIDERS)
def test_insiders_see_the_contact_data(catalogue, persona):
    client = _client(catalogue.world[persona])
    detail = client.get(_surfaces(catalogue)["api detail"]).json()
    emails = {a.get("email") for a in detail["metadata"]["organizational"]["authors"]}
    assert emails == EMAILS
    page = client.get(_surfaces(catalogue)["api list"]).json()
    public = next(d for d in page["results"] if d["pid"] == catalogue.public.pid)
    assert {a.get("email") for a in public["metadata"]["organizational"]["authors"]} == EMAILS
    landing = client.get(_surfaces(catalogue)["landing"]).content.decode()
    assert set(ADDRESS.findall(landing)) >= EMAILS


def test_the_list_checks_membership_once_per_page(catalogue, django_assert_max_num_queries):
    client = _client(catalogue.world["member"])
    client.get(reverse("api:dataset-list"))  # warm the session and caches
    with django_assert_max_num_queries(30):
        assert client.get(reverse("api:dataset-list")).status_code == 200
