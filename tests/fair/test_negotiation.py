"""Content negotiation on the landing URL: each offered Accept type gets its format, browsers
get HTML, unknown types 406 with the offer, bad styles 400; every answer varies on Accept."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest
from django.test import Client
from lxml import etree

from fair import citations, negotiation
from fair.datacite import NAMESPACE, validate_datacite_xml
from repository import services, versions

BROWSER = "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,*/*;q=0.8"


def _get(client: Client, url: str, accept: str) -> Any:
    response = client.get(url, HTTP_ACCEPT=accept)
    assert "Accept" in response["Vary"], accept
    return response


@pytest.mark.parametrize("accept", [BROWSER, "*/*", "", "text/*", "text/html;q=0.5, */*;q=0.1"])
def test_browsers_and_wildcards_get_the_html_page(
    client: Client, published: Any, accept: str
) -> None:
    response = _get(client, published.get_absolute_url(), accept)
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/html")
    assert 'rel="cite-as"' in response["Link"]


def test_datacite_xml_validates_and_is_the_version_shown(client: Client, published: Any) -> None:
    response = _get(client, published.get_absolute_url(), "application/vnd.datacite.datacite+xml")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/vnd.datacite.datacite+xml; charset=utf-8"
    assert validate_datacite_xml(response.content) == []
    tree = etree.fromstring(response.content)
    assert tree.findtext(f"{{{NAMESPACE}}}titles/{{{NAMESPACE}}}title") == published.title
    assert response["Content-Location"].endswith(f"/datasets/{published.pid}/datacite.xml")
    v1 = _get(
        client, published.get_absolute_url() + "v/1/", "application/vnd.datacite.datacite+xml"
    )
    assert validate_datacite_xml(v1.content) == []
    assert etree.fromstring(v1.content).findtext(f"{{{NAMESPACE}}}version") == "1"


def test_datacite_json_json_ld_and_csl_json(client: Client, published: Any) -> None:
    url = published.get_absolute_url()
    attributes = json.loads(_get(client, url, "application/vnd.datacite.datacite+json").content)[
        "data"
    ]["attributes"]
    assert attributes["titles"][0]["title"] == published.title
    document = json.loads(_get(client, url + "v/1/", "application/ld+json").content)
    assert document["@type"] == "Dataset" and document["version"] == "1"
    assert document["isAccessibleForFree"] is True
    encodings = {d["encodingFormat"] for d in document["distribution"]}
    assert {
        "application/zip",
        "application/vnd.datacite.datacite+xml",
        "application/x-bibtex",
    } <= encodings
    item = json.loads(_get(client, url, "application/vnd.citationstyles.csl+json").content)
    assert item["type"] == "dataset" and item["author"][0]["family"] == "Franklin"


def test_bibtex_has_the_version(client: Client, published: Any) -> None:
    text = _get(client, published.get_absolute_url() + "v/1/", "application/x-bibtex")
    body = text.content.decode()
    assert body.startswith(f"@misc{{{published.pid},")
    assert "version = {1}" in body and body.rstrip().endswith("}")
    assert body.count("{") == body.count("}")


@pytest.mark.parametrize("style", citations.styles())
def test_bibliography_in_every_vendored_style(client: Client, published: Any, style: str) -> None:
    response = _get(client, published.get_absolute_url(), f"text/x-bibliography; style={style}")
    assert response.status_code == 200
    text = response.content.decode()
    assert "Franklin" in text and "Apoferritin" in text, text


def test_style_by_query_parameter_and_default_apa(client: Client, published: Any) -> None:
    url = published.get_absolute_url()
    apa = _get(client, url, "text/x-bibliography").content.decode()
    assert apa.startswith("Franklin, R., & Dubochet, J. (")
    assert "[Dataset]" in apa
    ieee = _get(client, url + "?style=ieee", "text/x-bibliography").content.decode()
    assert ieee.startswith("[1]") or "R. Franklin" in ieee


@pytest.mark.parametrize("style", ["nosuchstyle", "../../etc/passwd", "apa.csl"])
def test_unknown_style_is_400_naming_the_styles(client: Client, published: Any, style: str) -> None:
    response = _get(client, published.get_absolute_url(), f"text/x-bibliography; style={style}")
    assert response.status_code == 400
    assert "apa" in response.content.decode() and "ieee" in response.content.decode()
    export = client.get(f"/datasets/{published.pid}/citation.txt", {"style": style})
    assert export.status_code == 400


@pytest.mark.parametrize(
    "accept", ["application/pdf", "image/png", "application/json;q=1, text/html;q=0", "x"]
)
def test_unknown_types_are_406_with_the_offer(client: Client, published: Any, accept: str) -> None:
    response = _get(client, published.get_absolute_url(), accept)
    if accept == "x":  # not a media range at all: ignored, HTML
        assert response.status_code == 200
        return
    assert response.status_code == 406
    body = response.content.decode()
    for offered in negotiation.offered_types():
        assert offered in body


def test_quality_values_choose(client: Client, published: Any) -> None:
    accept = "application/x-bibtex;q=0.4, application/vnd.datacite.datacite+json;q=0.9"
    response = _get(client, published.get_absolute_url(), accept)
    assert response["Content-Type"].startswith("application/vnd.datacite.datacite+json")


def test_private_withdrawn_and_draft_answer_as_the_page_would(
    client: Client, world: Any, published: Any
) -> None:
    from tests.support.fair import FILES, make_dataset

    private = make_dataset(world, files=FILES)
    assert _get(client, private.get_absolute_url(), "application/ld+json").status_code == 404
    client.force_login(world["staff"])
    assert _get(client, private.get_absolute_url(), "application/ld+json").status_code == 200
    client.logout()
    versions.version_start_draft(actor=world["curator"], dataset=published)
    published.title = "Draft title nobody outside may see"
    published.save()
    document = json.loads(_get(client, published.get_absolute_url(), "application/ld+json").content)
    assert document["name"] == "Apoferritin at 1.2 A"  # the published v1, not the draft
    assert (
        _get(client, published.get_absolute_url() + "v/2/", "application/ld+json").status_code
        == 404
    )
    versions.version_withdraw(
        actor=world["curator"], dataset=published, number=1, reason="Wrong sample"
    )
    gone = _get(client, published.get_absolute_url(), "application/vnd.datacite.datacite+xml")
    assert gone.status_code == 410
    assert client.get(f"/datasets/{published.pid}/v/1/datacite.xml").status_code == 410


def test_embargo_json_ld_has_conditions_and_no_downloads(client: Client, world: Any) -> None:
    from tests.support.fair import FILES, make_dataset

    dataset = make_dataset(world, files=FILES)
    until = dt.date.today() + dt.timedelta(days=60)
    services.dataset_publish(
        actor=world["curator"], dataset=dataset, visibility="embargoed", embargo_until=until
    )
    document = json.loads(_get(client, dataset.get_absolute_url(), "application/ld+json").content)
    assert until.isoformat() in document["conditionsOfAccess"]
    assert "distribution" not in document
    assert {s["encodingFormat"] for s in document["subjectOf"]} >= {"application/x-bibtex"}
