"""What the archives ask for, read from the dataset's metadata (people through
:mod:`metadata.oscem`, the one reader of the document; sample and acquisition here).

Curators enter organizational metadata (authors, sample, funding) through the schema-driven
metadata form into ``Dataset.metadata``, shaped like OSC-EM (``organizational.authors[]``,
``sample.overall_molecule`` ...); ingest derives acquisition values there too. The builders
read it only through :func:`organizational_metadata` and :func:`acquisition_metadata`, so if
the form's keys change, this module is the one to adjust. Every value carries the metadata path
it came from, so that a report entry can link to the form field that cures it
(:func:`metadata_form_url`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

# Paths in the dataset's OSC-EM document, and its people: metadata.oscem's (the one reader).
from metadata.oscem import (  # noqa: F401 - re-exported: the builders use orgmeta.X
    ACQUISITION,
    AUTHORS,
    FIELD_KEYS,
    FUNDERS,
    GRANTS,
    INSTRUMENT,
    MOLECULES,
    OVERALL_MOLECULE,
    SAMPLE,
    SPECIMEN,
    SPECIMEN_ENV,
    Person,
    people,
)
from metadata.oscem import get as _get
from metadata.oscem import text as _text
from metadata.units import UnknownUnit, convert

#: The metadata form of a dataset; its inputs are ``f-`` + the document path with dots and
#: brackets as dashes (``metadata.forms.schema_form.FormNode.input_id``).
METADATA_FORM_URL = "/datasets/{pid}/metadata/edit"
DATASET_PAGE_URL = "/datasets/{pid}/"
#: Fields of the dataset record itself (not of the metadata form): fixed on the dataset.
DATASET_FIELDS = frozenset({"title", "emdb_ids", "empiar_id", "publication_dois", "keywords"})


def form_anchor(field_path: str) -> str:
    """``organizational.authors[0].orcid`` -> ``f-organizational-authors-0-orcid``."""
    return "f-" + field_path.replace(".", "-").replace("[", "-").replace("]", "")


def metadata_form_url(pid: str, field_path: str) -> str:
    """Where a curator fixes ``field_path`` (e.g. ``organizational.authors[0].orcid``)."""
    if not field_path:
        return ""
    if field_path in DATASET_FIELDS:
        return dataset_page_url(pid)
    return f"{METADATA_FORM_URL.format(pid=pid)}#{form_anchor(field_path)}"


def dataset_page_url(pid: str) -> str:
    return DATASET_PAGE_URL.format(pid=pid)


def _number(quantity_value: Any, unit: str) -> float | None:
    """A quantity ``{value, unit}`` (or a bare number, taken to be in ``unit``) in ``unit``."""
    if isinstance(quantity_value, bool):
        return None
    if isinstance(quantity_value, int | float):
        number = float(quantity_value)
    elif isinstance(quantity_value, dict) and isinstance(quantity_value.get("value"), int | float):
        source_unit = quantity_value.get("unit") or unit
        try:
            number = convert(float(quantity_value["value"]), str(source_unit), unit)
        except (UnknownUnit, ValueError):
            return None
    else:
        return None
    return number if math.isfinite(number) else None


# --- Organizational metadata -------------------------------------------------------------------


@dataclass(frozen=True)
class Molecule:
    index: int
    name: str
    natural_source: str
    taxonomy_id: str
    expression_system: str
    taxonomy_id_expression: str

    @property
    def field(self) -> str:
        return f"{MOLECULES}[{self.index}]"


@dataclass(frozen=True)
class Sample:
    name: str
    description: str
    source: str
    molecular_type: str
    assembly: str
    molecular_weight_mda: float | None
    molecules: tuple[Molecule, ...]
    organisms: tuple[str, ...]
    buffer: str
    ph: float | None
    concentration_mg_ml: float | None
    vitrified: bool | None
    cryogen: str
    humidity_percent: float | None
    temperature_k: float | None
    #: Where the sample name was found (the form field to link to when it is missing).
    name_field: str = f"{OVERALL_MOLECULE}.name_sample"


@dataclass(frozen=True)
class OrganizationalMetadata:
    authors: tuple[Person, ...]
    sample: Sample
    funders: tuple[str, ...]
    grants: tuple[str, ...]
    raw_present: bool = field(default=False)


def organizational_metadata(dataset: Any) -> OrganizationalMetadata:
    """Authors, sample and funding of ``dataset`` as the builders need them (the ONE adapter)."""
    document = dataset.metadata if isinstance(dataset.metadata, dict) else {}
    return OrganizationalMetadata(
        authors=people(document),
        sample=_sample(document),
        funders=tuple(
            _text(f.get("funder_name"))
            for f in (_get(document, FUNDERS) or [])
            if isinstance(f, dict) and _text(f.get("funder_name"))
        ),
        grants=tuple(
            _text(g.get("project_id")) or _text(g.get("grant_name"))
            for g in (_get(document, GRANTS) or [])
            if isinstance(g, dict) and (_text(g.get("project_id")) or _text(g.get("grant_name")))
        ),
        raw_present=bool(_get(document, "organizational")),
    )


def _sample(document: dict[str, Any]) -> Sample:
    sample = _get(document, SAMPLE) or {}
    overall = _get(document, OVERALL_MOLECULE) or {}
    specimen = _get(document, SPECIMEN) or {}
    molecules = tuple(
        Molecule(
            index=index,
            name=_text(m.get("name_mol")),
            natural_source=_text(m.get("natural_source")),
            taxonomy_id=_text(m.get("taxonomy_id_source")),
            expression_system=_text(m.get("expression_system")),
            taxonomy_id_expression=_text(m.get("taxonomy_id_expression")),
        )
        for index, m in enumerate(_get(document, MOLECULES) or [])
        if isinstance(m, dict)
    )
    name = _text(overall.get("name_sample")) if isinstance(overall, dict) else ""
    name_field = f"{OVERALL_MOLECULE}.name_sample"
    if not name and isinstance(sample, dict) and _text(sample.get("name")):
        name, name_field = _text(sample.get("name")), f"{SAMPLE}.name"
    # Cellular and environmental tomography describe the specimen, not a molecule.
    organisms = tuple(
        _text(o) for o in (_get(document, f"{SPECIMEN_ENV}.organism") or []) if _text(o)
    )
    if not name and "specimen_env" in (sample if isinstance(sample, dict) else {}):
        target = _text(_get(document, f"{SAMPLE}.tomogram_features.main_target"))
        name = target or ", ".join(organisms)
        name_field = f"{SPECIMEN_ENV}.organism"
    vitrified = specimen.get("vitrification") if isinstance(specimen, dict) else None
    return Sample(
        name=name,
        description=_text(sample.get("description")) if isinstance(sample, dict) else "",
        source=_text(overall.get("source")) if isinstance(overall, dict) else "",
        molecular_type=_text(overall.get("molecular_overall_type")).upper()
        if isinstance(overall, dict)
        else "",
        assembly=_text(overall.get("assembly")).upper() if isinstance(overall, dict) else "",
        molecular_weight_mda=_number(overall.get("molecular_weight"), "MDa")
        if isinstance(overall, dict)
        else None,
        molecules=molecules,
        organisms=organisms,
        buffer=_text(specimen.get("buffer")) if isinstance(specimen, dict) else "",
        ph=_number(specimen.get("ph"), "1") if isinstance(specimen, dict) else None,
        concentration_mg_ml=_number(specimen.get("concentration"), "mg/ml")
        if isinstance(specimen, dict)
        else None,
        vitrified=vitrified if isinstance(vitrified, bool) else None,
        cryogen=_text(specimen.get("vitrification_cryogen")) if isinstance(specimen, dict) else "",
        humidity_percent=_number(specimen.get("humidity"), "percent")
        if isinstance(specimen, dict)
        else None,
        temperature_k=_number(specimen.get("temperature"), "K")
        if isinstance(specimen, dict)
        else None,
        name_field=name_field,
    )


# --- Instrument and acquisition (entered or derived from sidecars) ------------------------------


@dataclass(frozen=True)
class Value:
    """A number or text with the metadata path it came from."""

    value: Any
    field: str


@dataclass(frozen=True)
class AcquisitionMetadata:
    microscope_model: Value | None = None
    microscope_manufacturer: Value | None = None
    electron_source: Value | None = None
    illumination: Value | None = None
    imaging: Value | None = None
    voltage_kv: Value | None = None
    cs_mm: Value | None = None
    pixel_size_a: Value | None = None
    nominal_defocus_nm: tuple[Value, Value] | None = None
    calibrated_defocus_nm: tuple[Value, Value] | None = None
    nominal_magnification: Value | None = None
    calibrated_magnification: Value | None = None
    detector_name: Value | None = None
    detector_mode: Value | None = None
    dose_e_per_a2: Value | None = None
    exposure_time_s: Value | None = None
    frames_per_movie: Value | None = None
    images_generated: Value | None = None
    energy_filter: Value | None = None
    energy_filter_slit_ev: Value | None = None
    tilt_min_deg: Value | None = None
    tilt_max_deg: Value | None = None
    tilt_increment_deg: Value | None = None
    date: Value | None = None


def _value(document: dict[str, Any], path: str, unit: str | None = None) -> Value | None:
    raw = _get(document, path)
    if unit is None:
        if isinstance(raw, bool) or raw is None:
            return None
        if isinstance(raw, int | float):
            return Value(raw, path)
        text = _text(raw)
        return Value(text, path) if text else None
    number = _number(raw, unit)
    return Value(number, path) if number is not None else None


def _range(document: dict[str, Any], path: str, unit: str) -> tuple[Value, Value] | None:
    low = _value(document, f"{path}.minimal", unit)
    high = _value(document, f"{path}.maximal", unit)
    if low is None and high is None:
        return None
    return (low or high, high or low)  # type: ignore[return-value]


def acquisition_metadata(dataset: Any) -> AcquisitionMetadata:
    """Instrument and acquisition values of the dataset's metadata, in the archives' units."""
    document = dataset.metadata if isinstance(dataset.metadata, dict) else {}
    detectors = _get(document, f"{ACQUISITION}.detectors")
    first_detector = detectors[0] if isinstance(detectors, list) and detectors else {}
    detector_path = f"{ACQUISITION}.detectors[0]"
    return AcquisitionMetadata(
        microscope_model=_value(document, f"{INSTRUMENT}.microscope.model"),
        microscope_manufacturer=_value(document, f"{INSTRUMENT}.microscope.manufacturer"),
        electron_source=_value(document, f"{INSTRUMENT}.electron_source"),
        illumination=_value(document, f"{INSTRUMENT}.illumination"),
        imaging=_value(document, f"{INSTRUMENT}.imaging"),
        voltage_kv=_value(document, f"{INSTRUMENT}.acceleration_voltage", "kV"),
        cs_mm=_value(document, f"{INSTRUMENT}.cs", "mm"),
        pixel_size_a=_value(document, f"{ACQUISITION}.pixel_size", "Å"),
        nominal_defocus_nm=_range(document, f"{ACQUISITION}.nominal_defocus", "nm"),
        calibrated_defocus_nm=_range(document, f"{ACQUISITION}.calibrated_defocus", "nm"),
        nominal_magnification=_value(document, f"{ACQUISITION}.nominal_magnification"),
        calibrated_magnification=_value(document, f"{ACQUISITION}.calibrated_magnification"),
        detector_name=Value(_text(first_detector.get("name")), f"{detector_path}.name")
        if isinstance(first_detector, dict) and _text(first_detector.get("name"))
        else None,
        detector_mode=Value(_text(first_detector.get("mode")), f"{detector_path}.mode")
        if isinstance(first_detector, dict) and _text(first_detector.get("mode"))
        else None,
        dose_e_per_a2=_value(document, f"{ACQUISITION}.dose_per_movie", "1/Å^2"),
        exposure_time_s=_value(document, f"{ACQUISITION}.exposure_time", "s"),
        frames_per_movie=_value(document, f"{ACQUISITION}.frames_per_movie"),
        images_generated=_value(document, f"{ACQUISITION}.images_generated"),
        energy_filter=_value(document, f"{ACQUISITION}.energy_filter.model"),
        energy_filter_slit_ev=_value(
            document, f"{ACQUISITION}.energy_filter.width_energy_filter", "eV"
        ),
        tilt_min_deg=_value(document, f"{ACQUISITION}.tilt_angle.minimal", "degree"),
        tilt_max_deg=_value(document, f"{ACQUISITION}.tilt_angle.maximal", "degree"),
        tilt_increment_deg=_value(document, f"{ACQUISITION}.tilt_angle.increment", "degree"),
        date=_value(document, f"{ACQUISITION}.date_time"),
    )
