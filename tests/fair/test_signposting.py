"""FAIR Signposting level 1 (Link headers) and level 2 (RFC 9264 linksets), read by the
`signposting` package from the live test server, plus typed checks of each relation."""

from __future__ import annotations

import json
from typing import Any

import pytest
import requests
import signposting
from django.test import Client

from fair import formats, identifiers
from fair import signposting as fair_signposting
from repository import services, versions
from tests.factories import DataFileFactory
from tests.support.fair import FILES

ORCID = "https://orcid.org/0000-0002-1825-0097"
DESCRIBEDBY = {
    formats.DATACITE_XML,
    formats.DATACITE_JSON,
    formats.JSON_LD,
    formats.BIBTEX,
    formats.CSL_JSON,
}


def _types(signposts: Any) -> set[str]:
    return {str(s.type) for s in signposts if s.type}


def test_landing_page_links_are_found_by_the_signposting_package(
    live_server: Any, published: Any
) -> None:
    url = live_server.url + published.get_absolute_url()
    found = signposting.find_signposting_http(url)
    assert str(found.citeAs.target) == url  # no DOI yet: the PID URL
    assert {str(t.target) for t in found.types} == {
        "https://schema.org/Dataset",
        "https://schema.org/AboutPage",
    }
    assert {str(a.target) for a in found.authors} == {ORCID}  # the placeholder iD is left out
    assert _types(found.describedBy) >= DESCRIBEDBY
    assert all(str(d.target).startswith(url) for d in found.describedBy)
    assert str(found.license.target) == "https://creativecommons.org/licenses/by/4.0/"
    assert len(found.items) == 3
    assert _types(found.items) == {"image/tiff", "application/octet-stream"}
    assert {str(s.type) for s in found.linksets} == {
        "application/linkset",
        "application/linkset+json",
    }


def test_every_link_resolves_and_points_back(live_server: Any, published: Any) -> None:
    url = live_server.url + published.get_absolute_url()
    found = signposting.find_signposting_http(url)
    for described in found.describedBy:
        back = signposting.find_signposting_http(str(described.target))
        assert [str(d.target) for d in back.describes] == [url], described
    for item in found.items:
        response = requests.get(str(item.target), timeout=10)
        assert response.status_code == 200
        assert response.content in FILES.values()
        back = signposting.find_signposting_http(str(item.target))
        assert str(back.collection.target) == url


@pytest.mark.parametrize("accept", ["application/linkset+json", "application/linkset"])
def test_linksets_carry_the_same_links(live_server: Any, published: Any, accept: str) -> None:
    url = live_server.url + published.get_absolute_url()
    headers = signposting.find_signposting_http(url)
    target = next(str(s.target) for s in headers.linksets if str(s.type) == accept)
    found = signposting.find_signposting_linkset(target, accept)
    landing = found.for_context(url)
    assert str(landing.citeAs.target) == url
    assert {str(a.target) for a in landing.authors} == {ORCID}
    assert _types(landing.describedBy) >= DESCRIBEDBY
    assert len(landing.items) == 3
    item = next(iter(landing.items))
    assert str(found.for_context(str(item.target)).collection.target) == url


def test_landing_url_answers_linksets_by_accept(client: Client, published: Any) -> None:
    response = client.get(published.get_absolute_url(), HTTP_ACCEPT="application/linkset+json")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/linkset+json"
    document = json.loads(response.content)
    assert document["linkset"][0]["anchor"].endswith(published.get_absolute_url())
    assert "Accept" in response["Vary"]


def test_version_pages_sign_their_version(live_server: Any, world: Any, published: Any) -> None:
    versions.version_start_draft(actor=world["curator"], dataset=published)
    DataFileFactory(dataset=published, path="extra.mrc", size=5, checksum_sha256="0" * 64)
    services.dataset_publish(actor=world["curator"], dataset=published)
    v1 = live_server.url + published.get_absolute_url() + "v/1/"
    found = signposting.find_signposting_http(v1)
    assert str(found.citeAs.target) == v1
    assert all("/v/1/" in str(d.target) for d in found.describedBy)
    assert len(found.items) == 3  # v1's frozen files, not v2's four
    assert all("/v/1/files/" in str(i.target) for i in found.items)
    latest = signposting.find_signposting_http(live_server.url + published.get_absolute_url())
    assert len(latest.items) == 4


def test_cite_as_is_the_doi_when_one_is_registered(client: Client, published: Any) -> None:
    def lookup(dataset: Any, version: Any) -> str:
        return "10.80000/oem.concept" if version is None else f"10.80000/oem.v{version.number}"

    identifiers.register_doi_lookup(lookup)
    try:
        concept = client.get(published.get_absolute_url())["Link"]
        version = client.get(published.get_absolute_url() + "v/1/")["Link"]
    finally:
        identifiers.unregister_doi_lookup(lookup)
    assert '<https://doi.org/10.80000/oem.concept> ; rel="cite-as"' in concept
    assert '<https://doi.org/10.80000/oem.v1> ; rel="cite-as"' in version


def test_many_files_link_the_linkset_instead(client: Client, published: Any) -> None:
    for index in range(fair_signposting.HEADER_ITEM_LIMIT):
        DataFileFactory(dataset=published, path=f"many/{index:03d}.mrc", size=1)
    header = client.get(published.get_absolute_url())["Link"]
    assert 'rel="item"' not in header
    assert 'rel="linkset"' in header
    document = json.loads(client.get(published.get_absolute_url() + "linkset.json").content)
    assert len(document["linkset"][0]["item"]) == fair_signposting.HEADER_ITEM_LIMIT + 3


def test_embargoed_and_private_files_are_never_items(client: Client, world: Any) -> None:
    import datetime as dt

    from tests.support.fair import FILES, make_dataset

    embargoed = make_dataset(world, files=FILES)
    services.dataset_publish(
        actor=world["curator"],
        dataset=embargoed,
        visibility="embargoed",
        embargo_until=dt.date.today() + dt.timedelta(days=30),
    )
    header = client.get(embargoed.get_absolute_url())["Link"]
    assert 'rel="cite-as"' in header and 'rel="item"' not in header
    linkset = json.loads(client.get(embargoed.get_absolute_url() + "linkset.json").content)
    assert "item" not in linkset["linkset"][0]
    private = make_dataset(world, files=FILES)
    assert client.get(private.get_absolute_url() + "linkset.json").status_code == 404
    client.force_login(world["staff"])
    assert 'rel="item"' in client.get(private.get_absolute_url())["Link"]


def test_cite_as_follows_the_publishing_apps_findable_dois(client: Client, published: Any) -> None:
    from publishing.models import DoiRegistration, DoiState, DoiTarget

    v1 = versions.version_latest_published(published)
    concept = DoiRegistration.objects.create(
        dataset=published, doi="10.80000/oem.c", state="pending"
    )
    DoiRegistration.objects.create(
        dataset=published,
        version=v1,
        doi="10.80000/oem.c.v1",
        state=DoiState.FINDABLE,
        remote_state=DoiTarget.FINDABLE,
    )
    header = client.get(published.get_absolute_url())["Link"]
    assert f'<http://testserver{published.get_absolute_url()}> ; rel="cite-as"' in header
    concept.state, concept.remote_state = DoiState.FINDABLE, DoiTarget.FINDABLE
    concept.save()
    assert (
        '<https://doi.org/10.80000/oem.c> ; rel="cite-as"'
        in client.get(published.get_absolute_url())["Link"]
    )
    version = client.get(published.get_absolute_url() + "v/1/")["Link"]
    assert '<https://doi.org/10.80000/oem.c.v1> ; rel="cite-as"' in version
    xml = client.get(published.get_absolute_url() + "v/1/datacite.xml").content.decode()
    assert "10.80000/oem.c.v1" in xml


def test_tombstones_keep_cite_as_and_nothing_else(
    client: Client, world: Any, published: Any
) -> None:
    versions.version_start_draft(actor=world["curator"], dataset=published)
    services.dataset_publish(actor=world["curator"], dataset=published)
    versions.version_withdraw(actor=world["curator"], dataset=published, number=1, reason="Bad")
    old = client.get(published.get_absolute_url() + "v/1/")
    assert old.status_code == 410
    base = f"http://testserver{published.get_absolute_url()}"
    assert f'<{base}v/1/> ; rel="cite-as"' in old["Link"]
    assert 'rel="item"' not in old["Link"] and 'rel="describedby"' not in old["Link"]
    versions.version_withdraw(actor=world["curator"], dataset=published, number=2, reason="Bad")
    gone = client.get(published.get_absolute_url())
    assert gone.status_code == 410
    assert f'<{base}> ; rel="cite-as"' in gone["Link"]
    assert "Link" not in client.get("/datasets/oem-nosuchthing/v/1/")
