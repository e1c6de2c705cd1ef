"""Report entries link to fields of the metadata form that really exist."""

from __future__ import annotations

import re

import pytest
from django.test import Client

from deposition.documents import build_document
from deposition.orgmeta import form_anchor, metadata_form_url
from tests.support.deposition import full_metadata, spa_files


def test_anchor_format():
    assert form_anchor("organizational.authors[0].orcid") == "f-organizational-authors-0-orcid"
    assert metadata_form_url("oem-x", "title") == "/datasets/oem-x/"  # a dataset field
    assert metadata_form_url("oem-x", "") == ""


@pytest.mark.usefixtures("emdb_schemas")
def test_the_links_of_a_report_land_on_inputs_of_the_metadata_form(world, ingest, tmp_path):
    metadata = full_metadata()
    authors = metadata["organizational"]["authors"]
    authors[0]["orcid"] = "0000-0002-1825-0098"  # a mistyped check digit
    authors[0]["country"] = "UK"
    authors[1]["name_org"] = ""
    authors[1]["role"] = "principal investigator"
    del metadata["instrument"]["acceleration_voltage"]
    dataset = ingest(files=spa_files(tmp_path)[-1:], metadata=metadata)
    anchors = set()
    for target in ("empiar", "emdb"):
        for issue in build_document(dataset, target).report.issues:
            if "/metadata/edit#" in issue.fix_url:
                anchors.add(issue.fix_url.split("#", 1)[1])
    assert {
        "f-organizational-authors-0-orcid",
        "f-organizational-authors-0-country",
        "f-organizational-authors-1-name_org",
        "f-instrument-acceleration_voltage",
    } <= anchors
    client = Client()
    client.force_login(world["curator"])
    response = client.get(f"/datasets/{dataset.pid}/metadata/edit")
    assert response.status_code == 200
    ids = set(re.findall(r'id="(f-[^"]+)"', response.content.decode()))
    assert anchors <= ids, sorted(anchors - ids)
