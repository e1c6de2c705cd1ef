"""Datasets through the API: listing, filters, search, ordering, pagination, create, publish."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from repository.models import AuditAction, AuditEvent, Dataset, DatasetStatus, Visibility
from tests.factories import (
    CITABLE_METADATA,
    DataFileFactory,
    DatasetFactory,
    InstrumentFactory,
    ProjectFactory,
    UserFactory,
)
from tests.support.api import error_of

TODAY = timezone.localdate()


def _pids(response) -> list[str]:
    assert response.status_code == 200, response.content
    return [item["pid"] for item in response.json()["results"]]


@pytest.fixture
def catalogue(world):
    """A few published datasets that differ in one property each."""
    other_instrument = InstrumentFactory(facility=world.other_facility)
    return {
        "ribosome": DatasetFactory(
            facility=world.facility,
            instrument=world.instrument,
            project=world.project,
            title="Ribosome in native membranes",
            technique="tomography",
            keywords=["ribosome", "Lamella"],
            created=timezone.now() - dt.timedelta(days=30),
        ),
        "apoferritin": DatasetFactory(
            facility=world.facility,
            title="Apoferritin benchmark",
            description="A 1.2 Å reference for the new detector.",
            technique="spa",
            keywords=["apoferritin", "benchmark"],
            created=timezone.now() - dt.timedelta(days=10),
        ),
        "zurich": DatasetFactory(
            facility=world.other_facility,
            instrument=other_instrument,
            title="Zebrafish retina",
            technique="cellular_tomo",
            keywords=["retina"],
            visibility=Visibility.EMBARGOED,
            embargo_until=TODAY + dt.timedelta(days=90),
            created=timezone.now() - dt.timedelta(days=1),
        ),
        "private": DatasetFactory(
            facility=world.facility,
            title="Unpublished ribosome data",
            visibility=Visibility.PRIVATE,
            status=DatasetStatus.READY,
            keywords=["ribosome"],
        ),
    }


def test_listing_shows_what_the_user_may_see_newest_first(world, catalogue):
    anonymous = _pids(APIClient().get("/api/v1/datasets/"))
    staff_client = APIClient()
    staff_client.force_login(world["staff"])
    staff = _pids(staff_client.get("/api/v1/datasets/"))

    published = [catalogue[n].pid for n in ("zurich", "apoferritin", "ribosome")]
    assert anonymous == published
    assert staff == [catalogue["private"].pid, *published]


def test_dataset_objects_link_to_landing_page_files_and_manifest(world, catalogue):
    dataset = catalogue["ribosome"]

    body = APIClient().get(f"/api/v1/datasets/{dataset.pid}/").json()

    assert body["html_url"] == f"http://testserver/datasets/{dataset.pid}/"
    assert body["url"] == f"http://testserver/api/v1/datasets/{dataset.pid}/"
    assert body["files_url"] == f"http://testserver/api/v1/datasets/{dataset.pid}/files/"
    assert body["manifest_url"] == f"http://testserver/api/v1/datasets/{dataset.pid}/manifest"
    assert body["facility"]["slug"] == "basel"
    assert body["instrument"]["id"] == world.instrument.pk
    assert body["project"]["code"] == world.project.code
    assert body["keywords"] == ["ribosome", "Lamella"]
    assert body["files_open"] is True
    assert body["metadata"] == {}
    # The links work.
    assert APIClient().get(body["files_url"]).status_code == 200
    assert APIClient().get(body["facility"]["url"]).json()["slug"] == "basel"


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"facility": "scopem"}, ["zurich"]),
        ({"technique": "spa"}, ["apoferritin"]),
        ({"visibility": "embargoed"}, ["zurich"]),
        ({"status": "published", "facility": "basel"}, ["apoferritin", "ribosome"]),
        ({"keyword": "LAMELLA"}, ["ribosome"]),
        ({"keyword": "lamel"}, []),  # whole keywords only
        ({"q": "ribosome"}, ["ribosome"]),
        ({"q": "benchmark"}, ["apoferritin"]),  # in keywords
        ({"q": "reference DETECTOR"}, ["apoferritin"]),  # all words, any case, description
        ({"q": "ribosome retina"}, []),
        ({"q": "Å"}, ["apoferritin"]),
        ({"created_after": (TODAY - dt.timedelta(days=15)).isoformat()}, ["zurich", "apoferritin"]),
        ({"created_before": (TODAY - dt.timedelta(days=15)).isoformat()}, ["ribosome"]),
        ({"ordering": "title"}, ["apoferritin", "ribosome", "zurich"]),
        ({"ordering": "-title"}, ["zurich", "ribosome", "apoferritin"]),
        ({"ordering": "oldest"}, ["ribosome", "apoferritin", "zurich"]),
    ],
)
def test_filters_search_and_ordering(world, catalogue, params, expected):
    assert _pids(APIClient().get("/api/v1/datasets/", params)) == [
        catalogue[name].pid for name in expected
    ]


def test_instrument_and_project_filters(world, catalogue):
    by_instrument = APIClient().get("/api/v1/datasets/", {"instrument": world.instrument.pk})
    by_project = APIClient().get("/api/v1/datasets/", {"project": world.project.code})

    assert _pids(by_instrument) == [catalogue["ribosome"].pid]
    assert _pids(by_project) == [catalogue["ribosome"].pid]


def test_filters_never_widen_access(world, catalogue):
    response = APIClient().get("/api/v1/datasets/", {"visibility": "private", "q": "ribosome"})
    assert _pids(response) == []


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"technique": "xray"}, "technique"),
        ({"instrument": "abc"}, "instrument"),
        ({"created_after": "yesterday"}, "created_after"),
        ({"ordering": "size"}, "ordering"),
        ({"created_after": "2025-02-01", "created_before": "2025-01-01"}, "created_before"),
    ],
)
def test_invalid_filters_are_400_with_the_field_named(world, params, field):
    response = APIClient().get("/api/v1/datasets/", params)
    assert response.status_code == 400
    error = error_of(response)
    assert error["code"] == "validation_failed"
    assert field in error["details"]
    assert field in error["message"]


@pytest.mark.parametrize("bound", ["dose_max", "dose_min", "voltage_min", "voltage_max"])
def test_a_range_bound_too_large_for_its_si_unit_is_400(world, catalogue, bound):
    # Found by the fuzz test: -1.8e308 e/Å² is a finite float, but -inf in e/m², and the
    # range around it became NaN in the query (500).
    response = APIClient().get("/api/v1/datasets/", {bound: "-1.7976931348623157e308"})
    assert response.status_code == 400
    error = error_of(response)
    assert error["code"] == "validation_failed"
    assert "too large" in error["message"]
    # In Å a bound that large is still a number in metres: no match, no error.
    tiny = APIClient().get("/api/v1/datasets/", {"pixel_size_max": "-1.7976931348623157e308"})
    assert tiny.status_code == 200
    assert tiny.json()["count"] == 0


def test_empty_filter_values_are_ignored(world, catalogue):
    response = APIClient().get("/api/v1/datasets/", {"technique": "", "instrument": "", "q": ""})
    assert len(_pids(response)) == 3


def test_pages_of_fifty_with_a_count(world):
    DatasetFactory.create_batch(55, facility=world.facility)

    first = APIClient().get("/api/v1/datasets/").json()
    second = APIClient().get(first["next"]).json()

    assert first["count"] == 55
    assert len(first["results"]) == 50
    assert len(second["results"]) == 5
    assert second["next"] is None
    seen = {d["pid"] for d in first["results"]} | {d["pid"] for d in second["results"]}
    assert len(seen) == 55


def test_listing_does_not_query_per_dataset(world, django_assert_max_num_queries):
    for _ in range(20):
        DatasetFactory(facility=world.facility, instrument=world.instrument, project=world.project)
    with django_assert_max_num_queries(4):
        response = APIClient().get("/api/v1/datasets/")
    assert response.json()["count"] == 20


def test_a_browser_gets_json(world, catalogue):
    client = APIClient()
    client.force_login(world["staff"])
    accept = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"

    response = client.get("/api/v1/datasets/", headers={"Accept": accept})

    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    assert response.json()["count"] == 4


def test_unknown_dataset_is_404(world):
    response = APIClient().get("/api/v1/datasets/oem-doesnotexist/")
    assert response.status_code == 404
    assert "oem-doesnotexist" in error_of(response)["message"]


# --- create ---------------------------------------------------------------------------------


def _logged_in(user) -> APIClient:
    client = APIClient()
    client.force_login(user)
    return client


def test_staff_create_a_draft_dataset(world):
    payload = {
        "title": "  Krios session   2026-03-02 ",
        "facility": "basel",
        "technique": "spa",
        "instrument": world.instrument.pk,
        "project": world.project.code,
        "keywords": ["apoferritin", "Apoferritin", "EER"],
        "metadata": {"acquisition": {"voltage": 300}},
    }

    response = _logged_in(world["staff"]).post("/api/v1/datasets/", payload, format="json")

    assert response.status_code == 201
    body = response.json()
    dataset = Dataset.objects.get(pid=body["pid"])
    assert response["Location"] == body["url"]
    assert dataset.title == "Krios session 2026-03-02"
    assert dataset.status == DatasetStatus.DRAFT
    assert dataset.visibility == Visibility.PRIVATE
    assert dataset.owner == world["staff"]
    assert dataset.keywords == ["apoferritin", "EER"]
    assert body["metadata"] == {"acquisition": {"voltage": 300}}
    assert AuditEvent.objects.filter(dataset=dataset, action=AuditAction.CREATE).exists()


@pytest.mark.parametrize("persona", ["member", "other_staff", "stranger"])
def test_only_facility_staff_create_datasets(world, persona):
    payload = {"title": "Not mine", "facility": "basel", "technique": "spa"}

    response = _logged_in(world[persona]).post("/api/v1/datasets/", payload, format="json")

    assert response.status_code == 403
    error = error_of(response)
    assert error["code"] == "permission_denied"
    assert "Cryo-EM Facility Basel" in error["message"]
    assert not Dataset.objects.filter(title="Not mine").exists()


def test_an_unknown_facility_slug_is_answered_with_the_slugs_there_are(world):
    payload = {"title": "Typo", "facility": "zurich-typo", "technique": "spa"}

    response = _logged_in(world["staff"]).post("/api/v1/datasets/", payload, format="json")

    assert response.status_code == 400
    message = str(response.json())
    assert "There is no facility 'zurich-typo'; the facilities are: basel" in message
    assert not Dataset.objects.filter(title="Typo").exists()


def test_anonymous_cannot_create(world):
    response = APIClient().post(
        "/api/v1/datasets/", {"title": "x", "facility": "basel", "technique": "spa"}
    )
    assert response.status_code == 401
    assert error_of(response)["code"] == "not_authenticated"


def test_service_validation_errors_are_mapped(world):
    zurich_instrument = InstrumentFactory(facility=world.other_facility, name="Glacios Z")
    payload = {
        "title": "Wrong instrument",
        "facility": "basel",
        "technique": "spa",
        "instrument": zurich_instrument.pk,
    }

    response = _logged_in(world["staff"]).post("/api/v1/datasets/", payload, format="json")

    assert response.status_code == 400
    error = error_of(response)
    assert error["code"] == "validation_failed"
    assert "Glacios Z" in error["message"]


def test_input_validation_names_every_bad_field(world):
    payload = {"facility": "nowhere", "technique": "xray", "keywords": "not a list"}

    response = _logged_in(world["staff"]).post("/api/v1/datasets/", payload, format="json")

    error = error_of(response)
    assert response.status_code == 400
    assert set(error["details"]) == {"title", "facility", "technique", "keywords"}


# --- publish and visibility -------------------------------------------------------------------


def test_curator_publishes_under_embargo(world):
    dataset = DatasetFactory(
        facility=world.facility,
        visibility=Visibility.PRIVATE,
        status=DatasetStatus.READY,
        metadata=CITABLE_METADATA,
    )
    DataFileFactory(dataset=dataset)
    until = TODAY + dt.timedelta(days=365)

    response = _logged_in(world["curator"]).post(
        f"/api/v1/datasets/{dataset.pid}/publish",
        {"visibility": "embargoed", "embargo_until": until.isoformat()},
        format="json",
    )

    assert response.status_code == 200
    body = response.json()
    assert (body["status"], body["visibility"], body["embargo_until"]) == (
        "published",
        "embargoed",
        until.isoformat(),
    )
    assert body["files_open"] is False
    # Now anyone finds the metadata, but not the files.
    assert APIClient().get(f"/api/v1/datasets/{dataset.pid}/").status_code == 200
    files = APIClient().get(f"/api/v1/datasets/{dataset.pid}/files/")
    assert files.status_code == 401
    assert until.isoformat() in error_of(files)["message"]


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        ({"visibility": "embargoed"}, "embargo date"),
        (
            {
                "visibility": "embargoed",
                "embargo_until": (TODAY - dt.timedelta(days=1)).isoformat(),
            },
            "future",
        ),
    ],
)
def test_publish_refuses_a_bad_embargo(world, payload, message):
    dataset = DatasetFactory(
        facility=world.facility, visibility=Visibility.PRIVATE, status=DatasetStatus.READY
    )

    response = _logged_in(world["curator"]).post(
        f"/api/v1/datasets/{dataset.pid}/publish", payload, format="json"
    )

    assert response.status_code == 400
    assert message in error_of(response)["message"]
    dataset.refresh_from_db()
    assert dataset.status == DatasetStatus.READY


def test_publish_rejects_private_as_input(world):
    dataset = DatasetFactory(facility=world.facility, status=DatasetStatus.READY)
    response = _logged_in(world["curator"]).post(
        f"/api/v1/datasets/{dataset.pid}/publish", {"visibility": "private"}, format="json"
    )
    assert response.status_code == 400
    assert "visibility" in error_of(response)["details"]


def test_curator_makes_a_public_dataset_private_again(world):
    dataset = DatasetFactory(facility=world.facility, visibility=Visibility.PUBLIC)

    response = _logged_in(world["curator"]).post(
        f"/api/v1/datasets/{dataset.pid}/visibility", {"visibility": "private"}, format="json"
    )

    assert response.status_code == 200
    assert APIClient().get(f"/api/v1/datasets/{dataset.pid}/").status_code == 404
    event = AuditEvent.objects.get(dataset=dataset, action=AuditAction.VISIBILITY)
    assert event.details["before"]["visibility"] == "public"
    assert event.details["after"]["visibility"] == "private"


# --- facilities, instruments, projects ----------------------------------------------------------


def test_facilities_and_instruments(world):
    InstrumentFactory(facility=world.other_facility, name="Glacios Z")

    facilities = APIClient().get("/api/v1/facilities/").json()
    basel = APIClient().get("/api/v1/facilities/basel/").json()
    instruments = APIClient().get(basel["instruments_url"]).json()
    instrument = APIClient().get(instruments["results"][0]["url"]).json()

    assert [f["slug"] for f in facilities["results"]] == ["basel", "scopem"]
    assert basel["name"] == "Cryo-EM Facility Basel"
    assert [i["id"] for i in instruments["results"]] == [world.instrument.pk]
    assert instrument["facility"]["slug"] == "basel"
    assert instrument["detectors"] == ["Falcon 4i"]
    assert APIClient().get("/api/v1/facilities/nowhere/").status_code == 404


def test_projects_are_listed_only_where_a_dataset_or_membership_shows_them(world):
    secret_project = ProjectFactory(facility=world.facility, title="Confidential target")
    DatasetFactory(facility=world.facility, project=secret_project, visibility=Visibility.PRIVATE)
    DatasetFactory(facility=world.facility, project=world.project, visibility=Visibility.PUBLIC)
    ProjectFactory(facility=world.other_facility, principal_investigator=UserFactory())

    anonymous = APIClient().get("/api/v1/projects/").json()
    staff = _logged_in(world["staff"]).get("/api/v1/projects/").json()
    hidden = APIClient().get(f"/api/v1/projects/{secret_project.code}/")

    assert [p["code"] for p in anonymous["results"]] == [world.project.code]
    assert {p["code"] for p in staff["results"]} == {world.project.code, secret_project.code}
    assert hidden.status_code == 404
    detail = APIClient().get(f"/api/v1/projects/{world.project.code}/").json()
    assert detail["facility"]["slug"] == "basel"
    assert detail["principal_investigator"]
