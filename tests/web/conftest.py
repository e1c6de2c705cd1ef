"""Fixtures of the page tests: the small catalogue (``tests.support.catalogue``) and a second
facility's instrument."""

from __future__ import annotations

from typing import Any

import pytest

from repository.models import Instrument
from tests.support.catalogue import catalogue, s3_catalogue  # noqa: F401


@pytest.fixture
def other_instrument(world: Any) -> Instrument:
    return Instrument.objects.create(
        facility=world.other_facility,
        name="Glacios (Zurich)",
        manufacturer="Thermo Fisher Scientific",
        model="Glacios 2",
    )
