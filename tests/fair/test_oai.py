"""OAI-PMH: every response valid against the OAI-PMH 2.0 schema (with oai_dc and DataCite
4.6), each error code, and a real harvester (sickle) over the live test server."""

from __future__ import annotations

import datetime as dt
import time
from typing import Any

import pytest
from django.core import signing
from django.utils import timezone
from lxml import etree
from sickle import Sickle
from sickle.oaiexceptions import (
    BadArgument,
    BadResumptionToken,
    CannotDisseminateFormat,
    IdDoesNotExist,
    NoRecordsMatch,
)

from fair import oai
from fair.xmlschemas import errors, oai_errors
from repository.models import Dataset, DatasetStatus, Technique, Visibility
from tests.factories import DatasetFactory

NS = {"o": oai.OAI_NS, "dc": oai.DC_NS, "d": "http://datacite.org/schema/kernel-4"}


def _get(client: Any, **params: str) -> Any:
    response = client.get("/oai", params)
    assert response.status_code == 200
    assert response["Content-Type"] == "text/xml; charset=utf-8"
    document = response.content
    tree = etree.fromstring(document)
    if tree.find(f".//{{{oai.OAI_DATACITE_NS}}}oai_datacite") is not None:
        # No registry ships the oai_datacite wrapper's XSD: the payload is checked against
        # DataCite 4.6 and the envelope with the payload in the wrapper's place.
        for wrapper in tree.iterfind(f".//{{{oai.OAI_DATACITE_NS}}}oai_datacite"):
            resource = wrapper.find(".//d:resource", NS)
            assert errors("datacite-4.6", resource) == []
            wrapper.getparent().replace(wrapper, resource)
        document = etree.tostring(tree)
    assert oai_errors(document) == [], document[:2000]
    return tree


def _error_code(tree: Any) -> str | None:
    error = tree.find("o:error", NS)
    return None if error is None else error.get("code")


@pytest.fixture
def catalogue(world: Any) -> dict[str, Any]:
    world.facility.ror_id = "02s6k3f65"
    world.facility.save()
    public = [
        DatasetFactory(facility=world.facility, owner=world["staff"], published_at=timezone.now())
        for _ in range(5)
    ]
    tomo = DatasetFactory(
        facility=world.other_facility,
        owner=world["staff"],
        technique=Technique.TOMOGRAPHY,
        published_at=timezone.now(),
    )
    embargoed = DatasetFactory(
        facility=world.facility,
        owner=world["staff"],
        visibility=Visibility.EMBARGOED,
        embargo_until=dt.date(2031, 1, 1),
        published_at=timezone.now(),
    )
    withdrawn = DatasetFactory(facility=world.facility, owner=world["staff"], status="withdrawn")
    private = DatasetFactory(
        facility=world.facility, owner=world["staff"], visibility=Visibility.PRIVATE
    )
    draft = DatasetFactory(
        facility=world.facility, owner=world["staff"], status=DatasetStatus.DRAFT
    )
    return {
        "public": public,
        "tomo": tomo,
        "embargoed": embargoed,
        "withdrawn": withdrawn,
        "private": private,
        "draft": draft,
    }


def test_identify(client: Any, catalogue: Any) -> None:
    tree = _get(client, verb="Identify")
    identify = tree.find("o:Identify", NS)
    assert identify.findtext("o:deletedRecord", namespaces=NS) == "persistent"
    assert identify.findtext("o:granularity", namespaces=NS) == "YYYY-MM-DDThh:mm:ssZ"
    assert identify.findtext("o:baseURL", namespaces=NS).endswith("/oai")


def test_list_metadata_formats_and_sets(client: Any, catalogue: Any, world: Any) -> None:
    tree = _get(client, verb="ListMetadataFormats")
    prefixes = [e.text for e in tree.iterfind(".//o:metadataPrefix", NS)]
    assert prefixes == ["oai_dc", "oai_datacite", "datacite"]
    tree = _get(client, verb="ListSets")
    specs = {e.text for e in tree.iterfind(".//o:setSpec", NS)}
    assert {"openaire_data", "facility:basel", "facility:scopem", "technique:spa"} <= specs


def test_only_published_non_private_datasets_and_withdrawn_as_deleted(
    client: Any, catalogue: Any
) -> None:
    tree = _get(client, verb="ListRecords", metadataPrefix="oai_dc")
    headers = tree.findall(".//o:header", NS)
    identifiers = {h.findtext("o:identifier", namespaces=NS): h for h in headers}
    expected = [*catalogue["public"], catalogue["tomo"], catalogue["embargoed"]]
    expected_ids = {oai.oai_identifier(d) for d in expected}
    deleted_id = oai.oai_identifier(catalogue["withdrawn"])
    assert set(identifiers) == expected_ids | {deleted_id}
    assert identifiers[deleted_id].get("status") == "deleted"
    assert all(identifiers[i].get("status") is None for i in expected_ids)
    records = {
        r.findtext("o:header/o:identifier", namespaces=NS): r
        for r in tree.iterfind(".//o:record", NS)
    }
    assert records[deleted_id].find("o:metadata", NS) is None
    embargoed = records[oai.oai_identifier(catalogue["embargoed"])]
    rights = [e.text for e in embargoed.iterfind(".//dc:rights", NS)]
    assert "info:eu-repo/semantics/embargoedAccess" in rights
    title = records[oai.oai_identifier(catalogue["tomo"])].findtext(".//dc:title", namespaces=NS)
    assert title == catalogue["tomo"].title


@pytest.mark.parametrize("prefix", ["oai_datacite", "datacite"])
def test_get_record_in_datacite_formats(client: Any, catalogue: Any, prefix: str) -> None:
    dataset = catalogue["public"][0]
    tree = _get(
        client, verb="GetRecord", identifier=oai.oai_identifier(dataset), metadataPrefix=prefix
    )
    assert tree.find(".//d:resource/d:titles/d:title", NS).text == dataset.title


def test_sets_select(client: Any, catalogue: Any) -> None:
    tree = _get(client, verb="ListIdentifiers", metadataPrefix="oai_dc", set="technique:tomography")
    found = [e.text for e in tree.iterfind(".//o:header/o:identifier", NS)]
    assert found == [oai.oai_identifier(catalogue["tomo"])]
    tree = _get(client, verb="ListIdentifiers", metadataPrefix="oai_dc", set="facility:scopem")
    assert [e.text for e in tree.iterfind(".//o:header/o:identifier", NS)] == found


def test_resumption_pages_by_key_and_tokens_last_ten_minutes(
    client: Any, catalogue: Any, settings: Any
) -> None:
    settings.OPENEM_OAI_PAGE_SIZE = 3
    seen: list[str] = []
    tree = _get(client, verb="ListIdentifiers", metadataPrefix="oai_dc")
    while True:
        seen += [e.text for e in tree.iterfind(".//o:header/o:identifier", NS)]
        token = tree.find(".//o:resumptionToken", NS)
        assert token.get("completeListSize") == "8"
        if not token.text:
            break
        expires = dt.datetime.strptime(token.get("expirationDate"), "%Y-%m-%dT%H:%M:%SZ")
        assert expires.replace(tzinfo=dt.UTC) - timezone.now() >= dt.timedelta(minutes=10)
        tree = _get(client, verb="ListIdentifiers", resumptionToken=token.text)
    assert len(seen) == len(set(seen)) == 8


def test_an_expired_or_forged_token_is_a_bad_resumption_token(
    client: Any, catalogue: Any, settings: Any
) -> None:
    settings.OPENEM_OAI_PAGE_SIZE = 2
    tree = _get(client, verb="ListRecords", metadataPrefix="oai_dc")
    token = tree.find(".//o:resumptionToken", NS).text
    for bad in (token[:-3] + "abc", "nonsense", token):
        if bad == token:  # the same token, on another verb
            tree = _get(client, verb="ListIdentifiers", resumptionToken=bad)
        else:
            tree = _get(client, verb="ListRecords", resumptionToken=bad)
        assert _error_code(tree) == "badResumptionToken"
    settings.OPENEM_OAI_TOKEN_SECONDS = 600

    class ElevenMinutesAgo(signing.TimestampSigner):
        def timestamp(self) -> str:
            return signing.b62_encode(int(time.time()) - 660)

    state = {"verb": "ListRecords", "prefix": "oai_dc", "after": 0, "cursor": 2, "size": 8}
    stale = ElevenMinutesAgo(salt=oai.RESUMPTION_SALT).sign_object(state, compress=True)
    fresh = signing.TimestampSigner(salt=oai.RESUMPTION_SALT).sign_object(state, compress=True)
    assert _error_code(_get(client, verb="ListRecords", resumptionToken=fresh)) is None
    tree = _get(client, verb="ListRecords", resumptionToken=stale)
    assert _error_code(tree) == "badResumptionToken"
    assert "expired" in tree.findtext("o:error", namespaces=NS)


@pytest.mark.parametrize(
    ("params", "code"),
    [
        ({}, "badVerb"),
        ({"verb": "Harvest"}, "badVerb"),
        ({"verb": "ListRecords"}, "badArgument"),
        ({"verb": "ListRecords", "metadataPrefix": "oai_dc", "from": "yesterday"}, "badArgument"),
        (
            {
                "verb": "ListRecords",
                "metadataPrefix": "oai_dc",
                "from": "2024-01-01",
                "until": "2024-01-01T00:00:00Z",
            },
            "badArgument",
        ),
        ({"verb": "ListRecords", "metadataPrefix": "oai_dc", "from": "2024-02-30"}, "badArgument"),
        (
            {
                "verb": "ListRecords",
                "metadataPrefix": "oai_dc",
                "from": "2025-01-02",
                "until": "2025-01-01",
            },
            "badArgument",
        ),
        (
            {"verb": "ListRecords", "metadataPrefix": "oai_dc", "resumptionToken": "x"},
            "badArgument",
        ),
        ({"verb": "Identify", "identifier": "x"}, "badArgument"),
        ({"verb": "GetRecord", "identifier": "oai:openem.local:oem-x"}, "badArgument"),
        ({"verb": "ListRecords", "metadataPrefix": "marc21"}, "cannotDisseminateFormat"),
        (
            {
                "verb": "GetRecord",
                "identifier": "oai:openem.local:oem-nosuch",
                "metadataPrefix": "oai_dc",
            },
            "idDoesNotExist",
        ),
        ({"verb": "ListMetadataFormats", "identifier": "nonsense"}, "idDoesNotExist"),
        (
            {"verb": "ListRecords", "metadataPrefix": "oai_dc", "set": "facility:nowhere"},
            "noRecordsMatch",
        ),
        (
            {"verb": "ListRecords", "metadataPrefix": "oai_dc", "from": "2999-01-01"},
            "noRecordsMatch",
        ),
        ({"verb": "ListSets", "resumptionToken": "x"}, "badResumptionToken"),
    ],
)
def test_bad_requests_get_the_protocol_errors(
    client: Any, catalogue: Any, params: dict, code: str
) -> None:
    tree = _get(client, **params)
    assert _error_code(tree) == code
    if code in {"badVerb", "badArgument"}:
        assert tree.find("o:request", NS).attrib == {}


def test_private_and_draft_datasets_do_not_exist(client: Any, catalogue: Any) -> None:
    for name in ("private", "draft"):
        tree = _get(
            client,
            verb="GetRecord",
            identifier=oai.oai_identifier(catalogue[name]),
            metadataPrefix="oai_dc",
        )
        assert _error_code(tree) == "idDoesNotExist"


def test_repeated_arguments_and_post(client: Any, catalogue: Any) -> None:
    response = client.get("/oai?verb=Identify&verb=Identify")
    assert _error_code(etree.fromstring(response.content)) == "badArgument"
    response = client.post("/oai", {"verb": "ListIdentifiers", "metadataPrefix": "oai_dc"})
    assert response.status_code == 200
    assert oai_errors(response.content) == []
    assert len(etree.fromstring(response.content).findall(".//o:header", NS)) == 8


@pytest.mark.django_db(transaction=True)
def test_a_real_harvester_gets_the_whole_catalogue(
    live_server: Any, catalogue: Any, settings: Any
) -> None:
    settings.OPENEM_OAI_PAGE_SIZE = 2  # several pages: sickle follows the tokens
    harvester = Sickle(f"{live_server.url}/oai", max_retries=0, timeout=30)
    assert harvester.Identify().deletedRecord == "persistent"
    records = list(harvester.ListRecords(metadataPrefix="oai_dc", ignore_deleted=False))
    by_id = {r.header.identifier: r for r in records}
    assert len(records) == len(by_id) == 8
    assert by_id[oai.oai_identifier(catalogue["withdrawn"])].deleted
    first = catalogue["public"][0]
    assert by_id[oai.oai_identifier(first)].metadata["title"] == [first.title]
    datacite_records = list(
        harvester.ListRecords(metadataPrefix="oai_datacite", ignore_deleted=True)
    )
    assert len(datacite_records) == 7
    assert all(b"kernel-4" in etree.tostring(r.xml) for r in datacite_records)
    # from/until: move one dataset's datestamp into the past and harvest around it.
    Dataset.objects.filter(pk=first.pk).update(modified=dt.datetime(2020, 5, 5, 12, tzinfo=dt.UTC))
    old = list(harvester.ListIdentifiers(metadataPrefix="oai_dc", until="2020-05-05"))
    assert [h.identifier for h in old] == [oai.oai_identifier(first)]
    recent = list(
        harvester.ListIdentifiers(metadataPrefix="oai_dc", **{"from": "2020-05-05T12:00:01Z"})
    )
    assert oai.oai_identifier(first) not in {h.identifier for h in recent}
    assert len(recent) == 7
    with pytest.raises(NoRecordsMatch):
        list(harvester.ListIdentifiers(metadataPrefix="oai_dc", set="technique:microed"))
    with pytest.raises(CannotDisseminateFormat):
        harvester.GetRecord(identifier=oai.oai_identifier(first), metadataPrefix="mods")
    with pytest.raises(IdDoesNotExist):
        harvester.GetRecord(
            identifier=oai.oai_identifier(catalogue["private"]), metadataPrefix="oai_dc"
        )
    with pytest.raises(BadArgument):
        list(harvester.ListRecords(metadataPrefix="oai_dc", **{"from": "May 2020"}))
    with pytest.raises(BadResumptionToken):
        list(harvester.ListRecords(resumptionToken="forged"))
