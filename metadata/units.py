"""Quantities and units for EM metadata, on one pint registry.

OSC-EM writes every dimensioned value as ``{value, unit}`` and optionally ``valueSI``/``unitSI``.
Instrument files spell units their own way ("A" for Ångström, "e/A^2" for a dose), and two of
those spellings mean something else to pint ("A" is the ampere, "e" the elementary charge), so
every unit string passes through :func:`parse_unit`, which knows the EM spellings.

Electrons are counts: a dose in ``e/Å^2`` and a fluence in ``1/Å^2`` are the same dimension.
Conversion factors are cached, because the aggregation converts millions of values.
"""

from __future__ import annotations

import math
import re
from functools import lru_cache
from typing import Any

import pint

#: The registry of this project; never pint's application registry, so nothing else changes it.
ureg: pint.UnitRegistry[float] = pint.UnitRegistry()

#: Whole-word EM spellings that pint would read differently (or not at all).
_WORD_ALIASES = {
    "A": "angstrom",
    "Å": "angstrom",
    "\u212b": "angstrom",  # the same letter written as the ANGSTROM SIGN code point
    "Ang": "angstrom",
    "Angstrom": "angstrom",
    "Angstroms": "angstrom",
    "angstroms": "angstrom",
    "e": "1",
    "el": "1",
    "electron": "1",
    "electrons": "1",
    "°": "degree",
    "degrees": "degree",
    "um": "micrometer",
    "µm": "micrometer",
    "μm": "micrometer",
    "microns": "micrometer",
    "micron": "micrometer",
}
_SUPERSCRIPTS = str.maketrans({"²": "^2", "³": "^3", "⁻": "-", "¹": "1", "·": "*"})
_WORD = re.compile("[A-Za-z\u00c5\u212b\u00b5\u03bc\u00b0]+")
_ALLOWED = re.compile(
    "^[\\w\\s/*^.()\u00b0\u00c5\u212b\u00b5\u03bc\u00b2\u00b3\u207b\u00b9\u00b7-]+$"
)
_MAX_UNIT_LENGTH = 64

#: The SI unit we report per dimension (pint would spell volts as kg·m²/(A·s³)), as
#: (our spelling, pint's spelling); the ampere is spelled out because we read "A" as Ångström.
_SI_UNITS = (
    ("m", "meter"),
    ("s", "second"),
    ("1/m^2", "1/meter**2"),
    ("m^2", "meter**2"),
    ("V", "volt"),
    ("J", "joule"),
    ("Pa", "pascal"),
    ("K", "kelvin"),
    ("kg", "kilogram"),
    ("Hz", "hertz"),
    ("ampere", "ampere"),
    ("1/(m^2*s)", "1/(meter**2*second)"),
)
_SI_BY_DIMENSION = {
    ureg.parse_units(pint_name).dimensionality: (ours, pint_name) for ours, pint_name in _SI_UNITS
}
_ANGLE_NAMES = ("radian", "degree", "arcminute", "arcsecond", "turn")


class UnknownUnit(ValueError):
    """A unit string we cannot interpret; the message names it and says what is accepted."""


def _normalise_spelling(text: str) -> str:
    """Rewrite EM spellings into pint's vocabulary (word by word, so "nA" stays nanoampere)."""
    text = text.strip().translate(_SUPERSCRIPTS)
    return _WORD.sub(lambda match: _WORD_ALIASES.get(match.group(0), match.group(0)), text)


@lru_cache(maxsize=512)
def parse_unit(text: str) -> pint.Unit:
    """The pint unit for an EM unit string such as ``"e/Å^2"``, ``"kV"`` or ``"°"``.

    Raises :class:`UnknownUnit` (a ``ValueError``) with a message a depositor can act on.
    """
    if not isinstance(text, str) or not text.strip():
        raise UnknownUnit("empty unit: give a unit such as 'nm', 'kV' or 'e/Å^2'")
    if len(text) > _MAX_UNIT_LENGTH:
        raise UnknownUnit(
            f"unknown unit {text[:20]!r}...: longer than {_MAX_UNIT_LENGTH} characters"
        )
    if not _ALLOWED.match(text):
        raise UnknownUnit(f"unknown unit {text!r}: unexpected characters")
    spelled = _normalise_spelling(text)
    try:
        unit = ureg.parse_units(spelled)
    except Exception as exc:  # pint's parser raises tokenizer and eval errors of many kinds
        raise UnknownUnit(
            f"unknown unit {text!r}: use SI or EM spellings such as 'Å', 'A', 'nm', 'um', "
            f"'kV', 'e/Å^2', 'mrad', '°', 's', 'eV', 'mm'"
        ) from exc
    return unit


def _is_angle(unit: pint.Unit) -> bool:
    """pint treats angles as dimensionless; they still deserve "rad" as their SI unit."""
    return any(name in _ANGLE_NAMES or name.endswith("radian") for name in unit._units)


@lru_cache(maxsize=512)
def _si_of(unit: str) -> tuple[str, str]:
    """(our spelling, pint's spelling) of the SI unit for values given in ``unit``."""
    parsed = parse_unit(unit)
    if parsed.dimensionless:
        return ("rad", "radian") if _is_angle(parsed) else ("1", "dimensionless")
    if parsed.dimensionality in _SI_BY_DIMENSION:
        return _SI_BY_DIMENSION[parsed.dimensionality]
    base = ureg.Quantity(1, parsed).to_base_units().units
    return f"{base:~C}", str(base)


def si_unit_of(unit: str) -> str:
    """The SI unit string reported beside a value given in ``unit`` ("kV" -> "V")."""
    return _si_of(unit)[0]


@lru_cache(maxsize=1024)
def _factor(from_unit: str, to_unit: str) -> float | None:
    """The multiplicative factor from one unit to another, or None for offset units (°C)."""
    source, target = parse_unit(from_unit), parse_unit(to_unit)
    try:
        zero = ureg.Quantity(0.0, source).to(target).magnitude
        one = ureg.Quantity(1.0, source).to(target).magnitude
    except pint.errors.DimensionalityError as exc:
        raise ValueError(
            f"cannot convert {from_unit!r} to {to_unit!r}: different dimensions "
            f"({source.dimensionality} vs {target.dimensionality})"
        ) from exc
    return float(one) if zero == 0 else None


def conversion_factor(from_unit: str, to_unit: str) -> float:
    """The factor f with ``value_in_to = value_in_from * f`` (offset units are refused)."""
    factor = _factor(from_unit, to_unit)
    if factor is None:
        raise ValueError(f"{from_unit!r} -> {to_unit!r} is not a plain scale factor")
    return factor


def clean_float(number: float) -> float:
    """``number`` to 15 significant digits: scaling by powers of ten leaves binary noise
    (20 um is 1.9999999999999998e-05 m), and no instrument records more precision."""
    return float(f"{number:.15g}")


def convert(value: float, from_unit: str, to_unit: str) -> float:
    """``value`` given in ``from_unit``, expressed in ``to_unit``."""
    if from_unit == to_unit:
        parse_unit(from_unit)  # still refuse a unit we do not know
        return float(value)
    factor = _factor(from_unit, to_unit)
    if factor is not None:
        return clean_float(float(value) * factor)
    source, target = parse_unit(from_unit), parse_unit(to_unit)
    return clean_float(float(ureg.Quantity(float(value), source).to(target).m))


def to_si(value: float, unit: str) -> tuple[float, str]:
    """``(value_si, unit_si)``: e.g. ``(300, "kV") -> (300000.0, "V")``."""
    si_unit, pint_si = _si_of(unit)
    return convert(value, unit, pint_si), si_unit


def quantity(value: float, unit: str) -> dict[str, Any]:
    """An OSC-EM ``QuantitySI``: ``{value, unit, valueSI, unitSI}``.

    Non-finite values are refused, because JSON cannot carry them and a NaN in a dataset record
    is always a reading error.
    """
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ValueError(f"not a finite number: {value!r}")
    value_si, unit_si = to_si(value, unit)
    return {"value": value, "unit": unit, "valueSI": value_si, "unitSI": unit_si}


# ---------------------------------------------------------------------------------------------
# Display: units as people write them

#: Whole-word spellings shown otherwise (the stored spelling is kept; this is only for reading).
_DISPLAY_WORDS = {
    "A": "Å",
    "\u212b": "Å",
    "Ang": "Å",
    "Angstrom": "Å",
    "angstrom": "Å",
    "um": "µm",
    "μm": "µm",
    "micron": "µm",
    "microns": "µm",
    "urad": "µrad",
    "deg": "°",
    "degree": "°",
    "degrees": "°",
}
_DISPLAY_POWERS = {"^2": "²", "^3": "³", "^-1": "⁻¹", "^-2": "⁻²"}
_DOSE = re.compile(r"^(?:e|el|electrons?|1)\s*/\s*(.+)$")


def display_unit(unit: Any) -> str:
    """``1/A^2`` -> ``e⁻/Å²``, ``um`` -> ``µm``, ``e/A^2`` -> ``e⁻/Å²``: for pages and exports
    read by people. Anything unrecognised is returned as it is."""
    if not isinstance(unit, str):
        return "" if unit is None else str(unit)
    text = unit.strip()
    dose = _DOSE.match(text)
    prefix = ""
    if dose is not None and ("^2" in dose.group(1) or "²" in dose.group(1)):
        prefix, text = "e⁻/", dose.group(1)  # electrons per area: a dose
    text = _WORD.sub(lambda m: _DISPLAY_WORDS.get(m.group(0), m.group(0)), text)
    for power, superscript in _DISPLAY_POWERS.items():
        text = text.replace(power, superscript)
    return prefix + text
