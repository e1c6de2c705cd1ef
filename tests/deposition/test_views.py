"""The "Prepare deposition" page and its actions, for curators only."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from deposition.models import Deposition, DepositionState
from tests.support.personas import PERSONAS


def client_for(world, persona: str) -> Client:
    client = Client()
    if persona != "anonymous":
        client.force_login(world[persona])
    return client


def page(dataset, target: str = "empiar") -> str:
    return reverse("deposition-prepare", kwargs={"pid": dataset.pid, "target": target})


def action(dataset, name: str, target: str = "empiar") -> str:
    return reverse(
        "deposition-action", kwargs={"pid": dataset.pid, "target": target, "action": name}
    )


@pytest.mark.parametrize("persona", PERSONAS)
@pytest.mark.usefixtures("schemas")
def test_who_sees_the_prepare_page(world, spa_dataset, persona):
    response = client_for(world, persona).get(page(spa_dataset))
    # The dataset is not published: outsiders do not even learn that it exists.
    expected = {
        "anonymous": 302,  # to the login page
        "stranger": 404,
        "other_staff": 404,  # a curator, but of another facility
        "member": 403,  # sees the dataset, but depositing is a curator's action
        "staff": 403,
        "curator": 200,
        "admin": 200,
    }[persona]
    assert response.status_code == expected
    response = client_for(world, persona).post(action(spa_dataset, "validate"))
    assert response.status_code == (302 if expected in (200, 302) else expected)
    assert Deposition.objects.exists() is (persona in ("curator", "admin"))


@pytest.mark.usefixtures("schemas")
def test_a_published_dataset_is_seen_but_not_deposited_by_strangers(world, spa_dataset):
    from repository.services import dataset_publish

    dataset_publish(actor=world["curator"], dataset=spa_dataset)
    assert client_for(world, "stranger").get(page(spa_dataset)).status_code == 403
    assert client_for(world, "other_staff").get(page(spa_dataset)).status_code == 403


@pytest.mark.usefixtures("schemas")
def test_the_page_shows_what_was_filled_from_which_file_and_what_is_missing(
    world, ingest, tmp_path
):
    from tests.support.deposition import spa_files

    dataset = ingest(files=spa_files(tmp_path), metadata={})
    client = client_for(world, "curator")
    html = client.get(page(dataset)).content.decode()
    assert "Does not validate" in html and "(preview)" in html
    # what is missing, with a link to the metadata form field
    assert f"/datasets/{dataset.pid}/metadata/edit#f-organizational-authors" in html
    # what was filled in, and from which file
    assert "FoilHole_1_Data_1_1_20261120_091500_EER.eer" in html
    assert "4 BIT INTEGER" in html
    # values read as values: no Python tuples or lists ("('T9', '') 4 BIT INTEGER")
    import re

    cells = re.findall(r'<table class="files provenance">.*?</table>', html, re.S)[0]
    assert "(&#x27;" not in cells and "[&#x27;" not in cells and "('" not in cells, cells
    assert "4 BIT INTEGER (T9)" in cells
    assert not Deposition.objects.exists()  # a GET changes nothing


@pytest.mark.usefixtures("schemas")
def test_actions_through_the_page(world, spa_dataset, django_capture_on_commit_callbacks):
    client = client_for(world, "curator")
    response = client.post(action(spa_dataset, "validate"))
    assert response.status_code == 302 and response["Location"] == page(spa_dataset)
    deposition = Deposition.objects.get()
    assert deposition.state == DepositionState.VALIDATED
    html = client.get(page(spa_dataset)).content.decode()
    assert 'data-valid="true"' in html and "Package" in html

    with django_capture_on_commit_callbacks(execute=True):
        client.post(action(spa_dataset, "package"))
    deposition.refresh_from_db()
    assert deposition.state == DepositionState.PACKAGED
    html = client.get(page(spa_dataset)).content.decode()
    assert deposition.package_prefix in html and "ascp" in html

    manifest = client.get(
        reverse("deposition-manifest", kwargs={"pid": spa_dataset.pid, "target": "empiar"})
    )
    assert manifest.status_code == 200
    assert b'"sha256"' in b"".join(manifest.streaming_content)

    client.post(action(spa_dataset, "empiar-entry"))  # a dry run: nothing leaves the portal
    deposition.refresh_from_db()
    assert deposition.remote_entry_id is None

    client.post(action(spa_dataset, "submitted"), {"note": "uploaded with ascp"})
    response = client.post(action(spa_dataset, "accession"), {"accession": "EMPIAR-1"})
    messages = [str(m) for m in response.wsgi_request._messages]
    assert any("not an accession code" in m for m in messages)
    client.post(action(spa_dataset, "accession"), {"accession": "EMPIAR-12345"})
    deposition.refresh_from_db()
    spa_dataset.refresh_from_db()
    assert deposition.state == DepositionState.ACCESSIONED
    assert spa_dataset.empiar_id == "EMPIAR-12345"


@pytest.mark.usefixtures("schemas")
def test_an_invalid_document_is_downloaded_as_invalid(world, ingest, tmp_path):
    from tests.support.deposition import spa_files

    dataset = ingest(files=spa_files(tmp_path)[-1:], metadata={})
    client = client_for(world, "curator")
    url = reverse("deposition-document", kwargs={"pid": dataset.pid, "target": "empiar"})
    response = client.get(url)
    assert response["X-OpenEM-Valid"] == "false"
    assert 'filename="INVALID-' in response["Content-Disposition"]


@pytest.mark.usefixtures("emdb_schemas")
def test_emdb_page_offers_the_xml_and_the_mmcif(world, map_dataset):
    client = client_for(world, "admin")
    html = client.get(page(map_dataset, "emdb")).content.decode()
    assert "Validates" in html and "format=mmcif" in html
    url = reverse("deposition-document", kwargs={"pid": map_dataset.pid, "target": "emdb"})
    xml = client.get(url)
    assert xml["X-OpenEM-Valid"] == "true" and xml.content.startswith(b"<?xml")
    cif = client.get(url + "?format=mmcif")
    assert b"_em_imaging.accelerating_voltage" in cif.content


def test_unknown_archive_is_404(world, spa_dataset):
    response = client_for(world, "curator").get(page(spa_dataset, "pdb"))
    assert response.status_code == 404
