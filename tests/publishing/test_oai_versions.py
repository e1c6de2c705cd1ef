"""Issue 17's done-when, harvested: a dataset published twice has a concept DOI and two version
DOIs on the fake DataCite server, and a real harvester (sickle) finds both version DOIs in the
concept's record at /oai, in valid DataCite XML."""

from __future__ import annotations

from typing import Any

import pytest
from lxml import etree
from sickle import Sickle

from fair import oai
from fair.xmlschemas import errors
from publishing.models import DoiRegistration, DoiState
from tests.support.datacite import PREFIX, new_dataset, new_version, publish

D = "http://datacite.org/schema/kernel-4"


@pytest.mark.django_db(transaction=True)
def test_a_harvester_gets_the_concept_with_both_version_dois(
    world: Any, datacite: Any, live_server: Any, django_capture_on_commit_callbacks: Any
) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        dataset = new_dataset(world)
    publish(world, dataset, django_capture_on_commit_callbacks)
    new_version(world, dataset, django_capture_on_commit_callbacks)
    assert set(DoiRegistration.objects.filter(dataset=dataset).values_list("state", flat=True)) == {
        DoiState.FINDABLE
    }
    concept, v1, v2 = (f"{PREFIX}/{dataset.pid}".lower() + s for s in ("", ".v1", ".v2"))
    assert {concept, v1, v2} <= set(datacite.dois())

    harvester = Sickle(f"{live_server.url}/oai", max_retries=0, timeout=30)
    record = harvester.GetRecord(
        identifier=oai.oai_identifier(dataset), metadataPrefix="oai_datacite"
    )
    resource = record.xml.find(f".//{{{D}}}resource")
    assert resource is not None
    assert errors("datacite-4.6", etree.fromstring(etree.tostring(resource))) == []
    assert resource.findtext(f"{{{D}}}identifier").lower() == concept
    has_version = {
        element.text.lower()
        for element in resource.iterfind(f".//{{{D}}}relatedIdentifier")
        if element.get("relationType") == "HasVersion"
    }
    assert has_version == {v1, v2}
