"""Template filters for showing metadata to people: units as they are written (Å, e⁻/Å², µm),
numbers rounded for reading (the stored value is kept), and anchors into the metadata form."""

from __future__ import annotations

from typing import Any

from django import template

from metadata import display

register = template.Library()


@register.filter
def unit(value: Any) -> str:
    """``{{ quantity.unit|unit }}``: ``1/Å^2`` -> ``e⁻/Å²``."""
    return display.unit(value)


@register.filter
def rounded(value: Any) -> Any:
    """``{{ number|rounded }}``: six significant digits for floats, anything else unchanged."""
    if isinstance(value, float) and not isinstance(value, bool):
        return display.number(value)
    return value


@register.filter
def quantity(value: Any) -> str:
    """``{{ stored|quantity }}``: ``{"value": 0.41501527, "unit": "A"}`` -> ``0.415015 Å``."""
    return display.quantity(value)


@register.filter
def form_anchor(path: Any) -> str:
    """The id of a document path's field in the metadata form (``f-acquisition-pixel_size``)."""
    text = str(path or "")
    return "f-" + text.replace(".", "-").replace("[", "-").replace("]", "")


@register.filter
def shown(value: Any) -> str:
    """``{{ value|shown }}``: any stored value for reading: lists and pairs joined
    (``["Curator", "C"]`` -> ``Curator, C``), numbers rounded, quantities with units."""
    return display.quantity(value)
