"""Per-dataset plots for the landing page: defocus and dose distributions, tilt angles against
acquisition order, ice/CTF figures where sidecars carry them, a grid overview of where EPU
took its exposures, and the three central slices of maps.

Everything is drawn on the server by :mod:`stats.charts` (matplotlib, the dashboard's style),
from the values the ingest already stored in each file's header, and every plot comes with its
numbers as a table, so the page reads without JavaScript and without the images. Only map
slices read file content: one ranged read per (sampled) section, never the whole map in
memory, and only for people who may see the files.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from django.core.cache import cache

import storage
from metadata import display
from repository.models import DataFile, Dataset, FileState

from . import charts

#: Headers read per dataset for the plots (the values are small: a few keys per file).
MAX_FILES = 5000
#: Maps shown as slices, and the size of one map section we are willing to read.
MAX_MAPS = 2
MAX_SECTION_BYTES = 64 * 1024 * 1024
#: Sections read from a map (evenly spaced) to build its XZ and YZ slices.
MAX_SECTIONS = 256
#: Rows of a plot's table before "and N more".
MAX_TABLE_ROWS = 60
CACHE_SECONDS = 600

MAP_FORMATS = ("mrc", "mrcs")
#: Keys of ice and CTF estimates that sidecars (or on-the-fly processing) may carry, with
#: their titles and units.
QUALITY_KEYS = {
    "ice_thickness": ("Ice thickness", "nm"),
    "ctf_resolution": ("CTF fit resolution", "Å"),
    "ctf_max_resolution": ("CTF fit resolution", "Å"),
    "astigmatism": ("Astigmatism", "nm"),
}


@dataclass
class Plot:
    key: str
    title: str
    alt: str
    columns: list[str]
    rows: list[list[str]]
    draw: Callable[[], bytes] = field(repr=False)
    content_type: str = "image/svg+xml"
    needs_files: bool = False
    more_rows: int = 0

    @property
    def extension(self) -> str:
        return "png" if self.content_type == "image/png" else "svg"


# ---------------------------------------------------------------------------------------------
# What the headers say


@dataclass
class Exposure:
    path: str
    time: str = ""
    defocus_um: float | None = None
    dose: float | None = None
    stage_um: tuple[float, float] | None = None
    quality: dict[str, float] = field(default_factory=dict)


@dataclass
class TiltSeries:
    path: str
    angles: list[tuple[int, str, float]]  # (acquisition order, time, tilt angle)


@dataclass
class MapFile:
    pk: int
    path: str
    header: dict[str, Any]


@dataclass
class DatasetFacts:
    exposures: list[Exposure] = field(default_factory=list)
    tilt_series: list[TiltSeries] = field(default_factory=list)
    maps: list[MapFile] = field(default_factory=list)


def _number(value: Any) -> float | None:
    if isinstance(value, dict):
        value = value.get("value")
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


def _defocus_um(values: dict[str, Any]) -> float | None:
    nm = _number(values.get("defocus_calibrated"))
    if nm is None:
        nm = _number(values.get("defocus_nominal"))
    return None if nm is None else nm / 1000.0


def _quality(values: dict[str, Any]) -> dict[str, float]:
    found = {}
    for key in QUALITY_KEYS:
        number = _number(values.get(key))
        if number is not None:
            found[key] = number
    return found


def _epu_stage(raw: dict[str, Any]) -> tuple[float, float] | None:
    try:
        x = float(raw["microscopeData.stage.Position.X"])
        y = float(raw["microscopeData.stage.Position.Y"])
    except (KeyError, TypeError, ValueError):
        return None
    return (x * 1e6, y * 1e6) if math.isfinite(x) and math.isfinite(y) else None


def _mdoc_stage(raw: dict[str, Any]) -> tuple[float, float] | None:
    parts = str(raw.get("StagePosition", "")).split()
    try:
        return (float(parts[0]), float(parts[1])) if len(parts) >= 2 else None
    except ValueError:
        return None


def dataset_facts(dataset: Dataset) -> DatasetFacts:
    facts = DatasetFacts()
    files = (
        DataFile.objects.filter(dataset=dataset, state=FileState.READY)
        .order_by("path")
        .values_list("pk", "path", "format", "header")[:MAX_FILES]
    )
    for pk, path, file_format, header in files:
        header = header if isinstance(header, dict) else {}
        if file_format == "epu_xml" and header.get("epu_image_kind") == "data":
            raw = header.get("raw") or {}
            facts.exposures.append(
                Exposure(
                    path=path,
                    time=str(header.get("acquisition_time") or ""),
                    defocus_um=_defocus_um(header),
                    dose=_number(header.get("dose")),
                    stage_um=_epu_stage(raw),
                    quality=_quality(header),
                )
            )
        elif file_format == "mdoc":
            sections = [s for s in header.get("sections") or [] if isinstance(s, dict)]
            _add_tilt_series(facts, path, sections)
        elif file_format == "eer":
            dose = _number((header.get("acquisition") or {}).get("dose"))
            if dose is not None:
                facts.exposures.append(Exposure(path=path, dose=dose))
        elif file_format in MAP_FORMATS and header.get("data_kind") == "volume":
            facts.maps.append(MapFile(pk, path, header))
    # A stack with a SerialEM mdoc beside it (TS_01.mrc + TS_01.mrc.mdoc) is a tilt series,
    # not a map: its "XZ slice" would mean nothing.
    tilt_stacks = {series.path.removesuffix(".mdoc") for series in facts.tilt_series}
    facts.maps = [m for m in facts.maps if m.path not in tilt_stacks][:MAX_MAPS]
    return facts


def _add_tilt_series(facts: DatasetFacts, path: str, sections: list[dict[str, Any]]) -> None:
    def order_key(item: tuple[int, dict[str, Any]]) -> tuple[str, int]:
        return (str(item[1].get("acquisition_time") or ""), item[0])

    angles = []
    for order, (_, section) in enumerate(sorted(enumerate(sections), key=order_key), start=1):
        raw = section.get("raw") or {}
        facts.exposures.append(
            Exposure(
                path=f"{path} [{section.get('index', order - 1)}]",
                time=str(section.get("acquisition_time") or ""),
                defocus_um=_defocus_um(section),
                dose=_number(section.get("dose")),
                stage_um=_mdoc_stage(raw),
                quality=_quality(section),
            )
        )
        tilt = _number(section.get("tilt_angle"))
        if tilt is not None:
            angles.append((order, str(section.get("acquisition_time") or ""), tilt))
    if angles:
        facts.tilt_series.append(TiltSeries(path, angles))


# ---------------------------------------------------------------------------------------------
# Plots


def dataset_plots(dataset: Dataset, *, with_files: bool) -> list[Plot]:
    """The plots this dataset has data for; map slices only ``with_files`` (they show the
    data itself, which an embargo keeps closed)."""
    facts = dataset_facts(dataset)
    plots: list[Plot] = []
    defocus = [e.defocus_um for e in facts.exposures if e.defocus_um is not None]
    if defocus:
        plots.append(_distribution("defocus", "Defocus", defocus, "µm", "exposures"))
    doses = [e.dose for e in facts.exposures if e.dose is not None]
    if doses:
        plots.append(_distribution("dose", "Dose per exposure", doses, "e⁻/Å²", "exposures"))
    for key, (title, unit) in QUALITY_KEYS.items():
        values = [e.quality[key] for e in facts.exposures if key in e.quality]
        if values and not any(p.title == title for p in plots):
            plots.append(_distribution(key.replace("_", "-"), title, values, unit, "exposures"))
    if facts.tilt_series:
        plots.append(_tilts(facts.tilt_series))
    stages = [e for e in facts.exposures if e.stage_um is not None]
    if stages:
        plots.append(_overview(stages))
    if with_files:
        plots.extend(_map_slices(m) for m in facts.maps)
    return plots


def dataset_plot(dataset: Dataset, key: str, *, with_files: bool) -> Plot | None:
    return next((p for p in dataset_plots(dataset, with_files=with_files) if p.key == key), None)


def plot_image(dataset: Dataset, plot: Plot) -> bytes:
    """The drawn plot, cached while the dataset is unchanged (map slices read the file)."""
    cache_key = f"openem:plot:{dataset.pk}:{dataset.modified.timestamp()}:{plot.key}"
    image = cache.get(cache_key)
    if image is None:
        image = plot.draw()
        cache.set(cache_key, image, CACHE_SECONDS)
    return image


def _table(rows: list[list[str]]) -> tuple[list[list[str]], int]:
    return rows[:MAX_TABLE_ROWS], max(0, len(rows) - MAX_TABLE_ROWS)


def _distribution(key: str, title: str, values: list[float], unit: str, what: str) -> Plot:
    low, high = min(values), max(values)
    bins = max(1, min(30, int(math.sqrt(len(values))) + 1)) if high > low else 1
    if high == low:
        low, high = low - 0.5 * (abs(low) or 1) * 0.1, high + 0.5 * (abs(high) or 1) * 0.1
    counts, edges = np.histogram(values, bins=bins, range=(low, high))
    rows = [
        [f"{display.number(float(a), 3)} to {display.number(float(b), 3)}", str(int(c))]
        for a, b, c in zip(edges[:-1], edges[1:], counts, strict=True)
    ]
    summary = (
        f"{len(values)} {what}: median {display.number(statistics.median(values))} {unit}, "
        f"from {display.number(min(values))} to {display.number(max(values))} {unit}"
    )
    edges_list, counts_list = [float(e) for e in edges], [int(c) for c in counts]
    return Plot(
        key=key,
        title=title,
        alt=f"Histogram of {title.lower()}: {summary}. The numbers are in the table.",
        columns=[f"{title} ({unit})", what.capitalize()],
        rows=rows + [["all", str(len(values))]],
        draw=lambda: charts.histogram_chart(
            edges_list, counts_list, title=summary, unit=unit, what=what
        ),
    )


def _tilts(series: list[TiltSeries]) -> Plot:
    rows = [
        [s.path.rsplit("/", 1)[-1], str(order), time.replace("T", " "), display.number(angle)]
        for s in series
        for order, time, angle in s.angles
    ]
    shown, more = _table(rows)
    data = [
        (s.path.rsplit("/", 1)[-1], [o for o, _, _ in s.angles], [a for _, _, a in s.angles])
        for s in series
    ]
    count = sum(len(s.angles) for s in series)
    return Plot(
        key="tilt",
        title="Tilt angles in acquisition order",
        alt=f"Tilt angle against acquisition order for {len(series)} tilt series "
        f"({count} tilts). The numbers are in the table.",
        columns=["Tilt series", "Order", "Acquired", "Tilt angle (°)"],
        rows=shown,
        more_rows=more,
        draw=lambda: charts.series_chart(
            data,
            title="Tilt angles in acquisition order",
            x_label="acquisition order",
            y_label="tilt angle (°)",
        ),
    )


def _overview(exposures: list[Exposure]) -> Plot:
    points = [(e.path, *e.stage_um) for e in exposures if e.stage_um is not None]
    rows = [
        [path.rsplit("/", 1)[-1], display.number(round(x, 2)), display.number(round(y, 2))]
        for path, x, y in points
    ]
    shown, more = _table(rows)
    xs, ys = [p[1] for p in points], [p[2] for p in points]
    return Plot(
        key="overview",
        title="Grid overview: where the exposures were taken",
        alt=f"Stage positions of {len(points)} exposures on the grid. "
        "The numbers are in the table.",
        columns=["Exposure", "Stage X (µm)", "Stage Y (µm)"],
        rows=shown,
        more_rows=more,
        draw=lambda: charts.series_chart(
            [("exposures", xs, ys)],
            title="Stage positions of the exposures",
            x_label="stage X (µm)",
            y_label="stage Y (µm)",
            scatter=True,
            equal_axes=True,
        ),
    )


# ---------------------------------------------------------------------------------------------
# Map slices


def _map_slices(map_file: MapFile) -> Plot:
    header = map_file.header
    nx, ny, nz = (int(header.get(k) or 0) for k in ("nx", "ny", "nz"))
    name = map_file.path.rsplit("/", 1)[-1]
    voxel = _number(((header.get("voxel_size") or {}).get("x")) or None)
    rows = [
        ["Size (voxels)", f"{nx} × {ny} × {nz}"],
        ["Voxel size", f"{display.number(voxel)} Å" if voxel else "–"],
        ["Central sections", f"z = {nz // 2}, y = {ny // 2}, x = {nx // 2}"],
        ["Minimum", display.number(_number(header.get("dmin")) or 0.0)],
        ["Maximum", display.number(_number(header.get("dmax")) or 0.0)],
        ["Mean", display.number(_number(header.get("dmean")) or 0.0)],
    ]
    return Plot(
        key=f"map-{map_file.pk}",
        title=f"Central slices of {name}",
        alt=f"The three orthogonal central slices (XY, XZ, YZ) of the map {name}. "
        "Its size and density range are in the table.",
        columns=["", name],
        rows=rows,
        draw=lambda: _draw_slices(map_file),
        content_type="image/png",
        needs_files=True,
    )


def central_slices(source: Any, header: dict[str, Any]) -> list[tuple[str, np.ndarray]]:
    """XY, XZ and YZ slices through the centre of an MRC volume, from ranged reads of one
    section at a time (at most :data:`MAX_SECTIONS` of them, evenly spaced)."""
    nx, ny, nz = (int(header.get(k) or 0) for k in ("nx", "ny", "nz"))
    dtype = np.dtype(str(header.get("dtype") or "float32"))
    if header.get("byte_order") == "big":
        dtype = dtype.newbyteorder(">")
    offset = int(header.get("data_offset") or 1024)
    section_bytes = nx * ny * dtype.itemsize
    if not (nx and ny and nz) or section_bytes > MAX_SECTION_BYTES:
        raise ValueError(f"map of {nx} × {ny} × {nz} voxels: too large for slices")
    picks = sorted({int(round(i)) for i in np.linspace(0, nz - 1, min(nz, MAX_SECTIONS))})
    xz = np.zeros((len(picks), nx), dtype=np.float32)
    yz = np.zeros((len(picks), ny), dtype=np.float32)
    xy = None
    for row, z in enumerate(_with_centre(picks, nz // 2)):
        data = source.read_at(offset + z * section_bytes, section_bytes)
        if len(data) < section_bytes:
            raise ValueError("the map is shorter than its header says")
        section = np.frombuffer(data, dtype=dtype).reshape(ny, nx).astype(np.float32)
        if z == nz // 2:
            xy = section
        if z in picks:
            index = picks.index(z)
            xz[index], yz[index] = section[ny // 2, :], section[:, nx // 2]
        del row
    assert xy is not None
    return [("XY (z centre)", xy), ("XZ (y centre)", xz), ("YZ (x centre)", yz)]


def _with_centre(picks: Iterable[int], centre: int) -> list[int]:
    ordered = list(picks)
    return ordered if centre in ordered else sorted([*ordered, centre])


def _draw_slices(map_file: MapFile) -> bytes:
    datafile = DataFile.objects.get(pk=map_file.pk)
    store = storage.get_store()
    source = storage.ObjectSource(store, datafile.storage_key, size=datafile.size)
    try:
        panels = central_slices(source, map_file.header)
    except ValueError as exc:
        return charts.message_png(str(exc))
    return charts.slices_png(panels, title=map_file.path.rsplit("/", 1)[-1])
