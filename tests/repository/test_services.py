"""Dataset services: who may write, what is refused, and the audit trail they leave."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from openem.errors import NotAllowed, ValidationFailed
from repository import services
from repository.models import AuditAction, AuditEvent, Dataset, DatasetStatus, Visibility
from repository.paths import sanitise_relative_path
from tests.factories import CITABLE_METADATA, DatasetFactory, InstrumentFactory, ProjectFactory

TOMORROW = timezone.localdate() + dt.timedelta(days=1)


def create(world, actor="staff", **overrides):
    fields = {"title": "  Apoferritin   session ", "facility": world.facility, "technique": "spa"}
    fields.update(overrides)
    return services.dataset_create(actor=world[actor], **fields)


def test_staff_create_a_private_draft_with_a_pid_and_an_audit_event(world):
    dataset = create(world, keywords=["Apoferritin", "apoferritin ", "cryo-EM"])
    assert dataset.title == "Apoferritin session"
    assert dataset.status == DatasetStatus.DRAFT and dataset.visibility == Visibility.PRIVATE
    assert dataset.pid.startswith("oem-") and len(dataset.pid) == 14
    assert dataset.keywords == ["Apoferritin", "cryo-EM"]
    assert dataset.licence == "CC-BY-4.0"
    event = AuditEvent.objects.get(action=AuditAction.CREATE)
    assert (event.actor, event.dataset) == (world["staff"], dataset)


def test_metadata_given_at_creation_gets_si_values_for_searching(world):
    dataset = create(
        world,
        metadata={
            "acquisition": {"pixel_size": {"value": 0.083, "unit": "nm"}},
            "instrument": {"acceleration_voltage": {"value": 300, "unit": "kV"}},
        },
    )

    pixel = dataset.metadata["acquisition"]["pixel_size"]
    assert pixel["value"] == 0.083 and pixel["unit"] == "nm"  # as given
    assert pixel["unitSI"] == "m" and pixel["valueSI"] == pytest.approx(0.83e-10)
    assert dataset.metadata["instrument"]["acceleration_voltage"]["valueSI"] == 300_000


@pytest.mark.parametrize("persona", ["stranger", "member", "other_staff"])
def test_people_without_a_role_at_the_facility_cannot_create(world, persona):
    with pytest.raises(NotAllowed, match="not staff of Cryo-EM Facility Basel"):
        create(world, actor=persona)
    assert not Dataset.objects.exists()


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"title": "   "}, "needs a title"),
        ({"technique": "xray"}, "technique must be one of"),
        ({"kind": "movie"}, "kind must be one of"),
        ({"licence": "my licence"}, "SPDX identifier"),
        ({"licence": "javascript:alert(1)"}, "SPDX identifier"),
        ({"licence": "<script>"}, "SPDX identifier"),
        ({"visibility": "secret"}, "visibility must be one of"),
        ({"visibility": "embargoed"}, "needs an embargo date"),
        (
            {"visibility": "embargoed", "embargo_until": timezone.localdate()},
            "must be in the future",
        ),
        ({"emdb_ids": ["EMD-12"]}, "EMDB id 'EMD-12'"),
        ({"empiar_id": "EMPIAR-1"}, "EMPIAR id"),
        ({"publication_dois": ["doi:10.1/x"]}, "DOI"),
        ({"keywords": ["x" * 101]}, "longer than 100"),
    ],
)
def test_bad_input_is_refused_with_a_clear_message_and_nothing_stored(world, overrides, message):
    with pytest.raises(ValidationFailed, match=message):
        create(world, **overrides)
    assert not Dataset.objects.exists()
    assert not AuditEvent.objects.exists()


def test_instrument_and_project_must_belong_to_the_facility(world):
    with pytest.raises(ValidationFailed, match="does not belong to"):
        create(world, instrument=InstrumentFactory(facility=world.other_facility))
    with pytest.raises(ValidationFailed, match="is not run at"):
        create(world, project=ProjectFactory(facility=world.other_facility))


def test_curators_publish_with_an_embargo_and_the_trail_says_so(world):
    dataset = create(world, metadata=CITABLE_METADATA)
    with pytest.raises(NotAllowed):
        services.dataset_publish(actor=world["staff"], dataset=dataset)
    services.dataset_publish(
        actor=world["curator"],
        dataset=dataset,
        visibility=Visibility.EMBARGOED,
        embargo_until=TOMORROW,
    )
    dataset.refresh_from_db()
    assert dataset.status == DatasetStatus.PUBLISHED
    assert (dataset.visibility, dataset.embargo_until) == (Visibility.EMBARGOED, TOMORROW)
    assert dataset.published_at is not None
    actions = list(
        AuditEvent.objects.filter(dataset=dataset)
        .order_by("created", "pk")
        .values_list("action", flat=True)
    )
    assert actions == [AuditAction.CREATE, AuditAction.VISIBILITY, AuditAction.PUBLISH]
    visibility_event = AuditEvent.objects.get(action=AuditAction.VISIBILITY)
    assert visibility_event.details["before"]["visibility"] == "private"
    assert visibility_event.details["after"] == {
        "visibility": "embargoed",
        "embargo_until": TOMORROW.isoformat(),
    }


def test_publishing_private_or_while_ingesting_is_refused_and_changes_nothing(world):
    dataset = create(world)
    with pytest.raises(ValidationFailed, match="public or embargoed"):
        services.dataset_publish(
            actor=world["curator"], dataset=dataset, visibility=Visibility.PRIVATE
        )
    Dataset.objects.filter(pk=dataset.pk).update(status=DatasetStatus.INGESTING)
    dataset.refresh_from_db()
    with pytest.raises(ValidationFailed, match="still being ingested"):
        services.dataset_publish(actor=world["curator"], dataset=dataset)
    dataset.refresh_from_db()
    assert (dataset.status, dataset.visibility) == (DatasetStatus.INGESTING, Visibility.PRIVATE)


def test_release_embargoes_opens_only_due_datasets_once(world):
    today = timezone.localdate()
    due = DatasetFactory(visibility=Visibility.EMBARGOED, embargo_until=today)
    later = DatasetFactory(
        visibility=Visibility.EMBARGOED, embargo_until=today + dt.timedelta(days=3)
    )
    assert services.release_embargoes(today=today) == 1
    assert services.release_embargoes(today=today) == 0
    due.refresh_from_db()
    later.refresh_from_db()
    assert due.visibility == Visibility.PUBLIC and later.visibility == Visibility.EMBARGOED
    assert AuditEvent.objects.filter(action=AuditAction.EMBARGO_RELEASED, dataset=due).count() == 1


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        ("Images-Disc1/GridSquare_1/Data/movie.eer", "Images-Disc1/GridSquare_1/Data/movie.eer"),
        ("Images-Disc1\\GridSquare_1\\a.tiff", "Images-Disc1/GridSquare_1/a.tiff"),
        ("./a//b/./c.mrc", "a/b/c.mrc"),
        ("Proben/Ångström.mrc", "Proben/Ångström.mrc"),
    ],
)
def test_paths_are_normalised(raw, clean):
    assert sanitise_relative_path(raw) == clean


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("", "empty"),
        ("../etc/passwd", "leaves the session folder"),
        ("a/../../b", "leaves the session folder"),
        ("/etc/passwd", "absolute"),
        ("C:/Windows/x", "absolute"),
        ("a/b\x00c", "control characters"),
        ("a/\nb", "control characters"),
        ("./.", "names no file"),
        ("a/" + "x" * 256, "longer than 255 bytes"),
        (" lead/a", "starts or ends with a space"),
        ("a/movie.mrc.", "ends with a dot"),
        ("Images./a.mrc", "ends with a dot"),
        ("CON", "reserved on Windows"),
        ("Images/nul.txt", "reserved on Windows"),
        ("lpt9.tif", "reserved on Windows"),
        ("a/movie\udcff.mrc", "control characters"),
    ],
)
def test_dangerous_paths_are_refused(raw, message):
    with pytest.raises(ValidationFailed, match=message):
        sanitise_relative_path(raw)
