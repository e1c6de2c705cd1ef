"""Metadata search: unit-aware conditions on the real database, facets, and the PostgreSQL
indexes (on SQLite the index test skips, saying why)."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import connection

from metadata.search import Condition, metadata_facets, metadata_filter, searchable_fields
from metadata.units import quantity
from openem.errors import ValidationFailed
from repository.models import Dataset, Technique
from tests.factories import DatasetFactory, FacilityFactory


def _metadata(
    *,
    pixel: tuple[float, str],
    kv: float,
    detector: str,
    model: str,
    when: str,
    organism: str,
    filter_used: bool,
) -> dict[str, Any]:
    return {
        "acquisition": {
            "technique": "spa",
            "pixel_size": quantity(*pixel),
            "dose_per_movie": quantity(40, "e/Å^2"),
            "date_time": when,
            "detectors": [{"name": detector, "mode": "counting"}, {"name": "Ceta"}],
            "energy_filter": {"used": filter_used, "width_energy_filter": quantity(10, "eV")},
        },
        "instrument": {
            "microscope": {"model": model, "manufacturer": "TFS"},
            "acceleration_voltage": quantity(kv, "kV"),
        },
        "sample": {"molecule": [{"name_mol": "x", "sequence": "M", "natural_source": organism}]},
        "_provenance": {"acquisition.pixel_size": {"file": "a.xml"}},
    }


@pytest.fixture
def datasets(db: Any) -> dict[str, Dataset]:
    basel = FacilityFactory(name="Basel")
    zurich = FacilityFactory(name="Zurich")
    return {
        # 0.1 nm is 1 Å: found by searches in Å
        "krios": DatasetFactory(
            facility=basel,
            metadata=_metadata(
                pixel=(0.1, "nm"),
                kv=300,
                detector="Falcon 4i",
                model="Titan Krios G4",
                when="2024-03-01T10:00:00Z",
                organism="Mus musculus",
                filter_used=True,
            ),
        ),
        "glacios": DatasetFactory(
            facility=zurich,
            technique=Technique.CELLULAR_TOMO,
            metadata=_metadata(
                pixel=(1.5, "Å"),
                kv=200,
                detector="K3",
                model="Glacios",
                when="2023-06-01T10:00:00Z",
                organism="Homo sapiens",
                filter_used=False,
            ),
        ),
        "empty": DatasetFactory(facility=basel, metadata={}),
    }


def _found(*conditions: Condition) -> set[str]:
    return set(metadata_filter(Dataset.objects.all(), conditions).values_list("title", flat=True))


def _titles(datasets: dict[str, Dataset], *names: str) -> set[str]:
    return {datasets[name].title for name in names}


def test_pixel_size_range_in_angstrom_finds_a_value_stored_in_nanometres(datasets):
    found = _found(Condition("acquisition.pixel_size", "range", (0.8, 1.2), "A"))
    assert found == _titles(datasets, "krios")


@pytest.mark.parametrize(
    ("relation", "value", "unit", "expected"),
    [
        ("=", 1.0, "Å", {"krios"}),  # 0.1 nm == 1 Å despite float conversions
        ("=", 0.15, "nm", {"glacios"}),
        ("<", 1.5, "Å", {"krios"}),
        ("<=", 1.5, "Å", {"krios", "glacios"}),  # inclusive bound
        (">", 100, "pm", {"glacios"}),
        (">=", 0.1, "nm", {"krios", "glacios"}),
    ],
)
def test_quantity_relations_compare_in_si(datasets, relation, value, unit, expected):
    found = _found(Condition("acquisition.pixel_size", relation, value, unit))
    assert found == _titles(datasets, *expected)


def test_quantity_without_unit_uses_the_fields_osc_em_unit(datasets):
    assert _found(Condition("instrument.acceleration_voltage", ">=", 250)) == _titles(
        datasets, "krios"
    )
    assert _found(Condition("instrument.acceleration_voltage", "=", 200000, "V")) == _titles(
        datasets, "glacios"
    )


def test_conditions_combine_with_and(datasets):
    found = _found(
        Condition("acquisition.pixel_size", "<", 2, "Å"),
        Condition("instrument.acceleration_voltage", "<", 250, "kV"),
    )
    assert found == _titles(datasets, "glacios")


def test_text_equality_is_exact_and_contains_ignores_case(datasets):
    assert _found(Condition("instrument.microscope.model", "=", "Glacios")) == _titles(
        datasets, "glacios"
    )
    assert _found(Condition("instrument.microscope.model", "=", "glacios")) == set()
    assert _found(Condition("instrument.microscope.model", "contains", "KRIOS")) == _titles(
        datasets, "krios"
    )


def test_text_items_of_lists_match_any_item(datasets):
    assert _found(Condition("acquisition.detectors.name", "=", "K3")) == _titles(
        datasets, "glacios"
    )
    assert _found(Condition("acquisition.detectors.name", "contains", "falcon")) == _titles(
        datasets, "krios"
    )
    # "Ceta" is in both; the mode "counting" is not a name
    assert _found(Condition("acquisition.detectors.name", "=", "Ceta")) == _titles(
        datasets, "krios", "glacios"
    )
    assert _found(Condition("acquisition.detectors.name", "contains", "counting")) == set()
    assert _found(Condition("sample.molecule.natural_source", "contains", "sapiens")) == _titles(
        datasets, "glacios"
    )


def test_like_wildcards_in_the_text_are_literal(datasets):
    assert _found(Condition("acquisition.detectors.name", "contains", "%")) == set()
    assert _found(Condition("instrument.microscope.model", "contains", "_")) == set()


def test_dates_compare_and_booleans_match(datasets):
    assert _found(
        Condition("acquisition.date_time", "range", ("2024-01-01", "2024-12-31"))
    ) == _titles(datasets, "krios")
    assert _found(Condition("acquisition.energy_filter.used", "=", "false")) == _titles(
        datasets, "glacios"
    )


def test_filter_keeps_the_querysets_own_restrictions(datasets):
    basel_only = Dataset.objects.filter(facility__name="Basel")
    found = metadata_filter(basel_only, [Condition("acquisition.pixel_size", ">", 0, "Å")])
    assert list(found) == [datasets["krios"]]


@pytest.mark.parametrize(
    ("condition", "message"),
    [
        (Condition("acquisition.pixel_sizes", "=", 1, "Å"), "unknown metadata field"),
        (Condition("acquisition.pixel_size", "~", 1, "Å"), "unknown relation"),
        (Condition("acquisition.pixel_size", "=", 1, "xyz"), "unknown unit .xyz."),
        (Condition("acquisition.pixel_size", "=", 1, "kV"), "not a unit for pixel size"),
        (Condition("acquisition.pixel_size", "contains", 1, "Å"), "not 'contains'"),
        (Condition("acquisition.pixel_size", "range", 1, "Å"), "needs two values"),
        (Condition("acquisition.pixel_size", "range", (2, 1), "Å"), "starts above its end"),
        (Condition("acquisition.pixel_size", "=", "big", "Å"), "'big' is not a number"),
        (Condition("instrument.microscope.model", "<", "A"), "not '<'"),
        (Condition("sample.overall_molecule.assembly", "=", "BLOB"), "not one of"),
        (Condition("acquisition.energy_filter.used", "=", "maybe"), "true or false"),
        (Condition("acquisition.frames_per_movie", "=", 40, "s"), "has no unit"),
    ],
)
def test_bad_conditions_say_what_is_wrong(db, condition, message):
    with pytest.raises(ValidationFailed, match=message):
        metadata_filter(Dataset.objects.all(), [condition])


def test_paths_may_be_written_with_slashes():
    assert searchable_fields()["acquisition.pixel_size"].units[0] == "Å"
    assert "acquisition.detectors.name" in searchable_fields()


def test_facets_count_datasets_per_value(datasets):
    facets = metadata_facets(Dataset.objects.all())
    assert facets["technique"] == [("spa", 2), ("cellular_tomo", 1)]
    assert facets["facility"] == [("Basel", 2), ("Zurich", 1)]
    assert facets["microscope"] == [("Glacios", 1), ("Titan Krios G4", 1)]
    # Ceta is in both datasets, counted once per dataset
    assert facets["detector"] == [("Ceta", 2), ("Falcon 4i", 1), ("K3", 1)]
    assert facets["voltage"] == [("200 kV", 1), ("300 kV", 1)]
    assert facets["year"] == [("2023", 1), ("2024", 1)]
    assert facets["organism"] == [("Homo sapiens", 1), ("Mus musculus", 1)]


def test_facets_follow_the_queryset(datasets):
    facets = metadata_facets(Dataset.objects.filter(facility__name="Zurich"))
    assert facets["microscope"] == [("Glacios", 1)]
    assert facets["technique"] == [("cellular_tomo", 1)]


@pytest.mark.skipif(
    connection.vendor != "postgresql",
    reason="jsonb indexes exist on PostgreSQL only (run with DATABASE_URL=postgres://...)",
)
@pytest.mark.parametrize(
    ("condition", "index"),
    [
        (Condition("acquisition.pixel_size", "range", (0.8, 1.2), "Å"), "dataset_md_pixel_size_si"),
        (Condition("instrument.acceleration_voltage", ">=", 250, "kV"), "dataset_md_voltage_si"),
        (Condition("instrument.microscope.model", "=", "Glacios"), "dataset_metadata_gin"),
    ],
)
def test_postgresql_uses_the_metadata_indexes(datasets, condition, index):
    # Without the default ordering: an index on "created" would otherwise compete for the scan.
    queryset = metadata_filter(Dataset.objects.order_by(), [condition])
    sql, params = queryset.query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute(f"EXPLAIN {sql}", params)
        plan = "\n".join(row[0] for row in cursor.fetchall())
    assert index in plan
