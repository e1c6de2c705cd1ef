"""The metadata quantities a search filters by a min/max range (pixel size, voltage, dose).

The bounds are unit-aware conditions of :mod:`metadata.search`; on PostgreSQL the same bounds
(converted to SI by ``metadata.units``, with the same tolerance) apply to the generated SI
columns of migration 0004, which the facet index and one covering index each (migration
0006) hold, instead of each row's JSON.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.db.models import DecimalField, Value
from django.db.models.lookups import GreaterThanOrEqual, LessThanOrEqual

from metadata import oscem, units
from metadata.search import REL_TOLERANCE, Condition, condition_filters
from metadata.validation import pint_unit
from openem.errors import ValidationFailed

from .columns import GeneratedColumn, uses_full_text

#: ``(key, low, high)``: a range of :data:`RANGES`, either bound may be open.
Range = tuple[str, float | None, float | None]


@dataclass(frozen=True)
class RangeSpec:
    """A metadata quantity offered as a min/max filter, in the unit the form shows."""

    key: str
    field: str
    label: str
    unit: str
    unit_label: str

    @property
    def si_column(self) -> str:
        """Its generated SI column on PostgreSQL (migration 0004)."""
        return f"search_{self.key}_si"


RANGES: tuple[RangeSpec, ...] = (
    RangeSpec("pixel_size", oscem.PIXEL_SIZE, "Pixel size", "Å", "Å"),
    RangeSpec("voltage", oscem.ACCELERATION_VOLTAGE, "Voltage", "kV", "kV"),
    RangeSpec("dose", oscem.DOSE_PER_MOVIE, "Dose", "e/Å^2", "e⁻/Å²"),
)
RANGE_BY_KEY = {spec.key: spec for spec in RANGES}


def format_number(value: float) -> str:
    return f"{value:g}"


def range_conditions(
    ranges: Sequence[Range], messages: list[str]
) -> tuple[list[Any], dict[str, str]]:
    """Filters for ``ranges`` and the label of each range applied; a bound the metadata
    module refuses is named in ``messages`` and left out. SQLite: the conditions of
    ``metadata.search``. PostgreSQL: the same bounds on the generated SI columns."""
    expressions: list[Any] = []
    labels: dict[str, str] = {}
    for key, low, high in ranges:
        spec = RANGE_BY_KEY[key]
        if low is not None and high is not None:
            condition = Condition(spec.field, "range", (low, high), spec.unit)
            text = f"{format_number(low)}–{format_number(high)} {spec.unit_label}"
        elif low is not None:
            condition = Condition(spec.field, ">=", low, spec.unit)
            text = f"≥ {format_number(low)} {spec.unit_label}"
        elif high is not None:
            condition = Condition(spec.field, "<=", high, spec.unit)
            text = f"≤ {format_number(high)} {spec.unit_label}"
        else:
            continue
        try:
            found = condition_filters(condition)  # validates the field, unit and numbers
        except ValidationFailed as exc:
            messages.append(f"{spec.label}: {exc.message}")
            continue
        expressions.extend(_si_range(spec, low, high) if uses_full_text() else found)
        labels[key] = f"{spec.label} {text}"
    return expressions, labels


def range_filters(ranges: Sequence[Range]) -> list[Any]:
    """Filters for ``ranges`` as the search page applies them; a bound the metadata module
    refuses raises ValidationFailed (the API answers 400)."""
    messages: list[str] = []
    expressions, _labels = range_conditions(ranges, messages)
    if messages:
        raise ValidationFailed("; ".join(messages))
    return expressions


def _si_range(spec: RangeSpec, low: float | None, high: float | None) -> list[Any]:
    column = GeneratedColumn(spec.si_column, DecimalField())
    bounds: list[Any] = []
    if low is not None:
        si = units.to_si(low, pint_unit(spec.unit))[0]
        bounds.append(
            GreaterThanOrEqual(column, Value(Decimal(repr(si - abs(si) * REL_TOLERANCE))))
        )
    if high is not None:
        si = units.to_si(high, pint_unit(spec.unit))[0]
        bounds.append(LessThanOrEqual(column, Value(Decimal(repr(si + abs(si) * REL_TOLERANCE)))))
    return bounds
