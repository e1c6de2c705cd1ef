"""The schema-driven metadata form, through the Django test client on the real database."""

from __future__ import annotations

import copy
from html.parser import HTMLParser
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from repository.models import AuditAction, AuditEvent, Dataset, DatasetStatus, Visibility
from tests.factories import DatasetFactory

AUTHOR = {
    "given_name": "Ada",
    "family_name": "Lovelace",
    "email": "ada@example.org",
    "type_org": "Academic",
    "orcid": "0000-0002-1825-0097",
    "name_org": "University of Basel",
}


class Page(HTMLParser):
    """What a test needs from the form page: controls by name and the errors shown in the same
    field block (``div.md-field``) or fieldset as a control."""

    def __init__(self, html: str) -> None:
        super().__init__()
        self.controls: dict[str, dict[str, Any]] = {}
        self.options: dict[str, list[str]] = {}
        self.errors: dict[str, list[str]] = {}
        self.readonly: list[str] = []
        self.block_errors: list[tuple[int, str]] = []
        self.block_names: list[tuple[int, str]] = []
        self.blocks: list[int] = []
        self.tags: list[tuple[str, bool]] = []
        self.counter = 0
        self.select: str | None = None
        self.textarea: str | None = None
        self.capture: list[str] | None = None
        self.feed(html)
        for block, name in self.block_names:
            for other, text in self.block_errors:
                if other == block:
                    self.errors.setdefault(name, []).append(text)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = {k: v or "" for k, v in attrs}
        classes = attributes.get("class", "").split()
        opens_block = (tag == "div" and "md-field" in classes) or tag == "fieldset"
        if tag not in ("input", "option", "br", "meta", "link"):
            self.tags.append((tag, opens_block))
        if opens_block:
            self.counter += 1
            self.blocks.append(self.counter)
        name = attributes.get("name")
        if tag in ("input", "select", "textarea", "button") and name:
            self.controls[name] = {"tag": tag, **attributes}
            if self.blocks:
                self.block_names.append((self.blocks[-1], name))
        if tag == "select":
            self.select = name
            self.options[name or ""] = []
        if tag == "option" and self.select is not None:
            self.options[self.select].append(attributes.get("value", ""))
            if "selected" in attributes or len(self.options[self.select]) == 1:
                self.controls[self.select]["value"] = attributes.get("value", "")
        if tag == "p" and "field-error" in classes:
            self.capture = []
        if tag == "output":
            self.capture = []
        if tag == "textarea":
            self.textarea, self.capture = name, []

    def form_data(self) -> dict[str, str]:
        """What a browser submits when "Save" is pressed (not the JS row template)."""
        return {
            name: control.get("value", "")
            for name, control in self.controls.items()
            if control["tag"] != "button"
            and "__index__" not in name
            and (control.get("type") != "checkbox" or "checked" in control)
        }

    def handle_endtag(self, tag: str) -> None:
        if tag == "select":
            self.select = None
        if tag == "p" and self.capture is not None:
            if self.blocks:
                self.block_errors.append((self.blocks[-1], "".join(self.capture).strip()))
            self.capture = None
        if tag == "output" and self.capture is not None:
            self.readonly.append(" ".join("".join(self.capture).split()))
            self.capture = None
        if tag == "textarea" and self.capture is not None and self.textarea:
            self.controls[self.textarea]["value"] = "".join(self.capture).removeprefix("\n")
            self.capture = None
        if tag not in {open_tag for open_tag, _ in self.tags}:
            return
        while self.tags:
            open_tag, opened_block = self.tags.pop()
            if opened_block:
                self.blocks.pop()
            if open_tag == tag:
                break

    def handle_data(self, data: str) -> None:
        if self.capture is not None:
            self.capture.append(data)


def _url(dataset: Dataset, **query: str) -> str:
    url = reverse("dataset-metadata-edit", kwargs={"pid": dataset.pid})
    return url + ("?" + "&".join(f"{k}={v}" for k, v in query.items()) if query else "")


def _client(user: Any) -> Client:
    client = Client()
    if user.is_authenticated:
        client.force_login(user)
    return client


@pytest.fixture
def dataset(world: Any) -> Dataset:
    return DatasetFactory(
        facility=world.facility,
        project=world.project,
        owner=world["staff"],
        status=DatasetStatus.READY,
        visibility=Visibility.PRIVATE,
        metadata={},
    )


def _valid_post(**extra: str) -> dict[str, str]:
    data = {
        "fields": "all",
        "acquisition.date_time": "2024-05-02T09:30:00Z",
        "acquisition.pixel_size.value": "0.83",
        "acquisition.pixel_size.unit": "Å",
        "acquisition.binning_camera.width": "1",
        "acquisition.binning_camera.height": "1",
        "acquisition.detectors._rows": "1",
        "acquisition.detectors[0].name": "Falcon 4i",
        "instrument.microscope.model": "Titan Krios G4",
        "instrument.electron_source": "XFEG",
        "instrument.illumination": "FloodBeam",
        "instrument.imaging": "Brightfield",
        "instrument.acceleration_voltage.value": "300",
        "instrument.acceleration_voltage.unit": "kV",
        "organizational.authors._rows": "1",
        **{f"organizational.authors[0].{k}": v for k, v in AUTHOR.items()},
        "sample.overall_molecule.name_sample": "Apoferritin",
        "sample.overall_molecule.source": "recombinant",
        "sample.overall_molecule.assembly": "PARTICLE",
    }
    data.update(extra)
    return data


def test_page_renders_the_schema_as_fields(world, dataset):
    response = _client(world["staff"]).get(_url(dataset))
    assert response.status_code == 200
    page = Page(response.content.decode())
    # a quantity: a number and a unit select with the field's units, OSC-EM's first
    assert page.controls["acquisition.pixel_size.value"]["type"] == "number"
    assert page.options["acquisition.pixel_size.unit"][:2] == ["Å", "nm"]
    assert page.options["instrument.acceleration_voltage.unit"][0] == "kV"
    # an enumeration is a select with its values
    assert page.options["sample.overall_molecule.assembly"] == [
        "",
        "FILAMENT",
        "HELICAL ARRAY",
        "PARTICLE",
    ]
    assert page.options["organizational.authors[0].type_org"][1:] == [
        "Academic",
        "Commercial",
        "Government",
        "Other",
    ]
    # a list of objects has one blank row, a row counter and an "add another" button
    assert page.controls["organizational.authors._rows"]["value"] == "1"
    assert "organizational.authors[0].orcid" in page.controls
    assert "organizational.authors[__index__].orcid" in page.controls  # the JS template
    assert page.controls["_add"]["tag"] == "button"  # a submit button: works without JS
    # the technique is fixed by the schema and shown, not editable
    assert "acquisition.technique" not in page.controls
    assert "spa" in page.readonly
    html = response.content.decode()
    assert 'aria-required="true"' in html and 'class="req"' in html
    assert "csrfmiddlewaretoken" in page.controls


def test_required_only_hides_optional_fields(world, dataset):
    page = Page(_client(world["staff"]).get(_url(dataset, fields="required")).content.decode())
    assert "acquisition.pixel_size.value" in page.controls
    assert "instrument.microscope.model" in page.controls
    assert "instrument.cs.value" not in page.controls
    assert "sample.overall_molecule.name_sample" not in page.controls
    assert page.controls["fields"]["value"] == "required"
    full = Page(_client(world["staff"]).get(_url(dataset)).content.decode())
    assert "instrument.cs.value" in full.controls


def test_valid_post_saves_with_si_values_and_an_audit_event(world, dataset):
    response = _client(world["member"]).post(_url(dataset), _valid_post())
    assert response.status_code == 302
    dataset.refresh_from_db()
    assert dataset.metadata["acquisition"]["pixel_size"] == {
        "value": 0.83,
        "unit": "Å",
        "valueSI": 8.3e-11,
        "unitSI": "m",
    }
    assert dataset.metadata["acquisition"]["technique"] == "spa"
    assert dataset.metadata["organizational"]["authors"] == [AUTHOR]
    assert dataset.metadata_validation["valid"] is True
    assert dataset.metadata_schema.name == "spa"
    event = AuditEvent.objects.get(dataset=dataset, action=AuditAction.UPDATE)
    assert event.actor == world["member"]
    assert "acquisition.pixel_size.value" in event.details["changed"]


def _todo_paths(html: str) -> list[str]:
    """The paths listed in the form's "still to do" panel."""
    import re

    panel = re.search(r"<details[^>]*data-todo.*?</details>", html, re.S)
    return re.findall(r"<code>([^<]*)</code>", panel.group(0)) if panel else []


def test_invalid_values_are_refused_beside_their_fields_and_the_valid_ones_saved(world, dataset):
    data = _valid_post(
        **{
            "organizational.authors[0].email": "not-an-email",
            "acquisition.pixel_size.value": "",
            "acquisition.date_time": "yesterday",
        }
    )
    response = _client(world["staff"]).post(_url(dataset), data)
    assert response.status_code == 400
    html = response.content.decode()
    page = Page(html)
    assert page.errors["organizational.authors[0].email"] == [
        "'not-an-email': enter an e-mail address such as jane.doe@example.org"
    ]
    assert "not a valid date and time" in page.errors["acquisition.date_time"][0]
    # a value nobody entered is a to-do, not an error
    assert "acquisition.pixel_size.value" not in page.errors
    assert "acquisition.pixel_size" in _todo_paths(html)
    assert "Saved what was valid. 2 values could not be saved" in html
    # what was typed is shown again
    assert page.controls["organizational.authors[0].email"]["value"] == "not-an-email"
    dataset.refresh_from_db()
    stored = dataset.metadata
    assert "email" not in stored["organizational"]["authors"][0]
    assert stored["organizational"]["authors"][0]["family_name"] == "Lovelace"
    assert "date_time" not in stored["acquisition"]
    assert stored["instrument"]["acceleration_voltage"]["value"] == 300
    assert dataset.metadata_validation["valid"] is False
    assert {p["path"] for p in dataset.metadata_validation["problems"]} == {
        "acquisition.pixel_size",
        "acquisition.date_time",
        "organizational.authors[0].email",  # refused, so still to do
    }
    assert AuditEvent.objects.filter(dataset=dataset, action=AuditAction.UPDATE).exists()


def test_only_the_pixel_size_saves_and_the_rest_stays_to_do(world, dataset):
    """The deposition page's "edit acquisition.pixel_size" leads to a form that accepts
    exactly that fix, whatever else is still missing."""
    page = Page(_client(world["curator"]).get(_url(dataset)).content.decode())
    data = page.form_data()
    data["acquisition.pixel_size.value"] = "0.83"
    data["acquisition.pixel_size.unit"] = "Å"
    response = _client(world["curator"]).post(_url(dataset), data)
    assert response.status_code == 302
    dataset.refresh_from_db()
    assert dataset.metadata["acquisition"]["pixel_size"]["value"] == 0.83
    assert dataset.metadata["acquisition"]["technique"] == "spa"
    problems = {p["path"] for p in dataset.metadata_validation["problems"]}
    assert "acquisition.pixel_size" not in problems
    assert {"instrument", "acquisition.date_time"} <= problems
    html = _client(world["curator"]).get(_url(dataset)).content.decode()
    assert {"instrument", "acquisition.date_time"} <= set(_todo_paths(html))
    assert 'href="#f-acquisition-date_time"' in html


def test_unknown_unit_is_refused_and_the_value_not_stored(world, dataset):
    data = _valid_post(**{"acquisition.pixel_size.unit": "xyz"})
    response = _client(world["staff"]).post(_url(dataset), data)
    assert response.status_code == 400
    page = Page(response.content.decode())
    assert page.errors["acquisition.pixel_size.value"] == [
        "unknown unit 'xyz' at acquisition.pixel_size"
    ]
    dataset.refresh_from_db()
    assert "pixel_size" not in dataset.metadata["acquisition"]
    assert dataset.metadata["instrument"]["microscope"]["model"] == "Titan Krios G4"


def test_an_unreadable_number_keeps_the_stored_value(world, dataset):
    dataset.metadata = {"acquisition": {"binning_camera": {"width": 2, "height": 2}}}
    dataset.save()
    data = _valid_post(**{"acquisition.binning_camera.width": "two", "instrument.imaging": ""})
    response = _client(world["staff"]).post(_url(dataset), data)
    assert response.status_code == 400
    html = response.content.decode()
    page = Page(html)
    assert page.errors["acquisition.binning_camera.width"] == ["enter a whole number"]
    assert "instrument.imaging" not in page.errors
    assert "instrument.imaging" in _todo_paths(html)
    dataset.refresh_from_db()
    assert dataset.metadata["acquisition"]["binning_camera"] == {"width": 2, "height": 1}


def test_add_another_row_works_without_javascript_and_saves_nothing(world, dataset):
    data = _valid_post(_add="organizational.authors")
    response = _client(world["staff"]).post(_url(dataset), data)
    assert response.status_code == 200
    page = Page(response.content.decode())
    assert page.controls["organizational.authors._rows"]["value"] == "2"
    assert page.controls["organizational.authors[0].family_name"]["value"] == "Lovelace"
    assert page.controls["organizational.authors[1].family_name"]["value"] == ""
    dataset.refresh_from_db()
    assert dataset.metadata == {}


def test_rows_can_be_added_and_removed(world, dataset):
    second = {**AUTHOR, "given_name": "Grace", "family_name": "Hopper", "orcid": ""}
    data = _valid_post(
        **{"organizational.authors._rows": "2"},
        **{f"organizational.authors[1].{k}": v for k, v in second.items()},
    )
    assert _client(world["staff"]).post(_url(dataset), data).status_code == 302
    dataset.refresh_from_db()
    assert [a["family_name"] for a in dataset.metadata["organizational"]["authors"]] == [
        "Lovelace",
        "Hopper",
    ]
    # the page as stored, submitted with the first author's "remove" box ticked
    page = Page(_client(world["staff"]).get(_url(dataset)).content.decode())
    assert page.controls["organizational.authors[1]._origin"]["value"] == "1"
    data = page.form_data()
    data["organizational.authors[0]._remove"] = "1"
    assert _client(world["staff"]).post(_url(dataset), data).status_code == 302
    dataset.refresh_from_db()
    assert [a["family_name"] for a in dataset.metadata["organizational"]["authors"]] == ["Hopper"]


def test_extracted_values_are_prefilled_with_their_file_and_may_be_corrected(world, dataset):
    extracted = {
        "acquisition": {
            "pixel_size": {
                "value": 0.4150152790871608,
                "unit": "\u212b",
                "valueSI": 4.150152790871608e-11,
                "unitSI": "m",
            },
            "detectors": [{"name": "K3", "mode": "counting"}],
        },
        "_provenance": {
            "acquisition.pixel_size": {"file": "Images-Disc1/FoilHole_1.xml", "source": "epu"},
            "acquisition.detectors": "Images-Disc1/FoilHole_1.xml",
        },
    }
    dataset.metadata = copy.deepcopy(extracted)
    dataset.save()
    html = _client(world["staff"]).get(_url(dataset)).content.decode()
    page = Page(html)
    # shown rounded, in the unit the schema offers for the same spelling
    assert page.controls["acquisition.pixel_size.value"]["value"] == "0.415015"
    assert page.controls["acquisition.pixel_size.unit"]["value"] == "\u212b"
    assert page.options["acquisition.pixel_size.unit"][:2] == ["\u212b", "nm"]  # shown "Å"
    assert page.controls["acquisition.detectors[0].name"]["value"] == "K3"
    # the file is named once for the group it filled, not on every line
    assert html.count("from Images-Disc1/FoilHole_1.xml") == 1
    # the page posted back unchanged keeps the stored (unrounded) values and their provenance
    data = page.form_data()
    data.update({k: v for k, v in _valid_post().items() if "pixel_size" not in k})
    data["acquisition.detectors._rows"] = "1"
    data["acquisition.detectors[0].name"] = "K3"
    data["acquisition.detectors[0]._origin"] = "0"
    assert _client(world["staff"]).post(_url(dataset), data).status_code == 302
    dataset.refresh_from_db()
    assert dataset.metadata["acquisition"]["pixel_size"]["value"] == 0.4150152790871608
    assert dataset.metadata["acquisition"]["detectors"] == [{"name": "K3", "mode": "counting"}]
    assert dataset.metadata["_provenance"] == extracted["_provenance"]
    # a correction is stored, and its provenance says it was edited
    data["acquisition.pixel_size.value"] = "0.83"
    assert _client(world["staff"]).post(_url(dataset), data).status_code == 302
    dataset.refresh_from_db()
    assert dataset.metadata["acquisition"]["pixel_size"]["value"] == 0.83
    assert dataset.metadata["_provenance"]["acquisition.pixel_size"] == {
        "file": "Images-Disc1/FoilHole_1.xml",
        "source": "epu",
        "edited": True,
    }
    assert dataset.metadata["_provenance"]["acquisition.detectors"] == "Images-Disc1/FoilHole_1.xml"


def test_values_the_form_does_not_show_are_kept(world, dataset):
    dataset.metadata = {
        "processing": {
            "movies": {"descriptors": [{"descriptor_name": "align", "descriptor_thing": {"b": 1}}]}
        }
    }
    dataset.save()
    assert (
        _client(world["staff"]).post(_url(dataset), _valid_post(fields="required")).status_code
        == 302
    )
    dataset.refresh_from_db()
    assert dataset.metadata["processing"]["movies"]["descriptors"][0]["descriptor_thing"] == {
        "b": 1
    }


@pytest.mark.parametrize(
    ("persona", "status"),
    [
        ("staff", 200),
        ("curator", 200),
        ("member", 200),
        ("admin", 200),
        ("stranger", 404),  # a private dataset does not exist for them
        ("other_staff", 404),
        ("anonymous", 404),
    ],
)
def test_who_may_open_the_form_of_a_private_dataset(world, dataset, persona, status):
    assert _client(world[persona]).get(_url(dataset)).status_code == status


def test_published_dataset_strangers_get_403_and_anonymous_the_login(world, dataset):
    dataset.status, dataset.visibility = DatasetStatus.PUBLISHED, Visibility.PUBLIC
    dataset.save()
    assert _client(world["stranger"]).get(_url(dataset)).status_code == 403
    response = _client(world["stranger"]).post(_url(dataset), _valid_post())
    assert response.status_code == 403
    login = _client(world["anonymous"]).get(_url(dataset))
    assert login.status_code == 302 and reverse("login") in login["Location"]
    dataset.refresh_from_db()
    assert dataset.metadata == {}


def test_csrf_is_enforced(world, dataset):
    client = Client(enforce_csrf_checks=True)
    client.force_login(world["staff"])
    assert client.post(_url(dataset), _valid_post()).status_code == 403
    dataset.refresh_from_db()
    assert dataset.metadata == {}


@pytest.mark.parametrize(
    ("technique", "example"),
    [
        ("spa", "spa"),
        ("subtomo", "subtomo"),
        ("cellular_tomo", "cellular_tomo"),
        ("tomography", "cellular_tomo"),
        ("env_tomo", "env_tomo"),
        ("other", "general"),
    ],
)
def test_every_builtin_form_round_trips_an_official_example(world, technique, example):
    """The page of a dataset holding an official example, submitted unchanged, stores the
    same document (with the portal's SI values)."""
    from tests.support.oscem_examples import (
        official_example,
        with_real_orcids,
        without_si,
    )

    document = with_real_orcids(official_example(example))
    dataset = DatasetFactory(
        facility=world.facility,
        owner=world["staff"],
        technique=technique,
        status=DatasetStatus.READY,
        visibility=Visibility.PRIVATE,
        metadata=copy.deepcopy(document),
    )
    page = Page(_client(world["staff"]).get(_url(dataset)).content.decode())
    assert page.controls["acquisition.pixel_size.value"]["value"] == "1.2"
    response = _client(world["staff"]).post(_url(dataset), page.form_data())
    assert response.status_code == 302, Page(response.content.decode()).errors
    dataset.refresh_from_db()
    assert without_si(dataset.metadata) == without_si(document)
    assert dataset.metadata_validation["valid"] is True
    assert dataset.metadata["acquisition"]["pixel_size"]["valueSI"] == 1.2e-10
