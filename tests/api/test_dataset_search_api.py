"""The API's dataset list searches as the search page does: ranked full text, the metadata
ranges, unit-aware metadata conditions, and facet counts on request; bad conditions are 400s
that say what to write."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.db import connection
from rest_framework.test import APIClient

from repository.models import DatasetStatus, Facility, FacilityRole, Visibility
from tests.factories import (
    DatasetFactory,
    FacilityFactory,
    FacilityMembershipFactory,
    InstrumentFactory,
    ProjectMembershipFactory,
    UserFactory,
)
from tests.support.api import error_of
from tests.support.catalogue import spa_metadata
from tests.support.personas import PERSONAS

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

    from repository.search import DatasetQuery, dataset_count, dataset_search

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


# The personas of the matrix, and three more the count must get right: a deactivated facility
# staff member who owns a private dataset (sees what anonymous visitors see), a reader who
# only owns datasets, and the project's PI, who is no project member (no insider right).
COUNT_PERSONAS = (*PERSONAS, "inactive_staff", "owner", "pi")


@pytest.fixture
def overlapping(world: Any) -> dict[str, Any]:
    """Datasets in every state, each an insider's in several ways at once, so that counting
    a part twice (or leaving one out) changes some persona's count."""
    inactive = UserFactory(username="inactive_staff", is_active=False)
    FacilityMembershipFactory(user=inactive, facility=world.facility, role=FacilityRole.STAFF)
    owner = UserFactory(username="owner")
    # The curator is also in the project: its datasets at the curator's facility are seen
    # twice over, and those elsewhere through the project alone.
    ProjectMembershipFactory(user=world["curator"], project=world.project)
    third = FacilityFactory(slug="third")
    other_instrument = InstrumentFactory(facility=world.other_facility)
    future = dt.date.today() + dt.timedelta(days=30)
    past = dt.date.today() - dt.timedelta(days=1)
    rows = [
        # (facility, owner, in the project, status, visibility, embargo, technique, instrument)
        # Owned, in the project and the staff's facility, and public: seen in four ways.
        (world.facility, "member", True, "published", "public", None, "spa", "here"),
        (world.facility, "member", True, "ready", "private", None, "spa", "here"),
        (world.facility, "staff", True, "published", "embargoed", future, "tomography", None),
        (world.facility, "owner", False, "draft", "private", None, "subtomo", "here"),
        (world.facility, "owner", False, "ingesting", "public", None, "spa", None),
        (world.facility, "inactive_staff", False, "published", "private", None, "spa", "here"),
        # Their own, at their facility, unpublished: the facility's cells hold it already.
        (world.facility, "staff", False, "draft", "private", None, "spa", "here"),
        # The project's datasets may sit at another facility: a member sees them there too.
        (world.other_facility, "owner", True, "draft", "embargoed", future, "spa", "there"),
        (world.other_facility, "staff", False, "published", "private", None, "spa", "there"),
        (world.other_facility, "staff", True, "ready", "public", None, "microed", None),
        (world.other_facility, "curator", False, "published", "embargoed", past, "spa", "there"),
        (world.other_facility, "other_staff", False, "published", "public", None, "spa", None),
        (world.other_facility, "pi", False, "draft", "private", None, "tomography", "there"),
        (third, "member", False, "published", "private", None, "spa", None),
        (third, "owner", False, "ingesting", "private", None, "spa", None),
        (third, "stranger", False, "published", "public", None, "tomography", None),
        (third, "admin", False, "ready", "embargoed", future, "spa", None),
    ]
    people = {**world.personas, "inactive_staff": inactive, "owner": owner}
    people["pi"] = world.project.principal_investigator
    instruments = {"here": world.instrument, "there": other_instrument, None: None}
    for facility, by, in_project, status, visibility, embargo, technique, instrument in rows:
        DatasetFactory(
            facility=facility,
            owner=people[by],
            project=world.project if in_project else None,
            status=status,
            visibility=visibility,
            embargo_until=embargo,
            technique=technique,
            instrument=instruments[instrument],
        )
    return {"people": people, "third": third, "other_instrument": other_instrument}


def _countable_queries(world: Any, overlapping: dict[str, Any]) -> list[Any]:
    """No filter, one per cell column and value, a few combinations and no match at all."""
    from repository.search import DatasetQuery

    instruments = (world.instrument.pk, overlapping["other_instrument"].pk)
    slugs = (world.facility.slug, world.other_facility.slug, overlapping["third"].slug)
    return [
        DatasetQuery(),
        *(DatasetQuery(status=status) for status in DatasetStatus.values),
        *(DatasetQuery(visibility=visibility) for visibility in Visibility.values),
        *(DatasetQuery(technique=technique) for technique in ("spa", "tomography", "microed")),
        *(DatasetQuery(facility=slug) for slug in (*slugs, "no-such-facility")),
        *(DatasetQuery(instrument=pk) for pk in instruments),
        DatasetQuery(status="published", visibility="private", technique="spa"),
        DatasetQuery(facility=world.other_facility.slug, visibility="embargoed"),
        DatasetQuery(facility=world.facility.slug, instrument=world.instrument.pk, status="draft"),
        DatasetQuery(instrument=overlapping["other_instrument"].pk, technique="tomography"),
        DatasetQuery(technique="cellular_tomo"),  # nothing
    ]


@pytest.mark.parametrize("persona", COUNT_PERSONAS)
def test_every_reader_is_counted_from_the_facet_cells_as_exactly_as_by_counting(
    world, overlapping, persona
):
    from repository import search
    from repository.search import dataset_count, dataset_search

    user = overlapping["people"][persona]
    postgres = connection.vendor == "postgresql"
    for query in _countable_queries(world, overlapping):
        expected = dataset_search(user=user, query=query).count()
        one = {name: values[0] for name, values in query.filters}  # one value each
        exact = {
            "status": query.status,
            "visibility": one.get("visibility"),
            "technique": one.get("technique"),
            "instrument_id": int(one["instrument"]) if "instrument" in one else None,
        }
        exact = {column: value for column, value in exact.items() if value}
        if "facility" in one:
            found = Facility.objects.filter(slug=one["facility"]).values_list("pk", flat=True)
            exact["facility_id"] = next(iter(found), 0)
        from_cells = search.count_from_cells(user, exact)
        # On PostgreSQL every reader is counted from the cells; SQLite has none.
        assert from_cells == (expected if postgres else None), query
        assert dataset_count(user=user, query=query) == expected, query


def test_the_facet_cell_count_is_what_each_reader_may_see_by_hand(world, overlapping):
    """Whole totals written out from the rows above (not from the code under test)."""
    from repository.search import DatasetQuery, dataset_count

    everyone = 5  # published public or embargoed, at any facility
    expected = {
        "anonymous": everyone,
        "inactive_staff": everyone,
        "stranger": everyone,
        "pi": everyone + 1,  # their own draft only: the PI is no project member
        "owner": everyone + 4,  # all theirs are unpublished: 2 drafts, 2 ingesting
        # member: 2 private + the project's draft, ready-public and own third-facility private
        "member": everyone + 4,
        # staff: basel's 5 unpublished or private, and their own 2 at the other facility
        "staff": everyone + 5 + 2,
        # curator: basel's 5, and the project's draft and ready one at the other facility
        "curator": everyone + 5 + 2,
        "other_staff": everyone + 4,  # the other facility's draft, private, ready and draft
        "admin": 17,
    }
    for persona, total in expected.items():
        user = overlapping["people"][persona]
        assert dataset_count(user=user, query=DatasetQuery()) == total, persona
