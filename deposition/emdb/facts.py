"""What the EMDB header and the PDBx/mmCIF ``em_*`` categories say, collected once.

Both documents describe the same experiment: who, what sample, which microscope and settings,
which map. This module gathers those facts from the dataset (metadata entered or derived from
sidecars, the map files' MRC headers, the instrument record) in the archives' units, with the
source of every value and a report entry for everything missing or unacceptable. The EMDB XML
builder and the mmCIF writer only render it. Where a report entry points is up to the caller:
``paths`` maps each fact to a place in its document (an XML path, an mmCIF item).
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from typing import Any

from django.utils import timezone

from deposition import orgmeta, vocab
from deposition.report import Report
from repository.models import DataFile, Dataset, FileState

MAP_FORMATS = ("mrc", "mrc.gz")
HALF_MAP = re.compile(r"half[_\-. ]?(?:map)?[_\-. ]?[12ab]|_h[12]\b|half[12]", re.IGNORECASE)
MASK = re.compile(r"mask", re.IGNORECASE)
TOMO_TECHNIQUES = frozenset({"tomography", "cellular_tomo", "env_tomo"})


@dataclass(frozen=True)
class MapFacts:
    datafile_id: int
    path: str
    size: int
    sha256: str
    archive_name: str  # emd_NNNN.map, emd_NNNN_half_map_1.map: the name in the package
    mode: int
    data_type: str | None
    dimensions: tuple[int, int, int]
    origin: tuple[int, int, int]
    spacing: tuple[int, int, int]
    cell: tuple[float, float, float]
    cell_angles: tuple[float, float, float]
    axis_order: tuple[str, str, str]
    statistics: tuple[float, float, float, float] | None
    pixel_spacing: tuple[float, float, float]
    size_kbytes: int


@dataclass(frozen=True)
class Author:
    name: str  # "Surname INITIALS" in ASCII
    orcid: str | None


@dataclass
class EmFacts:
    entry_id: str
    title: str
    method: str
    aggregation_state: str
    authors: list[Author] = field(default_factory=list)
    citation_authors: list[Author] = field(default_factory=list)
    doi: str | None = None
    keywords: list[str] = field(default_factory=list)
    funding: list[tuple[str, str | None]] = field(default_factory=list)
    sample_name: str = ""
    supramolecule: str = "complex_supramolecule"
    organism: str = ""
    organism_ncbi: str = ""
    molecular_weight_mda: float | None = None
    ph: float | None = None
    concentration_mg_ml: float | None = None
    cryogen: str | None = None
    humidity_percent: float | None = None
    vitrified: bool | None = None
    microscope: str | None = None
    illumination_mode: str | None = None
    imaging_mode: str | None = None
    electron_source: str | None = None
    voltage_kv: int | None = None
    cs_mm: float | None = None
    nominal_defocus_um: tuple[float, float] | None = None
    calibrated_defocus_um: tuple[float, float] | None = None
    nominal_magnification: int | None = None
    calibrated_magnification: int | None = None
    detector: str | None = None
    detector_mode: str | None = None
    dose_e_per_a2: float | None = None
    exposure_time_s: float | None = None
    number_images: int | None = None
    energy_filter: str | None = None
    energy_filter_slit_ev: float | None = None
    tilt_range_deg: tuple[float, float, float | None] | None = None
    primary_map: MapFacts | None = None
    half_maps: list[MapFacts] = field(default_factory=list)
    deposition_date: dt.date = field(default_factory=timezone.localdate)
    report: Report = field(default_factory=Report)

    @property
    def entry_digits(self) -> str:
        return self.entry_id.split("-", 1)[1]


def _g(value: float) -> float:
    return float(f"{value:.6g}")


def defocus_range_um(low_nm: float, high_nm: float) -> tuple[float, float]:
    """A defocus range in micrometres with underfocus positive, as EMDB and PDBx write it.

    Microscope software (EPU, SerialEM, the FEI extended header) and the OSC-EM documents
    derived from it write underfocus as a negative number; a range entirely at or below zero
    is therefore flipped. A range with positive values is already in the archive convention.
    """
    if low_nm <= 0 and high_nm <= 0:
        low_nm, high_nm = -low_nm, -high_nm
    low, high = sorted((low_nm / 1000.0, high_nm / 1000.0))
    return _g(low), _g(high)


class _Collector:
    def __init__(self, dataset: Dataset, paths: dict[str, str]):
        self.dataset = dataset
        self.paths = paths
        self.report = Report()

    def path(self, key: str) -> str:
        return self.paths.get(key, key)

    def fill(self, key: str, value: Any, source: str) -> Any:
        self.report.filled(self.path(key), value, source)
        return value

    def missing(self, key: str, message: str, field_path: str = "") -> None:
        self.report.error(self.path(key), message, field=field_path)


def _emdb_author(person: orgmeta.Person, collector: _Collector, key: str) -> Author | None:
    if not person.family_name or not person.given_name:
        collector.missing(
            key,
            f"author {person.index + 1} has no {'family' if not person.family_name else 'given'}"
            " name",
            person.field_of("family_name" if not person.family_name else "given_name"),
        )
        return None
    written = f"{person.family_name} {vocab.initials(person.given_name)}"
    folded, complete = vocab.ascii_fold(written)
    if not complete:
        collector.missing(
            key,
            f"the author name {written!r} has letters without an ASCII spelling; EMDB takes "
            "author names in ASCII only: enter the name in Latin letters",
            person.field_of("family_name"),
        )
        return None
    if folded != written:
        collector.report.warning(
            collector.path(key),
            f"EMDB takes author names in ASCII: {written!r} is written {folded!r}",
            field=person.field_of("family_name"),
        )
    if not re.fullmatch(r"[A-Za-z' \-]+ ?[A-Za-z\-]*", folded):
        collector.missing(
            key,
            f"the author name {folded!r} has characters EMDB does not accept (letters, spaces, "
            "hyphens and apostrophes only)",
            person.field_of("family_name"),
        )
        return None
    orcid = vocab.normalise_orcid(person.orcid)
    if orcid and not vocab.orcid_checksum_ok(orcid):
        collector.missing(
            key,
            f"the ORCID iD {orcid!r} of {written} is not valid (wrong form or check digit)",
            person.field_of("orcid"),
        )
        orcid = None
    return Author(name=folded, orcid=orcid)


def _map_rows(dataset: Dataset) -> list[dict[str, Any]]:
    rows = (
        DataFile.objects.filter(dataset=dataset, format__in=MAP_FORMATS, state=FileState.READY)
        .order_by("path")
        .values("id", "path", "name", "size", "checksum_sha256", "header")[:200]
    )
    return [dict(row) for row in rows]


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def _float(value: Any) -> float:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else 0.0


def _is_volume(header: dict[str, Any]) -> bool:
    return _int(header.get("nz")) > 1 and header.get("data_kind") in (
        "volume",
        "volume_stack",
        "image_stack",
    )


def _map_facts(
    row: dict[str, Any], archive_name: str, collector: _Collector, key: str
) -> MapFacts | None:
    header = _dict(row["header"])
    path = row["path"]
    ok = True
    mode = header.get("mode")
    data_type = vocab.EMDB_MAP_DATA_TYPES.get(mode) if isinstance(mode, int) else None
    if data_type is None:
        dtype = header.get("dtype") or "unknown"
        collector.missing(
            f"{key}.data_type",
            f"{path} is stored in MRC mode {mode} ({dtype}); EMDB accepts maps in mode 0 "
            "(signed byte), 1 (16-bit integer) or 2 (32-bit float) only: convert the map to "
            "mode 2 and upload it again",
        )
        ok = False
    dims = tuple(header.get(k) for k in ("nx", "ny", "nz"))
    if not all(isinstance(v, int) and v > 0 for v in dims):
        collector.missing(f"{key}.dimensions", f"{path} has no valid dimensions")
        return None
    if header.get("ispg") == 0:
        collector.report.warning(
            collector.path(key),
            f"{path} has space group 0, which marks an image stack; EMDB maps have space group "
            "1: check that it is a volume",
        )
    voxel = _dict(header.get("voxel_size"))
    spacing_a = []
    for axis in ("x", "y", "z"):
        entry = voxel.get(axis)
        value = entry.get("value") if isinstance(entry, dict) else None
        spacing_a.append(float(value) if isinstance(value, int | float) and value > 0 else None)
    if None in spacing_a:
        collector.missing(
            f"{key}.pixel_spacing",
            f"{path} records no voxel size (its cell dimensions are 0): set the cell in the "
            "MRC header (voxel size x dimensions) and upload it again",
        )
        ok = False
    cella = _dict(header.get("cella"))
    cellb = _dict(header.get("cellb"))
    cell = tuple(_float(_dict(cella.get(a)).get("value")) for a in ("x", "y", "z"))
    angles = tuple(_float(_dict(cellb.get(a)).get("value")) for a in ("alpha", "beta", "gamma"))
    if min(cell) <= 0 or not all(0 < a < 180 for a in angles):
        collector.missing(f"{key}.cell", f"{path} has an invalid unit cell {cell} / {angles}")
        ok = False
    axes = tuple(header.get(k) for k in ("mapc", "mapr", "maps"))
    if sorted(a for a in axes if isinstance(a, int)) != [1, 2, 3]:
        collector.missing(
            f"{key}.axis_order", f"{path}: MAPC/MAPR/MAPS {axes} are not a permutation of 1, 2, 3"
        )
        ok = False
    size_kbytes = int(row["size"]) // 1000
    if size_kbytes < 1:
        collector.missing(f"{key}.size_kbytes", f"{path} is smaller than one kilobyte")
        ok = False
    stats_values = [header.get(k) for k in ("dmin", "dmax", "dmean", "rms")]
    numbers = [float(v) for v in stats_values if isinstance(v, int | float)]
    statistics = tuple(numbers) if len(numbers) == len(stats_values) else None
    if statistics is None:
        collector.report.warning(
            collector.path(f"{key}.statistics"),
            f"{path} records no density statistics (left out; EMDB computes them)",
        )
    if not ok:
        return None
    spacing = tuple(header.get(k) for k in ("mx", "my", "mz"))
    return MapFacts(
        datafile_id=row["id"],
        path=path,
        size=int(row["size"]),
        sha256=row["checksum_sha256"],
        archive_name=archive_name,
        mode=int(mode),  # type: ignore[arg-type]
        data_type=data_type,
        dimensions=dims,  # type: ignore[arg-type]
        origin=tuple(_int(header.get(k)) for k in ("nxstart", "nystart", "nzstart")),  # type: ignore[arg-type]
        spacing=tuple(
            int(v) if isinstance(v, int) and v > 0 else d
            for v, d in zip(spacing, dims, strict=True)
        ),  # type: ignore[arg-type]
        cell=tuple(_g(v) for v in cell),  # type: ignore[arg-type]
        cell_angles=tuple(_g(v) for v in angles),  # type: ignore[arg-type]
        axis_order=tuple("XYZ"[a - 1] for a in axes),  # type: ignore[arg-type,operator]
        statistics=tuple(_g(v) for v in statistics) if statistics else None,  # type: ignore[arg-type]
        pixel_spacing=tuple(_g(v) for v in spacing_a),  # type: ignore[arg-type,misc]
        size_kbytes=size_kbytes,
    )


def _maps(facts: EmFacts, collector: _Collector, *, require_map: bool) -> None:
    rows = [r for r in _map_rows(collector.dataset) if _is_volume(_dict(r["header"]))]
    rows = [r for r in rows if not MASK.search(r["name"])]
    halves = [r for r in rows if HALF_MAP.search(r["name"])]
    primaries = [r for r in rows if r not in halves]
    if not primaries and not require_map:
        return
    if not primaries:
        collector.missing(
            "map",
            "no map: the dataset has no ready MRC volume (other than half maps and masks) to "
            "deposit as the primary map",
            "",
        )
    else:
        chosen = next((r for r in primaries if r["name"].lower().startswith("emd_")), primaries[0])
        if len(primaries) > 1:
            others = ", ".join(r["path"] for r in primaries if r is not chosen)
            collector.report.warning(
                collector.path("map"),
                f"several maps: {chosen['path']} is the primary map; {others} are not described",
            )
        facts.primary_map = _map_facts(chosen, f"emd_{facts.entry_digits}.map", collector, "map")
        if facts.primary_map:
            collector.fill("map.file", facts.primary_map.archive_name, f"file {chosen['path']}")
            collector.fill(
                "map.data_type", facts.primary_map.data_type, f"MRC mode of {chosen['path']}"
            )
            collector.fill(
                "map.origin",
                facts.primary_map.origin,
                f"NCSTART/NRSTART/NSSTART of {chosen['path']}",
            )
            collector.fill(
                "map.pixel_spacing",
                facts.primary_map.pixel_spacing,
                f"cell / sampling of {chosen['path']}",
            )
    for index, row in enumerate(halves[:2], start=1):
        half = _map_facts(
            row, f"emd_{facts.entry_digits}_half_map_{index}.map", collector, "half_map"
        )
        if half is None:
            continue
        if facts.primary_map and half.dimensions != facts.primary_map.dimensions:
            collector.missing(
                "half_map",
                f"half map {row['path']} has dimensions {half.dimensions}, the primary map "
                f"{facts.primary_map.dimensions}: half maps must match the map's box",
            )
            continue
        facts.half_maps.append(half)
        collector.fill("half_map", half.archive_name, f"file {row['path']}")
    if len(halves) > 2:
        collector.report.warning(
            collector.path("half_map"), f"{len(halves)} half maps found; the first two are used"
        )


def _header_acquisition(dataset: Dataset) -> tuple[dict[str, Any], str]:
    """Acquisition values recorded in the first image header that has any (FEI/EER)."""
    rows = (
        DataFile.objects.filter(
            dataset=dataset, format__in=("mrc", "mrcs", "eer", "tiff"), state=FileState.READY
        )
        .order_by("path")
        .values_list("path", "header")[:50]
    )
    for path, header in rows:
        acquisition = _dict(_dict(header).get("acquisition"))
        if acquisition:
            return acquisition, path
    return {}, ""


def _q(value: Any) -> float | None:
    if isinstance(value, dict) and isinstance(value.get("value"), int | float):
        return float(value["value"])
    return None


def _microscopy(facts: EmFacts, collector: _Collector) -> None:
    dataset = collector.dataset
    acq = orgmeta.acquisition_metadata(dataset)
    header, header_path = _header_acquisition(dataset)
    instrument = dataset.instrument

    # Microscope: the metadata, a header, then the instrument record.
    candidates = []
    if acq.microscope_model:
        manufacturer = acq.microscope_manufacturer.value if acq.microscope_manufacturer else ""
        candidates.append(
            (
                f"{manufacturer} {acq.microscope_model.value}",
                f"metadata {acq.microscope_model.field}",
                acq.microscope_model.field,
            )
        )
    if header.get("microscope"):
        candidates.append((str(header["microscope"]), f"header of {header_path}", ""))
    if instrument is not None:
        candidates.append(
            (f"{instrument.manufacturer} {instrument.model}", f"instrument {instrument.name}", "")
        )
    for text, source, _field in candidates:
        term = vocab.emdb_microscope(text)
        if term:
            facts.microscope = collector.fill("microscope", term, f"{source} ({text.strip()})")
            break
    if facts.microscope is None:
        seen = ", ".join(repr(c[0].strip()) for c in candidates) or "none recorded"
        collector.missing(
            "microscope",
            f"the microscope is not one EMDB lists (seen: {seen}); enter the microscope model "
            "in the metadata form",
            f"{orgmeta.INSTRUMENT}.microscope.model",
        )

    def from_text(
        key: str, value: orgmeta.Value | None, mapper: Any, default: str | None, why: str
    ) -> str | None:
        if value is not None:
            term = mapper(str(value.value))
            if term:
                return collector.fill(key, term, f"metadata {value.field} ({value.value})")
        if default:
            return collector.fill(key, default, why)
        return None

    feg = facts.microscope in vocab.FEG_MICROSCOPES
    facts.electron_source = from_text(
        "electron_source",
        acq.electron_source,
        vocab.emdb_electron_source,
        "FIELD EMISSION GUN" if feg else None,
        f"assumed: every {facts.microscope} has a field emission gun",
    )
    # Flood-beam bright-field imaging is how cryo-EM micrographs and tilt series are taken on
    # these microscopes; stated as an assumption so that a curator sees it.
    tem_cryo = feg and facts.method in vocab.MMCIF_METHODS
    facts.illumination_mode = from_text(
        "illumination_mode",
        acq.illumination,
        vocab.emdb_illumination_mode,
        "FLOOD BEAM" if tem_cryo else None,
        "assumed: flood beam, the cryo-EM imaging mode of this microscope (check)",
    )
    facts.imaging_mode = from_text(
        "imaging_mode",
        acq.imaging,
        vocab.emdb_imaging_mode,
        "BRIGHT FIELD" if tem_cryo else None,
        "assumed: bright field, the cryo-EM imaging mode of this microscope (check)",
    )
    for key, value, label, field_path in (
        (
            "electron_source",
            facts.electron_source,
            "electron source",
            f"{orgmeta.INSTRUMENT}.electron_source",
        ),
        (
            "illumination_mode",
            facts.illumination_mode,
            "illumination mode",
            f"{orgmeta.INSTRUMENT}.illumination",
        ),
        ("imaging_mode", facts.imaging_mode, "imaging mode", f"{orgmeta.INSTRUMENT}.imaging"),
    ):
        if value is None:
            collector.missing(key, f"the {label} is missing", field_path)

    # Acceleration voltage (kV, a whole number in EMDB).
    if acq.voltage_kv is not None:
        facts.voltage_kv = collector.fill(
            "voltage", int(round(acq.voltage_kv.value)), f"metadata {acq.voltage_kv.field}"
        )
    elif _q(header.get("voltage")):
        facts.voltage_kv = collector.fill(
            "voltage", int(round(_q(header["voltage"]) or 0)), f"header of {header_path}"
        )
    if not facts.voltage_kv or facts.voltage_kv < 25:
        facts.voltage_kv = None
        collector.missing(
            "voltage",
            "the acceleration voltage is missing: enter it in the metadata form (kV)",
            f"{orgmeta.INSTRUMENT}.acceleration_voltage",
        )
    if acq.cs_mm is not None and 0 <= acq.cs_mm.value <= 20:
        facts.cs_mm = collector.fill("cs", _g(acq.cs_mm.value), f"metadata {acq.cs_mm.field}")

    # Defocus (EMDB: micrometres, underfocus positive).
    for attribute, defocus, key in (
        ("nominal_defocus_um", acq.nominal_defocus_nm, "defocus_nominal"),
        ("calibrated_defocus_um", acq.calibrated_defocus_nm, "defocus_calibrated"),
    ):
        if defocus is not None:
            low, high = defocus_range_um(float(defocus[0].value), float(defocus[1].value))
            if -20 <= low <= 20 and -30 <= high <= 50:
                setattr(facts, attribute, (low, high))
                collector.fill(
                    key,
                    (low, high),
                    f"metadata {defocus[0].field} (nm -> µm, underfocus positive)",
                )
            else:
                collector.report.warning(
                    collector.path(key),
                    f"defocus range {low}..{high} µm is outside what EMDB accepts; left out",
                    field=defocus[0].field,
                )
    if (
        facts.nominal_defocus_um is None
        and facts.calibrated_defocus_um is None
        and _q(header.get("defocus")) is not None
    ):
        value_nm = _q(header["defocus"]) or 0.0
        low, high = defocus_range_um(value_nm, value_nm)
        facts.nominal_defocus_um = collector.fill(
            "defocus_nominal", (low, high), f"header of {header_path} (one image)"
        )

    for attribute, entered, key in (
        ("nominal_magnification", acq.nominal_magnification, "magnification_nominal"),
        ("calibrated_magnification", acq.calibrated_magnification, "magnification_calibrated"),
    ):
        if (
            entered is not None
            and isinstance(entered.value, int | float)
            and 1000 <= entered.value <= 500000
        ):
            setattr(
                facts,
                attribute,
                collector.fill(key, int(entered.value), f"metadata {entered.field}"),
            )
    if facts.nominal_magnification is None and isinstance(header.get("magnification"), int | float):
        magnification = int(header["magnification"])
        if 1000 <= magnification <= 500000:
            facts.nominal_magnification = collector.fill(
                "magnification_nominal", magnification, f"header of {header_path}"
            )

    # Detector.
    detector_candidates = []
    if acq.detector_name:
        detector_candidates.append(
            (str(acq.detector_name.value), f"metadata {acq.detector_name.field}")
        )
    for key in ("detector_model", "detector"):
        if header.get(key):
            detector_candidates.append((str(header[key]), f"header of {header_path}"))
    if instrument is not None:
        for name in instrument.detectors or []:
            detector_candidates.append(
                (str(name), f"instrument {instrument.name} (first listed detector; check)")
            )
    for text, source in detector_candidates:
        term = vocab.emdb_detector(text)
        if term:
            facts.detector = collector.fill("detector", term, f"{source} ({text})")
            break
    if facts.detector is None:
        seen = ", ".join(repr(c[0]) for c in detector_candidates) or "none recorded"
        collector.missing(
            "detector",
            f"the detector is not one EMDB lists (seen: {seen}); enter the detector in the "
            "metadata form",
            f"{orgmeta.ACQUISITION}.detectors",
        )
    if acq.detector_mode:
        facts.detector_mode = collector.fill(
            "detector_mode",
            vocab.emdb_detector_mode(str(acq.detector_mode.value)),
            f"metadata {acq.detector_mode.field}",
        )
    elif header_path.lower().endswith(".eer") or header.get("electron_counting"):
        facts.detector_mode = collector.fill(
            "detector_mode", "COUNTING", f"header of {header_path} (electron counting)"
        )

    if acq.dose_e_per_a2 is not None and 0 < acq.dose_e_per_a2.value <= 1000:
        facts.dose_e_per_a2 = collector.fill(
            "dose", _g(acq.dose_e_per_a2.value), f"metadata {acq.dose_e_per_a2.field}"
        )
    elif _q(header.get("dose")) and 0 < (_q(header.get("dose")) or 0) <= 1000:
        facts.dose_e_per_a2 = collector.fill(
            "dose", _g(_q(header["dose"]) or 0), f"header of {header_path}"
        )
    if acq.exposure_time_s is not None and acq.exposure_time_s.value > 0:
        facts.exposure_time_s = collector.fill(
            "exposure", _g(acq.exposure_time_s.value), f"metadata {acq.exposure_time_s.field}"
        )
    elif _q(header.get("exposure_time")):
        facts.exposure_time_s = collector.fill(
            "exposure", _g(_q(header["exposure_time"]) or 0), f"header of {header_path}"
        )
    if (
        acq.images_generated is not None
        and isinstance(acq.images_generated.value, int)
        and acq.images_generated.value > 0
    ):
        facts.number_images = collector.fill(
            "images", acq.images_generated.value, f"metadata {acq.images_generated.field}"
        )
    if acq.energy_filter is not None:
        facts.energy_filter = str(acq.energy_filter.value)
        if acq.energy_filter_slit_ev is not None and 0 <= acq.energy_filter_slit_ev.value <= 1000:
            facts.energy_filter_slit_ev = _g(acq.energy_filter_slit_ev.value)
    if acq.tilt_min_deg is not None and acq.tilt_max_deg is not None:
        facts.tilt_range_deg = (
            _g(acq.tilt_min_deg.value),
            _g(acq.tilt_max_deg.value),
            _g(acq.tilt_increment_deg.value) if acq.tilt_increment_deg else None,
        )


def _sample(facts: EmFacts, collector: _Collector, org: orgmeta.OrganizationalMetadata) -> None:
    sample = org.sample
    if sample.name:
        facts.sample_name = collector.fill(
            "sample_name", sample.name, f"metadata {sample.name_field}"
        )
    else:
        collector.missing(
            "sample_name",
            "the sample has no name: enter it in the metadata form (sample)",
            sample.name_field,
        )
    cells = collector.dataset.technique in ("cellular_tomo", "env_tomo")
    facts.supramolecule = vocab.EMDB_SUPRAMOLECULE_BY_TYPE.get(
        sample.molecular_type, "cell_supramolecule" if cells else "complex_supramolecule"
    )
    if sample.molecular_type == "VIRUS":
        collector.report.warning(
            collector.path("sample_name"),
            "virus samples need EMDB's virus details (type, isolate, envelope), which the "
            "portal does not record: the sample is described generically; complete it in OneDep",
        )
    if sample.assembly in vocab.EMDB_AGGREGATION_BY_ASSEMBLY:
        facts.aggregation_state = collector.fill(
            "aggregation",
            vocab.EMDB_AGGREGATION_BY_ASSEMBLY[sample.assembly],
            f"metadata {orgmeta.OVERALL_MOLECULE}.assembly",
        )
    molecule = sample.molecules[0] if sample.molecules else None
    if molecule and molecule.natural_source:
        facts.organism = collector.fill(
            "organism", molecule.natural_source, f"metadata {molecule.field}.natural_source"
        )
        if molecule.taxonomy_id.isdigit():
            facts.organism_ncbi = molecule.taxonomy_id
    elif sample.organisms:
        facts.organism = collector.fill(
            "organism", sample.organisms[0], f"metadata {orgmeta.SPECIMEN_ENV}.organism"
        )
    facts.molecular_weight_mda = (
        sample.molecular_weight_mda
        if sample.molecular_weight_mda and sample.molecular_weight_mda > 0
        else None
    )
    if sample.ph is not None and 0 <= sample.ph <= 14:
        facts.ph = collector.fill("ph", sample.ph, f"metadata {orgmeta.SPECIMEN}.ph")
    if sample.concentration_mg_ml is not None and sample.concentration_mg_ml > 0:
        facts.concentration_mg_ml = sample.concentration_mg_ml
    facts.vitrified = sample.vitrified
    cryogen = vocab.EMDB_CRYOGENS.get(sample.cryogen.lower()) if sample.cryogen else None
    if sample.cryogen and cryogen is None:
        cryogen = "OTHER"
    facts.cryogen = cryogen
    if sample.humidity_percent is not None and 0 <= sample.humidity_percent <= 100:
        facts.humidity_percent = sample.humidity_percent


def collect_em_facts(
    dataset: Dataset, paths: dict[str, str], *, require_map: bool = True
) -> EmFacts:
    """The facts of the EMDB header / mmCIF export of ``dataset`` and a report on them."""
    collector = _Collector(dataset, paths)
    org = orgmeta.organizational_metadata(dataset)
    emdb_ids = [str(i) for i in dataset.emdb_ids or []]
    if emdb_ids:
        entry_id = collector.fill("entry_id", emdb_ids[0], "dataset's EMDB id")
    else:
        entry_id = "EMD-0000"
        collector.report.warning(
            collector.path("entry_id"),
            "the dataset has no EMDB id yet: EMD-0000 stands in; EMDB assigns the accession "
            "code at deposition (record it afterwards)",
        )
    method = vocab.EMDB_METHODS.get(dataset.technique)
    if method is None:
        collector.missing(
            "method",
            f"EMDB has no method for the technique {dataset.get_technique_display()}",
        )
        method = "singleParticle"
    facts = EmFacts(
        entry_id=entry_id,
        title=" ".join(dataset.title.split()),
        method=method,
        aggregation_state=vocab.EMDB_AGGREGATION_DEFAULTS[method],
    )
    facts.report = collector.report
    collector.fill("method", method, f"technique {dataset.technique}")
    collector.fill("title", facts.title, "dataset title")
    title_ascii, complete = vocab.ascii_fold(facts.title)
    if not complete:
        collector.report.warning(
            collector.path("title"),
            "the title has characters without an ASCII spelling; check how EMDB shows them",
            field="title",
        )
    del title_ascii
    if not org.authors:
        collector.missing(
            "authors",
            "no authors: add the authors in the metadata form",
            orgmeta.AUTHORS,
        )
    for person in org.authors:
        author = _emdb_author(person, collector, "authors")
        if author:
            facts.authors.append(author)
    facts.citation_authors = list(facts.authors)
    dois = list(dataset.publication_dois or [])
    facts.doi = dois[0] if dois else None
    facts.keywords = list(dataset.keywords or [])
    for index, funder in enumerate(org.funders):
        facts.funding.append((funder, org.grants[index] if index < len(org.grants) else None))
    _sample(facts, collector, org)
    _microscopy(facts, collector)
    _maps(facts, collector, require_map=require_map)
    return facts
