"""Server-side charts of the dashboard as SVG (matplotlib, Agg: no JavaScript, no CDN). Each
chart is drawn from the same rows the page's tables show."""

from __future__ import annotations

import io
import re
from collections.abc import Sequence
from typing import Any

import matplotlib

matplotlib.use("Agg")  # no display; must precede pyplot
from matplotlib import pyplot  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

EMDB_COLOUR = "#5b7fa6"
EMPIAR_COLOUR = "#e08a2c"
RATIO_COLOUR = "#2f7d32"
_STYLE_ELEMENT = re.compile(rb"<style[^>]*>.*?</style>", re.DOTALL)

matplotlib.rcParams.update(
    {
        "svg.fonttype": "none",  # text stays text: selectable, searchable
        "svg.hashsalt": "openem",  # stable element ids: the same data draws the same bytes
        "font.size": 9,
        "axes.spines.top": False,
    }
)


def _svg(figure: Figure) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="svg", bbox_inches="tight", metadata={"Date": None})
    pyplot.close(figure)
    return _STYLE_ELEMENT.sub(b"", buffer.getvalue())


def _empty(message: str) -> bytes:
    figure = pyplot.figure(figsize=(7, 1.2))
    figure.text(0.5, 0.5, message, ha="center", va="center", color="#666")
    buffer = io.BytesIO()
    figure.savefig(buffer, format="svg", metadata={"Date": None})  # the whole width: no zoom
    pyplot.close(figure)
    return _STYLE_ELEMENT.sub(b"", buffer.getvalue())


def coverage_chart(rows: Sequence[dict[str, Any]], *, title: str) -> bytes:
    """Bars of EMDB entries and of those with raw data in EMPIAR per year, and their ratio as a
    line on a percentage axis (the seed figure of the network)."""
    if not rows:
        return _empty("No EMDB entries yet")
    years = [row["year"] for row in rows]
    positions = list(range(len(years)))
    figure, axes = pyplot.subplots(figsize=(7, 3.2))
    width = 0.4
    axes.bar(
        [p - width / 2 for p in positions],
        [r["emdb_entries"] for r in rows],
        width,
        label="EMDB entries",
        color=EMDB_COLOUR,
    )
    axes.bar(
        [p + width / 2 for p in positions],
        [r["with_empiar"] for r in rows],
        width,
        label="with raw data in EMPIAR",
        color=EMPIAR_COLOUR,
    )
    axes.set_xticks(positions, [str(year) for year in years])
    axes.set_xlim(-0.8, max(len(years), 4) - 0.2)  # a single year is not one huge bar
    axes.set_ylabel("entries")
    axes.set_title(title)
    ratio_axes = axes.twinx()
    ratio_axes.plot(
        positions,
        [100 * (r["ratio"] or 0) for r in rows],
        color=RATIO_COLOUR,
        marker="o",
        label="share with EMPIAR (%)",
    )
    ratio_axes.set_ylim(0, 100)
    ratio_axes.set_ylabel("% with EMPIAR")
    handles = axes.get_legend_handles_labels()
    ratio_handles = ratio_axes.get_legend_handles_labels()
    axes.legend(
        handles[0] + ratio_handles[0],
        handles[1] + ratio_handles[1],
        loc="upper left",
        frameon=False,
    )
    return _svg(figure)


def bar_chart(
    labels: Sequence[str],
    values: Sequence[float],
    *,
    title: str,
    unit: str,
    horizontal: bool = False,
) -> bytes:
    if not labels:
        return _empty(f"No {title.lower()} yet")
    figure, axes = pyplot.subplots(
        figsize=(7, max(1.6, 0.35 * len(labels) + 0.8)) if horizontal else (7, 3)
    )
    if horizontal:
        axes.barh(list(labels), list(values), color=EMDB_COLOUR)
        axes.invert_yaxis()
        axes.set_xlabel(unit)
    else:
        axes.bar(list(labels), list(values), color=EMDB_COLOUR)
        axes.set_ylabel(unit)
        axes.tick_params(axis="x", labelrotation=45 if len(labels) > 8 else 0)
    axes.set_title(title)
    return _svg(figure)


# ---------------------------------------------------------------------------------------------
# Shared with the per-dataset plots (stats/dataset_plots.py): the same style, SVG without its
# <style> element (the portal's CSP), and PNG where a figure is an image (map slices).


def svg(figure: Figure) -> bytes:
    """A figure as the dashboard's SVG (text stays text, stable ids, no <style>)."""
    return _svg(figure)


def png(figure: Figure, dpi: int = 100) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", bbox_inches="tight", dpi=dpi, metadata={"Software": None})
    pyplot.close(figure)
    return buffer.getvalue()


def empty_chart(message: str) -> bytes:
    return _empty(message)


def histogram_chart(
    edges: Sequence[float], counts: Sequence[int], *, title: str, unit: str, what: str
) -> bytes:
    """Counts per bin (``edges`` has one more item than ``counts``)."""
    if not counts:
        return _empty(f"No {what} yet")
    figure, axes = pyplot.subplots(figsize=(6, 2.8))
    widths = [b - a for a, b in zip(edges[:-1], edges[1:], strict=True)]
    axes.bar(list(edges[:-1]), list(counts), width=widths, align="edge", color=EMDB_COLOUR)
    axes.set_xlabel(unit)
    axes.set_ylabel(what)
    axes.set_title(title)
    return _svg(figure)


def series_chart(
    series: Sequence[tuple[str, Sequence[float], Sequence[float]]],
    *,
    title: str,
    x_label: str,
    y_label: str,
    scatter: bool = False,
    equal_axes: bool = False,
) -> bytes:
    """Lines with markers (or points) per named series: tilt angle against acquisition
    order, stage positions of exposures."""
    if not any(len(x) for _, x, _ in series):
        return _empty(f"No {title.lower()} yet")
    figure, axes = pyplot.subplots(figsize=(6, 4 if equal_axes else 2.8))
    colours = (EMDB_COLOUR, EMPIAR_COLOUR, RATIO_COLOUR, "#8e44ad", "#555555")
    for index, (label, xs, ys) in enumerate(series):
        colour = colours[index % len(colours)]
        if scatter:
            axes.scatter(list(xs), list(ys), s=12, color=colour, label=label)
        else:
            axes.plot(list(xs), list(ys), marker="o", markersize=3, color=colour, label=label)
    axes.set_xlabel(x_label)
    axes.set_ylabel(y_label)
    axes.set_title(title)
    if equal_axes:
        axes.set_aspect("equal", adjustable="datalim")
    if len(series) > 1:
        axes.legend(frameon=False, fontsize=8)
    return _svg(figure)


def slices_png(panels: Sequence[tuple[str, Any]], *, title: str) -> bytes:
    """Grey images side by side (the three central slices of a map), each contrast-stretched
    at its 1st/99th percentile."""
    import numpy as np

    figure, axes_row = pyplot.subplots(1, len(panels), figsize=(3 * len(panels), 3.3))
    for axes, (label, image) in zip(np.atleast_1d(axes_row), panels, strict=True):
        finite = image[np.isfinite(image)]
        low, high = np.percentile(finite, (1, 99)) if finite.size else (0.0, 1.0)
        axes.imshow(
            image,
            cmap="gray",
            vmin=low,
            vmax=high if high > low else low + 1,
            origin="lower",
            interpolation="nearest",
        )
        axes.set_title(label)
        axes.set_xticks([])
        axes.set_yticks([])
    figure.suptitle(title)
    return png(figure)


def message_png(message: str) -> bytes:
    figure = pyplot.figure(figsize=(6, 1))
    figure.text(0.5, 0.5, message, ha="center", va="center", color="#666")
    return png(figure)
