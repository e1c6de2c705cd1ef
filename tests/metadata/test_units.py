"""Units: EM spellings, SI conversion, and refusals with a clear message."""

from __future__ import annotations

import math

import pytest

from metadata.units import (
    UnknownUnit,
    conversion_factor,
    convert,
    parse_unit,
    quantity,
    si_unit_of,
    to_si,
)


@pytest.mark.parametrize(
    ("spelling", "metres"),
    [
        ("A", 1e-10),  # EM files mean Ångström, not ampere
        ("Å", 1e-10),
        ("\u212b", 1e-10),  # ANGSTROM SIGN, a different code point for the same letter
        ("Angstrom", 1e-10),
        ("nm", 1e-9),
        ("um", 1e-6),
        ("µm", 1e-6),  # MICRO SIGN
        ("\u03bcm", 1e-6),  # GREEK SMALL LETTER MU
        ("mm", 1e-3),
    ],
)
def test_length_spellings(spelling: str, metres: float) -> None:
    assert convert(1, spelling, "m") == pytest.approx(metres, rel=1e-12)


@pytest.mark.parametrize("dose_unit", ["e/A^2", "e/Å^2", "e/Å²", "1/Å^2", "electrons/Å^2"])
def test_doses_are_counts_per_area(dose_unit: str) -> None:
    """Electrons are counts: e/Å^2 and 1/Å^2 are one dimension (pint alone reads e as charge)."""
    assert convert(2.5, dose_unit, "1/Å^2") == pytest.approx(2.5)
    assert to_si(1, dose_unit) == (pytest.approx(1e20), "1/m^2")


def test_epu_dose_in_electrons_per_square_metre() -> None:
    assert convert(2.8504761345318018e21, "e/m^2", "e/Å^2") == pytest.approx(28.504761345318018)
    assert convert(1, "e/nm^2", "e/Å^2") == pytest.approx(0.01)


@pytest.mark.parametrize(
    ("value", "unit", "value_si", "unit_si"),
    [
        (300, "kV", 300_000.0, "V"),
        (300_000, "V", 300_000.0, "V"),
        (2.7, "mm", 0.0027, "m"),
        (-3080.5, "nm", -3.0805e-6, "m"),
        (0.8, "Å", 8e-11, "m"),
        (20, "um", 2e-5, "m"),
        (10, "eV", 1.602176634e-18, "J"),
        (0.03, "mrad", 3e-5, "rad"),
        (180, "°", math.pi, "rad"),
        (90, "deg", math.pi / 2, "rad"),
        (45, "degrees", math.pi / 4, "rad"),
        (2.6, "s", 2.6, "s"),
        (20, "ms", 0.02, "s"),
        (5, "nA", 5e-9, "ampere"),
    ],
)
def test_to_si(value: float, unit: str, value_si: float, unit_si: str) -> None:
    assert to_si(value, unit) == (pytest.approx(value_si, rel=1e-12), unit_si)


def test_si_values_have_no_binary_noise() -> None:
    """20 um is 2e-05 m, not 1.9999999999999998e-05 (visible on landing pages and exports)."""
    assert to_si(20, "um")[0] == 2e-05
    assert convert(-4e-07, "m", "nm") == -400.0


def test_quantity_shape() -> None:
    assert quantity(300, "kV") == {"value": 300, "unit": "kV", "valueSI": 300000.0, "unitSI": "V"}
    assert quantity(1.5, "1/Å^2")["unitSI"] == "1/m^2"
    assert si_unit_of("e/A^2") == "1/m^2"


@pytest.mark.parametrize("bad", [math.nan, math.inf, "3", None, True])
def test_quantity_refuses_what_json_or_osc_em_cannot_carry(bad: object) -> None:
    with pytest.raises(ValueError, match="not a finite number"):
        quantity(bad, "nm")  # type: ignore[arg-type]


def test_offset_units_convert_but_have_no_factor() -> None:
    assert convert(0, "degC", "K") == pytest.approx(273.15)
    with pytest.raises(ValueError, match="not a plain scale factor"):
        conversion_factor("degC", "K")
    assert conversion_factor("kV", "V") == 1000.0


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "empty unit"),
        ("   ", "empty unit"),
        ("furlongz", "unknown unit 'furlongz'"),
        ("kV)", "unknown unit 'kV\\)'"),
        ("e/A^2; rm -rf", "unexpected characters"),
        ("__import__('os')", "unexpected characters"),
        ("m" * 100, "longer than 64 characters"),
    ],
)
def test_unknown_units_are_refused_clearly(text: str, message: str) -> None:
    with pytest.raises(UnknownUnit, match=message):
        parse_unit(text)


def test_unknown_unit_is_a_value_error_naming_accepted_spellings() -> None:
    with pytest.raises(ValueError, match="'Å', 'A', 'nm'"):
        convert(1, "parsecs per wombat", "m")


def test_incompatible_dimensions_are_refused() -> None:
    with pytest.raises(ValueError, match="different dimensions"):
        convert(1, "kV", "nm")
    with pytest.raises(ValueError, match="different dimensions"):
        convert(1, "e/Å^2", "Å")


@pytest.mark.parametrize(
    ("stored", "shown"),
    [
        ("1/Å^2", "e⁻/Å²"),
        ("1/\u212b^2", "e⁻/Å²"),
        ("e/A^2", "e⁻/Å²"),
        ("e/nm^2", "e⁻/nm²"),
        ("um", "µm"),
        ("A", "Å"),
        ("\u212b", "Å"),
        ("kV", "kV"),
        ("mrad", "mrad"),
        ("deg", "°"),
        ("e/pixel/s", "e/pixel/s"),
    ],
)
def test_units_are_shown_as_people_write_them(stored: str, shown: str) -> None:
    from metadata.units import display_unit

    assert display_unit(stored) == shown


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        (0.4150152790871608, "0.415015"),
        (-3080.7366167, "-3080.74"),
        (4.743577335374314, "4.74358"),
        (270000.0, "270000"),
        (-0.0263405106961727, "-0.0263405"),
        (2.5e-12, "2.5e-12"),
    ],
)
def test_numbers_are_rounded_for_reading(value: float, shown: str) -> None:
    from metadata.forms.schema_form import display_number

    assert display_number(value) == shown
