"""DataCite 4.6 mapping: every field the issue lists, validated against the vendored XSD."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.utils import timezone
from lxml import etree

from deposition.demo import demo_deposition_metadata
from fair.datacite import (
    NAMESPACE,
    datacite_attributes,
    datacite_problems,
    datacite_xml,
    orcid_checksum_ok,
    validate_datacite_xml,
)
from repository.models import DatasetKind, Visibility
from tests.factories import DataFileFactory, DatasetFactory

NS = {"d": NAMESPACE}


@pytest.fixture
def published(world: Any) -> Any:
    world.facility.ror_id = "02s6k3f65"
    world.facility.save()
    metadata = demo_deposition_metadata("spa", "raw")
    metadata["organizational"]["authors"][0]["name_org"] = world.facility.name
    metadata["organizational"]["grants"] = [
        {"project_id": "310030_212345", "grant_name": "Ferritin dynamics"}
    ]
    dataset = DatasetFactory(
        facility=world.facility,
        instrument=world.instrument,
        owner=world["staff"],
        metadata=metadata,
        emdb_ids=["EMD-12345"],
        empiar_id="EMPIAR-10999",
        publication_dois=["10.1038/s41586-020-2649-2"],
        published_at=timezone.now(),
        keywords=["apoferritin", "cryo-EM"],
    )
    DataFileFactory(dataset=dataset, path="Images/m1.eer", format="eer", size=100)
    DataFileFactory(dataset=dataset, path="Images/m2.eer", format="eer", size=200)
    DataFileFactory(dataset=dataset, path="gain.mrc", format="mrc", size=50)
    return dataset


def _tree(document: bytes) -> Any:
    return etree.fromstring(document)


def test_xml_validates_against_the_official_xsd_and_carries_every_field(published: Any) -> None:
    document = datacite_xml(published, doi="10.80000/oem.test")
    assert validate_datacite_xml(document) == []
    tree = _tree(document)
    assert tree.findtext("d:identifier", namespaces=NS) == "10.80000/oem.test"
    creator = tree.find("d:creators/d:creator", NS)
    assert creator.findtext("d:creatorName", namespaces=NS) == "Curator, Chris"
    orcid = creator.find("d:nameIdentifier", NS)
    assert orcid.text == "https://orcid.org/0000-0002-1825-0097"
    assert orcid.get("nameIdentifierScheme") == "ORCID"
    affiliation = creator.find("d:affiliation", NS)
    assert affiliation.get("affiliationIdentifier") == "https://ror.org/02s6k3f65"
    publisher = tree.find("d:publisher", NS)
    assert publisher.get("publisherIdentifier") == "https://ror.org/02s6k3f65"
    assert tree.find("d:resourceType", NS).get("resourceTypeGeneral") == "Dataset"
    subjects = [s.text for s in tree.findall("d:subjects/d:subject", NS)]
    assert "apoferritin" in subjects and "Single-particle analysis" in subjects
    date_types = {d.get("dateType") for d in tree.findall("d:dates/d:date", NS)}
    assert {"Created", "Issued", "Available", "Updated"} <= date_types
    assert [s.text for s in tree.findall("d:sizes/d:size", NS)] == ["3 files", "350 bytes"]
    assert [f.text for f in tree.findall("d:formats/d:format", NS)] == [
        "EER (image/tiff)",
        "MRC (application/octet-stream)",
    ]
    rights = tree.find("d:rightsList/d:rights", NS)
    assert rights.get("rightsIdentifier") == "cc-by-4.0"
    assert rights.get("rightsIdentifierScheme") == "SPDX"
    assert rights.get("rightsURI") == "https://creativecommons.org/licenses/by/4.0/"
    related = {(r.get("relationType"), r.text) for r in tree.findall("d:relatedIdentifiers/*", NS)}
    assert ("IsSourceOf", "https://www.ebi.ac.uk/emdb/EMD-12345") in related
    assert ("IsIdenticalTo", "https://www.ebi.ac.uk/empiar/EMPIAR-10999/") in related
    assert ("IsSupplementTo", "10.1038/s41586-020-2649-2") in related
    item = tree.find("d:relatedItems/d:relatedItem", NS)
    assert item.get("relationType") == "IsCollectedBy"
    assert item.get("relatedItemType") == "Instrument"
    assert "Titan Krios G4" in item.findtext("d:titles/d:title", namespaces=NS)
    funding = tree.find("d:fundingReferences/d:fundingReference", NS)
    assert funding.findtext("d:funderName", namespaces=NS) == "Swiss National Science Foundation"
    assert funding.findtext("d:awardNumber", namespaces=NS) == "310030_212345"
    assert funding.findtext("d:awardTitle", namespaces=NS) == "Ferritin dynamics"


def test_json_attributes_match_the_xml(published: Any) -> None:
    attributes = datacite_attributes(published, doi="10.80000/oem.test")
    assert attributes["doi"] == "10.80000/oem.test"
    assert attributes["types"] == {
        "resourceTypeGeneral": "Dataset",
        "resourceType": "Cryo-EM raw data",
    }
    assert attributes["publisher"]["publisherIdentifierScheme"] == "ROR"
    assert attributes["creators"][0]["nameIdentifiers"][0]["nameIdentifierScheme"] == "ORCID"
    assert attributes["url"].endswith(f"/datasets/{published.pid}/")
    assert attributes["publicationYear"] == published.published_at.year


def test_without_a_doi_the_identifier_is_the_landing_url_and_still_valid(published: Any) -> None:
    document = datacite_xml(published)
    assert validate_datacite_xml(document) == []
    identifier = _tree(document).find("d:identifier", NS)
    assert identifier.get("identifierType") == "URL"
    assert identifier.text.endswith(f"/datasets/{published.pid}/")


def test_version_links_and_embargo(published: Any) -> None:
    published.visibility = Visibility.EMBARGOED
    published.embargo_until = dt.date(2030, 1, 1)
    published.kind = DatasetKind.MAP
    published.save()
    document = datacite_xml(
        published,
        doi="10.80000/oem.v2",
        version_dois=["10.80000/oem.v1", "10.80000/oem.v2"],
        previous_doi="10.80000/oem.v1",
    )
    assert validate_datacite_xml(document) == []
    tree = _tree(document)
    related = {(r.get("relationType"), r.text) for r in tree.findall("d:relatedIdentifiers/*", NS)}
    assert ("HasVersion", "10.80000/oem.v1") in related
    assert ("IsNewVersionOf", "10.80000/oem.v1") in related
    assert ("IsVariantFormOf", "https://www.ebi.ac.uk/emdb/EMD-12345") in related
    available = [
        d.text for d in tree.findall("d:dates/d:date", NS) if d.get("dateType") == "Available"
    ]
    assert available == ["2030-01-01"]


def test_a_dataset_without_authors_is_credited_to_its_facility(world: Any) -> None:
    dataset = DatasetFactory(facility=world.facility, owner=world["staff"], metadata={})
    document = datacite_xml(dataset)
    assert validate_datacite_xml(document) == []
    creator = _tree(document).find("d:creators/d:creator/d:creatorName", NS)
    assert creator.text == world.facility.name and creator.get("nameType") == "Organizational"
    assert [p.path for p in datacite_problems(dataset)] == ["metadata.organizational.authors"]


def test_problems_name_the_path_of_each_bad_value(world: Any) -> None:
    metadata = demo_deposition_metadata("spa", "raw")
    metadata["organizational"]["authors"][1]["orcid"] = "0000-0002-1825-0098"  # bad checksum
    dataset = DatasetFactory(
        facility=world.facility,
        owner=world["staff"],
        metadata=metadata,
        licence="",
        publication_dois=["doi:nonsense"],
    )
    problems = {p.path: p.message for p in datacite_problems(dataset)}
    assert set(problems) == {
        "licence",
        "metadata.organizational.authors[1].orcid",
        "publication_dois[0]",
    }
    assert "0000-0002-1825-0098" in problems["metadata.organizational.authors[1].orcid"]
    # The XML leaves the bad ORCID out rather than sending DataCite a broken identifier.
    document = datacite_xml(dataset)
    assert b"0000-0002-1825-0098" not in document
    assert b"https://orcid.org/0000-0002-1825-0097" in document


def test_the_validator_reports_what_the_xsd_refuses() -> None:
    broken = (
        f'<resource xmlns="{NAMESPACE}"><identifier identifierType="DOI">10.1/x</identifier>'
        "</resource>"
    ).encode()
    errors = validate_datacite_xml(broken)
    assert errors and any("creators" in e for e in errors)
    assert validate_datacite_xml(b"<not xml")[0].startswith("not well-formed XML")


def test_orcid_checksum() -> None:
    assert orcid_checksum_ok("0000-0002-1825-0097")
    assert orcid_checksum_ok("0000-0002-1694-233X")
    assert not orcid_checksum_ok("0000-0002-1825-0098")


def test_export_urls_serve_visible_datasets_only(client: Any, published: Any, world: Any) -> None:
    response = client.get(f"/datasets/{published.pid}/datacite.xml")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/vnd.datacite.datacite+xml")
    assert validate_datacite_xml(response.content) == []
    response = client.get(f"/datasets/{published.pid}/datacite.json")
    assert response.json()["data"]["attributes"]["titles"][0]["title"] == published.title
    private = DatasetFactory(
        facility=world.facility, owner=world["staff"], visibility=Visibility.PRIVATE
    )
    for suffix in ("datacite.xml", "datacite.json"):
        assert client.get(f"/datasets/{private.pid}/{suffix}").status_code == 404
        assert client.get(f"/datasets/oem-nosuchthing/{suffix}").status_code == 404
    client.force_login(world["staff"])
    assert client.get(f"/datasets/{private.pid}/datacite.xml").status_code == 200
