"""EMPIAR image sets derived from the ingested files.

One image set per group of like files: the same directory (numbered folders such as EPU's
``GridSquare_12`` or SerialEM's ``TS_03`` count as one directory: a session spreads its movies
over hundreds of them), the same format and the same image dimensions, and the same kind of
data (a micrograph, a movie, a tilt series, a volume). Each group reports what EMPIAR asks:
category, header/data format, voxel type, counts, frames per image, image size and pixel size,
and says from which file every value came. Disagreements inside a group (pixel sizes, pixel
types) are report entries, never guesses.

Memory is O(groups + files of the dataset as ids): headers are read in chunks and only the
few numbers a group needs are kept.
"""

from __future__ import annotations

import os
import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from deposition import vocab
from deposition.report import Report

IMAGE_FORMATS = ("mrc", "mrcs", "tiff", "eer")
SIDECAR_FORMATS = ("mdoc", "epu_xml", "gain_ref")
TOMO_TECHNIQUES = frozenset({"tomography", "cellular_tomo", "env_tomo", "subtomo"})
TILT_SERIES_EXTENSIONS = frozenset({".st", ".ali", ".preali", ".mrcs"})
VOLUME_EXTENSIONS = frozenset({".rec", ".map", ".ccp4"})
#: Relative tolerance under which two pixel sizes are the same (headers store float32).
PIXEL_SIZE_TOLERANCE = 0.005
#: EMPIAR's limits on directory, name and pattern strings.
EMPIAR_MAX_PATH = 200
MAX_NAME_COMPONENT = 255
DATA_ROOT = "/data"

_DIGITS = re.compile(r"\d+")


@dataclass(frozen=True)
class FileFacts:
    """What one ingested image file says about itself, in EMPIAR's terms."""

    id: int
    path: str
    directory: str
    name: str
    format: str
    size: int
    sha256: str
    width: int
    height: int
    depth: int  # sections (MRC nz), pages (TIFF) or frames (EER)
    category: str
    header_format: str
    voxel_type: str  # an EMPIAR code-list string
    voxel_source: str
    pixel_size: tuple[float, float] | None
    pixel_source: str
    frames_per_image: int
    detector: str = ""


@dataclass
class ImageSet:
    key: tuple[Any, ...]
    category: str
    header_format: str
    width: int
    height: int
    directories: Counter[str] = field(default_factory=Counter)
    file_ids: list[int] = field(default_factory=list)
    paths_sample: list[str] = field(default_factory=list)
    names: list[str] = field(default_factory=list)  # first and last names, for the pattern
    total_bytes: int = 0
    frames: Counter[int] = field(default_factory=Counter)
    voxel_types: dict[str, str] = field(default_factory=dict)  # code -> first file
    voxel_sources: dict[str, str] = field(default_factory=dict)
    pixel_sizes: list[tuple[tuple[float, float], int, str]] = field(default_factory=list)
    pixel_unknown: int = 0
    pixel_sources: dict[str, int] = field(default_factory=dict)
    detectors: Counter[str] = field(default_factory=Counter)
    non_ascii: list[str] = field(default_factory=list)
    too_long: list[str] = field(default_factory=list)
    prefix: str | None = None
    suffix: str | None = None
    shortest_name: int = 1 << 30

    @property
    def count(self) -> int:
        return len(self.file_ids)

    @property
    def directory(self) -> str:
        """The deepest directory that holds every file of the set (``data/...``)."""
        parts: list[str] | None = None
        for directory in self.directories:
            pieces = directory.split("/") if directory else []
            if parts is None:
                parts = pieces
            else:
                common = 0
                while common < min(len(parts), len(pieces)) and parts[common] == pieces[common]:
                    common += 1
                parts = parts[:common]
        return "/".join([DATA_ROOT, *(parts or [])])

    def add_pixel_size(self, size: tuple[float, float], path: str) -> None:
        for index, (known, count, example) in enumerate(self.pixel_sizes):
            if _same(known[0], size[0]) and _same(known[1], size[1]):
                self.pixel_sizes[index] = (known, count + 1, example)
                return
        self.pixel_sizes.append((size, 1, path))


def _same(a: float, b: float) -> bool:
    return abs(a - b) <= PIXEL_SIZE_TOLERANCE * max(abs(a), abs(b))


def directory_pattern(directory: str) -> str:
    """``Images-Disc1/GridSquare_12/Data`` -> ``Images-Disc#/GridSquare_#/Data``."""
    return _DIGITS.sub("#", directory)


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _quantity_angstrom(value: Any) -> float | None:
    if isinstance(value, dict) and isinstance(value.get("value"), int | float):
        unit = str(value.get("unit") or "A")
        number = float(value["value"])
        factor = {"a": 1.0, "å": 1.0, "\u212b": 1.0, "nm": 10.0, "m": 1e10}.get(unit.lower())
        if factor is None or number <= 0:
            return None
        return number * factor
    return None


def _pair(record: Any) -> tuple[float, float] | None:
    if not isinstance(record, dict):
        return None
    x, y = _quantity_angstrom(record.get("x")), _quantity_angstrom(record.get("y"))
    if x is None and y is None:
        return None
    return (x or y, y or x)  # type: ignore[return-value]


def _mrc_voxel_type(mode: Any) -> tuple[str, str]:
    if mode in vocab.MRC_MODE_VOXEL_TYPE:
        code = vocab.MRC_MODE_VOXEL_TYPE[mode]
        return vocab.empiar_code(code), f"MRC mode {mode} ({vocab.EMPIAR_VOXEL_TYPES[code]})"
    if mode in vocab.MRC_MODE_OTHER:
        text = vocab.MRC_MODE_OTHER[mode]
        return vocab.empiar_code("OT", text), f"MRC mode {mode}: no EMPIAR code, written as other"
    return "", f"unknown MRC mode {mode}"


def _tiff_voxel_type(header: dict[str, Any]) -> tuple[str, str]:
    dtype = header.get("dtype") if isinstance(header.get("dtype"), str) else None
    bits = header.get("bits_per_sample")
    if bits == 1:
        return vocab.empiar_code("T8"), "TIFF with 1 bit per sample"
    if bits == 4:
        return vocab.empiar_code("T9"), "TIFF with 4 bits per sample"
    if dtype in vocab.DTYPE_VOXEL_TYPE:
        code = vocab.DTYPE_VOXEL_TYPE[dtype]
        return vocab.empiar_code(code), f"TIFF sample type {dtype}"
    if dtype:
        other = re.sub(r"[^A-Z0-9 ]+", " ", dtype.upper()).strip() or "UNKNOWN"
        return vocab.empiar_code("OT", other), f"TIFF sample type {dtype}: other"
    return "", "TIFF sample type unknown"


def file_facts(
    row: dict[str, Any],
    *,
    technique: str,
    sidecar_paths: set[str],
    fallback_pixel: tuple[float, str] | None,
) -> FileFacts | None:
    """EMPIAR terms for one ready image file (None for files that are no images)."""
    header = row["header"] if isinstance(row["header"], dict) else {}
    fmt = row["format"]
    path = row["path"]
    extension = os.path.splitext(row["name"].lower())[1]
    acquisition = _dict(header.get("acquisition"))
    pixel = _pair(acquisition.get("pixel_size"))
    pixel_source = f"{path} (acquisition metadata in the header)" if pixel else ""
    tomo = technique in TOMO_TECHNIQUES
    if fmt in ("mrc", "mrcs"):
        width, height, depth = header.get("nx"), header.get("ny"), header.get("nz")
        if not (isinstance(width, int) and isinstance(height, int) and isinstance(depth, int)):
            return None
        mode = header.get("mode")
        voxel_type, voxel_source = _mrc_voxel_type(mode if isinstance(mode, int) else None)
        voxel = _pair(header.get("voxel_size"))
        if voxel:
            pixel, pixel_source = voxel, f"{path} (MRC header cell / sampling)"
        header_format = "T2" if fmt == "mrcs" or extension == ".mrcs" else "T1"
        kind = header.get("data_kind")
        has_mdoc = f"{path}.mdoc" in sidecar_paths or (
            f"{os.path.splitext(path)[0]}.mdoc" in sidecar_paths
        )
        if has_mdoc or (tomo and depth > 1 and extension in TILT_SERIES_EXTENSIONS):
            category, frames = "T9", depth
        elif tomo and depth > 1 and extension not in VOLUME_EXTENSIONS and kind == "volume":
            # A tomography session's raw stack with a volume space group (mrcfile's default
            # for 3-D data) is a tilt series, not a reconstruction.
            category, frames = "T9", depth
        elif kind in ("volume", "volume_stack") or extension in VOLUME_EXTENSIONS:
            category = "T14" if kind == "volume_stack" and technique == "subtomo" else "T13"
            frames = 1
        elif kind == "image_stack" or depth > 1:
            category, frames = "T2", depth
        else:
            category, frames = ("T9" if tomo else "T1"), 1
    elif fmt == "tiff":
        width, height = header.get("width"), header.get("height")
        pages = header.get("pages")
        if not (isinstance(width, int) and isinstance(height, int)):
            return None
        depth = pages if isinstance(pages, int) and pages > 0 else 1
        voxel_type, voxel_source = _tiff_voxel_type(header)
        header_format = "T3"
        category, frames = ("T2", depth) if depth > 1 else (("T9" if tomo else "T1"), 1)
    elif fmt == "eer":
        width, height = header.get("width"), header.get("height")
        if not (isinstance(width, int) and isinstance(height, int)):
            return None
        counted = header.get("frames") or acquisition.get("frames")
        depth = frames = counted if isinstance(counted, int) and counted > 0 else 0
        voxel_type = vocab.empiar_code(vocab.EER_VOXEL_TYPE)
        voxel_source = vocab.EER_VOXEL_TYPE_REASON
        header_format = "T9"
        category = "T2"
    else:
        return None
    if pixel is None and fallback_pixel is not None:
        pixel = (fallback_pixel[0], fallback_pixel[0])
        pixel_source = fallback_pixel[1]
    return FileFacts(
        id=row["id"],
        path=path,
        directory=row["directory"],
        name=row["name"],
        format=fmt,
        size=row["size"],
        sha256=row["checksum_sha256"],
        width=width,
        height=height,
        depth=depth,
        category=category,
        header_format=header_format,
        voxel_type=voxel_type,
        voxel_source=voxel_source,
        pixel_size=pixel,
        pixel_source=pixel_source,
        frames_per_image=frames,
        detector=str(acquisition.get("detector_model") or acquisition.get("detector") or ""),
    )


@dataclass
class Grouping:
    imagesets: list[ImageSet]
    sidecar_ids: list[int]
    skipped: Counter[str]
    unsettled: int
    first_image: dict[str, FileFacts]  # category -> first file (thumbnail candidates)


def group_files(
    rows: Iterable[dict[str, Any]],
    *,
    technique: str,
    sidecar_paths: set[str],
    sidecar_rows: Iterable[dict[str, Any]] = (),
    fallback_pixel: tuple[float, str] | None = None,
) -> Grouping:
    """Image sets of the image files in ``rows`` (each a ``DataFile`` values dict)."""
    groups: dict[tuple[Any, ...], ImageSet] = {}
    skipped: Counter[str] = Counter()
    unsettled = 0
    first_image: dict[str, FileFacts] = {}
    for row in rows:
        if row["state"] in ("registered", "stored", "processing"):
            unsettled += 1
            continue
        if row["state"] != "ready":
            skipped[f"{row['format'] or 'unknown'} file(s) that failed ingest"] += 1
            continue
        facts = file_facts(
            row, technique=technique, sidecar_paths=sidecar_paths, fallback_pixel=fallback_pixel
        )
        if facts is None:
            skipped[f"{row['format']} file(s) without image dimensions"] += 1
            continue
        first_image.setdefault(facts.category, facts)
        _add(groups, facts)
    sidecar_ids: list[int] = []
    image_dirs = {d for group in groups.values() for d in group.directories}
    for row in sidecar_rows:
        if row["state"] == "ready" and row["directory"] in image_dirs:
            sidecar_ids.append(row["id"])
    return Grouping(
        imagesets=sorted(groups.values(), key=lambda g: (g.directory, g.category, g.header_format)),
        sidecar_ids=sidecar_ids,
        skipped=skipped,
        unsettled=unsettled,
        first_image=first_image,
    )


def _add(groups: dict[tuple[Any, ...], ImageSet], facts: FileFacts) -> None:
    key = (
        directory_pattern(facts.directory),
        facts.header_format,
        facts.width,
        facts.height,
        facts.category,
    )
    group = groups.get(key)
    if group is None:
        group = groups[key] = ImageSet(
            key=key,
            category=facts.category,
            header_format=facts.header_format,
            width=facts.width,
            height=facts.height,
        )
    group.directories[facts.directory] += 1
    group.file_ids.append(facts.id)
    if len(group.paths_sample) < 3:
        group.paths_sample.append(facts.path)
    group.total_bytes += facts.size
    group.frames[facts.frames_per_image] += 1
    if facts.voxel_type:
        group.voxel_types.setdefault(facts.voxel_type, facts.path)
        group.voxel_sources.setdefault(facts.voxel_type, facts.voxel_source)
    if facts.pixel_size:
        group.add_pixel_size(facts.pixel_size, facts.path)
        group.pixel_sources[facts.pixel_source] = group.pixel_sources.get(facts.pixel_source, 0) + 1
    else:
        group.pixel_unknown += 1
    if facts.detector:
        group.detectors[facts.detector] += 1
    if not facts.path.isascii() and len(group.non_ascii) < 3:
        group.non_ascii.append(facts.path)
    if any(len(part) > MAX_NAME_COMPONENT for part in facts.path.split("/")):
        group.too_long.append(facts.path)
    group.shortest_name = min(group.shortest_name, len(facts.name))
    group.prefix = (
        facts.name if group.prefix is None else os.path.commonprefix([group.prefix, facts.name])
    )
    reversed_name = facts.name[::-1]
    group.suffix = (
        reversed_name
        if group.suffix is None
        else os.path.commonprefix([group.suffix, reversed_name])
    )


def file_pattern(group: ImageSet) -> str:
    """A glob for the set's files, such as
    ``/data/Images-Disc1/GridSquare_*/Data/FoilHole_*_EER.eer``."""
    columns = zip(*(d.split("/") for d in group.directories), strict=True)
    # One group shares one directory pattern: the numbered parts that differ become '*'.
    directory = "/".join(
        parts[0] if len(set(parts)) == 1 else _DIGITS.sub("*", parts[0]) for parts in columns
    )
    prefix = (group.prefix or "").rstrip("0123456789")
    suffix = (group.suffix or "")[::-1].lstrip("0123456789")
    extension = os.path.splitext(group.suffix[::-1] if group.suffix else "")[1]
    if group.count == 1:
        name = group.prefix or ""
    elif len(prefix) + len(suffix) <= group.shortest_name:
        name = f"{prefix}*{suffix}"
    else:
        name = f"*{extension}"
    path = "/".join(part for part in (DATA_ROOT, directory, name) if part)
    if len(path) > EMPIAR_MAX_PATH:
        path = "/".join(part for part in (DATA_ROOT, directory, f"*{extension}") if part)
    return path


def check_group(group: ImageSet, path: str, report: Report, *, dataset_url: str) -> None:
    """Report entries for disagreements inside one image set."""
    where = f"{group.directory} ({group.count} file(s))"
    if len(group.pixel_sizes) > 1:
        parts = ", ".join(
            f"{size[0]:.4g} x {size[1]:.4g} Å in {count} file(s), e.g. {example}"
            for size, count, example in sorted(group.pixel_sizes, key=lambda s: -s[1])
        )
        report.error(
            f"{path}.pixel_width",
            f"inconsistent pixel sizes across the files of image set {where}: {parts}. "
            "One image set has one pixel size: correct the headers or put the files with "
            "another pixel size in a directory of their own",
            fix_url=dataset_url,
        )
    if len(group.voxel_types) > 1:
        parts = ", ".join(f"{code} (e.g. {example})" for code, example in group.voxel_types.items())
        report.error(
            f"{path}.voxel_type",
            f"the files of image set {where} have different pixel types: {parts}; "
            "EMPIAR describes one pixel type per image set",
            fix_url=dataset_url,
        )
    if not group.voxel_types:
        report.error(
            f"{path}.voxel_type",
            f"the pixel type of image set {where} is unknown (e.g. {group.paths_sample[0]})",
            fix_url=dataset_url,
        )
    if group.non_ascii:
        report.error(
            f"{path}.directory",
            "file and folder names must be ASCII for the EMPIAR transfer and annotation tools: "
            + ", ".join(repr(p) for p in group.non_ascii)
            + " (rename them and upload again)",
            fix_url=dataset_url,
        )
    if group.too_long:
        report.error(
            f"{path}.directory",
            f"file or folder names longer than {MAX_NAME_COMPONENT} characters: "
            + ", ".join(repr(p[:80] + "...") for p in group.too_long[:3]),
            fix_url=dataset_url,
        )
    if len(group.directory) > EMPIAR_MAX_PATH:
        report.error(
            f"{path}.directory",
            f"the image set directory is {len(group.directory)} characters long; EMPIAR "
            f"accepts at most {EMPIAR_MAX_PATH}: {group.directory[:60]}...",
            fix_url=dataset_url,
        )
    if 0 in group.frames:
        report.error(
            f"{path}.frames_per_image",
            f"the number of frames of {group.frames[0]} file(s) of image set {where} is unknown "
            f"(e.g. {group.paths_sample[0]}: its metadata records no frame count)",
            fix_url=dataset_url,
        )
    elif len(group.frames) > 1:
        counts = ", ".join(f"{frames} in {n} file(s)" for frames, n in sorted(group.frames.items()))
        report.warning(
            f"{path}.frames_per_image",
            f"the number of frames varies within image set {where} ({counts}); "
            "frames_per_image gives the most common value",
        )
