"""Values as people read them: the one formatting helper of every page that shows metadata
(the metadata form, the landing page's tables, file headers, plots' tables).

Numbers are rounded for reading (six significant digits, no exponent for the values
microscopes write); the stored value is never touched. Units are spelled as people write
them (Å, e⁻/Å², µm, mrad, °); anything unrecognised is shown as it is.
"""

from __future__ import annotations

import math
from typing import Any

from metadata.units import display_unit

SIGNIFICANT_DIGITS = 6


def number(value: float, digits: int = SIGNIFICANT_DIGITS) -> str:
    """``0.4150152790871608`` -> ``0.415015``; ``-3080.7366167`` -> ``-3080.74``; ``300.0``
    -> ``300``; no exponent for 1e-5 .. 1e10."""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return str(value)
    if not math.isfinite(value):
        return str(value)
    if value == 0:
        return "0"
    if value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    magnitude = math.floor(math.log10(abs(value)))
    if -5 <= magnitude < 10:
        decimals = max(0, digits - 1 - magnitude)
        text = f"{value:.{decimals}f}"
        return text.rstrip("0").rstrip(".") if "." in text else text
    return f"{value:.{digits}g}"


def unit(text: Any) -> str:
    """``1/A^2`` -> ``e⁻/Å²``, ``um`` -> ``µm``, ``deg`` -> ``°``."""
    return display_unit(text)


def is_quantity(value: Any) -> bool:
    return isinstance(value, dict) and "value" in value and "unit" in value


def scalar(value: Any) -> str:
    """One value without its unit: rounded numbers, yes/no, text as it is."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int | float):
        return number(value)
    if isinstance(value, list | tuple):
        return ", ".join(scalar(item) for item in value)
    return str(value)


def value_and_unit(value: Any) -> tuple[str, str]:
    """A stored value (a quantity ``{"value", "unit"}``, a list or a scalar) as the text of
    its value and the spelling of its unit."""
    if is_quantity(value):
        return scalar(value.get("value")), unit(value.get("unit") or "")
    return scalar(value), ""


def quantity(value: Any) -> str:
    """``{"value": 0.4150152, "unit": "A"}`` -> ``0.415015 Å`` (a scalar as :func:`scalar`)."""
    shown, spelled = value_and_unit(value)
    if not spelled or not shown:
        return shown
    if spelled == "°":
        return f"{shown}°"
    return f"{shown}\u00a0{spelled}"
