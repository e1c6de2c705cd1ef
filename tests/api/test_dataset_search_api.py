"""The API's dataset list searches as the search page does: ranked full text, the metadata
ranges, unit-aware metadata conditions, and facet counts on request; bad conditions are 400s
that say what to write."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.db import connection
from rest_framework.test import APIClient

from repository.models import DatasetStatus, Visibility
from tests.api.conftest import error_of
from tests.factories import DatasetFactory
from tests.web.conftest import spa_metadata

pytestmark = pytest.mark.django_db


@pytest.fixture
def sessions(world: Any) -> dict[str, Any]:
    common = {"facility": world.facility, "status": DatasetStatus.PUBLISHED}
    return {
        "fine": DatasetFactory(
            title="Apoferritin at high resolution",
            technique="spa",
            keywords=["apoferritin"],
            metadata=spa_metadata(pixel_size=0.83, voltage_kv=300.0),
            **common,
        ),
        "coarse": DatasetFactory(
            title="Chlamydomonas cells",
            description="Pyrenoid tomograms; apoferritin was the test sample.",
            technique="cellular_tomo",
            metadata=spa_metadata(pixel_size=2.68, voltage_kv=200.0, sample="Chlamydomonas"),
            **common,
        ),
        "hidden": DatasetFactory(
            title="Private apoferritin",
            technique="spa",
            visibility=Visibility.PRIVATE,
            status=DatasetStatus.READY,
            metadata=spa_metadata(pixel_size=0.9),
            facility=world.facility,
        ),
    }


def _pids(response: Any) -> list[str]:
    assert response.status_code == 200, response.content
    return [row["pid"] for row in response.json()["results"]]


def _names(sessions: dict[str, Any], *names: str) -> list[str]:
    return [sessions[name].pid for name in names]


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"pixel_size_max": 1}, ["fine"]),
        ({"pixel_size_min": 1, "pixel_size_max": 3}, ["coarse"]),
        ({"voltage_min": 250}, ["fine"]),
        ({"voltage_max": 250, "pixel_size_min": 2}, ["coarse"]),
        ({"dose_min": 39, "dose_max": 41}, ["coarse", "fine"]),
        ({"metadata": "acquisition.pixel_size<=0.1 nm"}, ["fine"]),  # 0.083 nm
        ({"metadata": "acquisition.pixel_size=0.8..0.9 Å"}, ["fine"]),
        ({"metadata": "instrument.acceleration_voltage=200000 V"}, ["coarse"]),
        ({"metadata": "acquisition.detectors.name~falcon"}, ["coarse", "fine"]),
        ({"metadata": ["sample.name~chlamy", "acquisition.pixel_size>2 Å"]}, ["coarse"]),
        ({"metadata": "acquisition.pixel_size>5 Å"}, []),
    ],
)
def test_ranges_and_unit_aware_metadata_conditions(world, sessions, params, expected):
    response = APIClient().get("/api/v1/datasets/", params)

    assert sorted(_pids(response)) == sorted(_names(sessions, *expected))


@pytest.mark.parametrize(
    ("params", "field", "says"),
    [
        ({"metadata": "pixel size below one"}, "metadata", "FIELD OP VALUE"),
        ({"metadata": "acquisition.pixelsize<1 Å"}, "metadata", "unknown metadata field"),
        ({"metadata": "acquisition.pixel_size<=abc"}, "metadata", "does not start with a number"),
        ({"metadata": "acquisition.pixel_size<=1..2 Å"}, "metadata", "goes with '='"),
        ({"metadata": "acquisition.pixel_size<=1 kV"}, "metadata", "not a unit for pixel size"),
        ({"metadata": "acquisition.pixel_size<=1 bananas"}, "metadata", "unknown unit"),
        ({"pixel_size_min": 2, "pixel_size_max": 1}, "pixel_size_max", "below the minimum"),
        ({"voltage_min": "high"}, "voltage_min", "valid number"),
        ({"facets": "true", "keyword": "apoferritin"}, "facets", "ask without facets"),
        ({"metadata": ["sample.name~a"] * 11}, "metadata", "no more than 10"),
    ],
)
def test_bad_search_input_is_a_400_naming_the_field(world, sessions, params, field, says):
    response = APIClient().get("/api/v1/datasets/", params)

    assert response.status_code == 400
    error = error_of(response)
    assert field in error["details"]
    assert says in str(error["details"][field])


def test_facet_counts_follow_the_search_and_what_the_reader_may_see(world, sessions, client_for):
    anonymous = APIClient().get("/api/v1/datasets/", {"facets": "true", "q": "apoferritin"})
    staff = client_for("staff").get("/api/v1/datasets/", {"facets": "true", "q": "apoferritin"})

    assert anonymous.status_code == 200 and staff.status_code == 200
    facets = anonymous.json()["facets"]
    techniques = {row["value"]: row["count"] for row in facets["technique"]}
    assert techniques == {"spa": 1, "cellular_tomo": 1}
    assert "visibility" not in facets  # anonymous readers only see published public entries
    staff_facets = staff.json()["facets"]
    assert {row["value"]: row["count"] for row in staff_facets["technique"]} == {
        "spa": 2,
        "cellular_tomo": 1,
    }
    assert {row["value"]: row["count"] for row in staff_facets["visibility"]} == {
        "public": 2,
        "private": 1,
    }

    chosen = APIClient().get("/api/v1/datasets/", {"facets": "true", "technique": "spa"})
    spa = {row["value"]: row for row in chosen.json()["facets"]["technique"]}
    assert spa["spa"]["selected"] is True and spa["cellular_tomo"]["selected"] is False
    assert _pids(chosen) == _names(sessions, "fine")
    assert "facets" not in APIClient().get("/api/v1/datasets/").json()


def test_counts_are_kept_per_reader_while_paging(world, sessions, client_for):
    anonymous = APIClient().get("/api/v1/datasets/", {"q": "apoferritin"}).json()
    staff = client_for("staff").get("/api/v1/datasets/", {"q": "apoferritin"}).json()
    again = APIClient().get("/api/v1/datasets/", {"q": "apoferritin", "ordering": "title"}).json()

    assert anonymous["count"] == 2
    assert staff["count"] == 3  # the private one too: another reader, another count
    assert again["count"] == 2


@pytest.mark.skipif(
    connection.vendor != "postgresql",
    reason="ranking by relevance is PostgreSQL full-text search (SQLite lists newest first)",
)
def test_words_rank_title_matches_above_description_matches(world, sessions):
    DatasetFactory(
        title="Newest session, no match in the title",
        description="An apoferritin grid among others.",
        facility=world.facility,
        technique="spa",
        status=DatasetStatus.PUBLISHED,
    )
    ranked = _pids(APIClient().get("/api/v1/datasets/", {"q": "apoferritin"}))

    assert ranked[0] == sessions["fine"].pid  # title and keywords weigh most
    assert len(ranked) == 3
    newest = _pids(APIClient().get("/api/v1/datasets/", {"q": "apoferritin", "ordering": "newest"}))
    assert newest[0] != sessions["fine"].pid


@pytest.mark.parametrize(
    "persona", ["anonymous", "stranger", "member", "other_staff", "staff", "curator", "admin"]
)
def test_the_count_from_facet_cells_equals_counting_what_the_reader_sees(world, sessions, persona):
    from django.contrib.auth.models import AnonymousUser

    from repository.api.filters import DatasetQuery, dataset_count, dataset_search

    DatasetFactory(facility=world.other_facility, status=DatasetStatus.DRAFT)
    DatasetFactory(facility=world.facility, owner=world["member"], status=DatasetStatus.READY)
    DatasetFactory(
        facility=world.other_facility,
        status=DatasetStatus.PUBLISHED,
        visibility=Visibility.EMBARGOED,
        embargo_until=dt.date.today() + dt.timedelta(days=30),
        technique="spa",
    )
    user = AnonymousUser() if persona == "anonymous" else world[persona]
    for query in (
        DatasetQuery(),
        DatasetQuery(technique="spa"),
        DatasetQuery(facility=world.facility.slug),
        DatasetQuery(facility="no-such-facility"),
        DatasetQuery(visibility="private"),
        DatasetQuery(status="ready", technique="spa"),
        DatasetQuery(instrument=world.instrument.pk),
        DatasetQuery(q="apoferritin"),  # words: counted on the datasets
    ):
        expected = dataset_search(user=user, query=query).count()
        assert dataset_count(user=user, query=query) == expected, query
