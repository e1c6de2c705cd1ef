"""One formatting helper for every page that shows metadata: rounded numbers (the stored
value kept), units as people write them."""

from __future__ import annotations

import re

import pytest
from django.test import Client

from metadata import display
from tests.factories import DatasetFactory


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        (0.4150152790871608, "0.415015"),
        (-3080.7366167, "-3080.74"),
        (300.0, "300"),
        (0.0, "0"),
        (7, "7"),
        (-0.0263405106961727, "-0.0263405"),
        (1.5e-12, "1.5e-12"),
        (True, "yes"),
    ],
)
def test_numbers_are_rounded_for_reading(value, shown):
    assert display.scalar(value) == shown


@pytest.mark.parametrize(
    ("stored", "shown"),
    [
        ({"value": 0.4150152790871608, "unit": "A"}, "0.415015\u00a0Å"),
        ({"value": 27.54094, "unit": "1/A^2"}, "27.5409\u00a0e⁻/Å²"),
        ({"value": 40.0, "unit": "e/A^2"}, "40\u00a0e⁻/Å²"),
        ({"value": -0.0263405106961727, "unit": "um"}, "-0.0263405\u00a0µm"),
        ({"value": 3.2, "unit": "mrad"}, "3.2\u00a0mrad"),
        ({"value": 60.0, "unit": "deg"}, "60°"),
        ([-30.0, -24.0, 0.5], "-30, -24, 0.5"),
        ("Titan Krios", "Titan Krios"),
    ],
)
def test_quantities_are_shown_with_units_as_people_write_them(stored, shown):
    assert display.quantity(stored) == shown


@pytest.mark.django_db
def test_landing_page_tables_use_the_same_helper(client: Client) -> None:
    """The landing page showed ``0.415015 A`` and ``27.5409 1/A^2``."""
    raw = {
        "acquisition": {
            "pixel_size": {"value": 0.4150152790871608, "unit": "A"},
            "dose_per_movie": {"value": 27.540940055, "unit": "1/A^2"},
            "imageshift": {"x_min": {"value": -0.0263405106961727, "unit": "um"}},
        },
    }
    dataset = DatasetFactory(metadata=raw)
    html = client.get(dataset.get_absolute_url()).content.decode()
    rows = dict(re.findall(r'<tr data-path="([^"]+)">.*?<td>(.*?)</td><td>', html, re.S))
    assert rows["acquisition.pixel_size"] == '0.415015<span class="unit">Å</span>'
    assert rows["acquisition.dose_per_movie"] == '27.5409<span class="unit">e⁻/Å²</span>'
    assert rows["acquisition.imageshift.x_min"] == '-0.0263405<span class="unit">µm</span>'
    dataset.refresh_from_db()
    assert dataset.metadata["acquisition"]["pixel_size"]["value"] == 0.4150152790871608
