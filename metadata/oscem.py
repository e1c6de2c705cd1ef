"""The one reader of a dataset's OSC-EM document: its people (:func:`people`), sample
(:func:`sample`), instrument and acquisition (:func:`acquisition`), funders and grants, and the
paths where the document keeps what the pages, search, exports and depositions read.

Landing pages, citations, DataCite/JSON-LD, and the EMPIAR/EMDB builders all read the document
through these, so that a name, an ORCID iD or a quantity is read the same everywhere: ORCID iDs
in their bare form (``0000-0002-1825-0097``), whatever prefix the curator typed; quantities
converted to the unit asked for (:func:`quantity_in`), whatever unit they were stored in.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any

from .identifiers import bare_orcid
from .units import UnknownUnit, convert

# Keys of the dataset's OSC-EM-shaped metadata (metadata/builtin/oscem_common.schema.json).
AUTHORS = "organizational.authors"
FUNDERS = "organizational.funder"
GRANTS = "organizational.grants"
SAMPLE = "sample"
OVERALL_MOLECULE = "sample.overall_molecule"
MOLECULES = "sample.molecule"
SPECIMEN = "sample.specimen"
SPECIMEN_ENV = "sample.specimen_env"
INSTRUMENT = "instrument"
ACQUISITION = "acquisition"
# The quantities search filters and facets by (SQL over the stored JSON, same paths).
PIXEL_SIZE = f"{ACQUISITION}.pixel_size"
DOSE_PER_MOVIE = f"{ACQUISITION}.dose_per_movie"
ACCELERATION_VOLTAGE = f"{INSTRUMENT}.acceleration_voltage"
DETECTORS = f"{ACQUISITION}.detectors"
ORGANISMS = f"{SPECIMEN_ENV}.organism"

ORCID_PATTERN = re.compile(r"(?:https?://orcid\.org/)?(\d{4}-\d{4}-\d{4}-\d{3}[\dX])")


def get(document: Any, path: str) -> Any:
    """The value at a dotted ``path`` of ``document``, or None."""
    node = document
    for key in path.split("."):
        if not isinstance(node, dict):
            return None
        node = node.get(key)
    return node


def text(value: Any) -> str:
    """A scalar as one line of text (runs of white space as one space); "" for anything else."""
    return " ".join(str(value).split()) if isinstance(value, str | int | float) else ""


def normalise_orcid(value: str | None) -> str | None:
    """The bare 16-digit form, or None when absent; shape errors are left for the checks."""
    if not value or not str(value).strip():
        return None
    stripped = str(value).strip()
    match = ORCID_PATTERN.fullmatch(stripped)
    return match.group(1) if match else stripped


@dataclass(frozen=True)
class Person:
    """One entry of ``organizational.authors``; ``index`` is its place in the document (for
    links to its form fields), ``orcid`` the bare iD (or what was typed, when it is none)."""

    index: int
    given_name: str
    family_name: str
    email: str
    orcid: str
    affiliation: str
    organization_type: str
    country: str
    role: str
    telephone: str

    @property
    def name(self) -> str:
        return " ".join(part for part in (self.given_name, self.family_name) if part)

    @property
    def cited_name(self) -> str:
        """``Family, G. N.`` as reference lists write it."""
        initials = " ".join(f"{part[0]}." for part in self.given_name.replace("-", " ").split())
        if self.family_name and initials:
            return f"{self.family_name}, {initials}"
        return self.family_name or self.given_name

    @property
    def orcid_url(self) -> str:
        return f"https://orcid.org/{self.orcid}" if self.orcid else ""

    @property
    def field(self) -> str:
        return f"{AUTHORS}[{self.index}]"

    def field_of(self, key: str) -> str:
        return f"{self.field}.{FIELD_KEYS.get(key, key)}"

    @property
    def is_corresponding(self) -> bool:
        return "corresponding" in self.role.lower()

    @property
    def is_principal_investigator(self) -> bool:
        role = self.role.lower().replace(".", "")
        return (
            "principal investigator" in role
            or "group leader" in role
            or role.split() == ["pi"]
            or "pi" in role.replace(",", " ").replace("/", " ").split()
        )


#: Person attribute -> key of an author in the metadata (for links to the form).
FIELD_KEYS = {
    "given_name": "given_name",
    "family_name": "family_name",
    "email": "email",
    "orcid": "orcid",
    "affiliation": "name_org",
    "organization_type": "type_org",
    "country": "country",
    "role": "role",
    "telephone": "telephone",
}


def people(document: Any) -> tuple[Person, ...]:
    """Every author entry of the document, in its order (entries that are no object skipped)."""
    found = []
    entries = get(document, AUTHORS) if isinstance(document, dict) else None
    for index, entry in enumerate(entries if isinstance(entries, list) else []):
        if not isinstance(entry, dict):
            continue
        found.append(
            Person(
                index=index,
                given_name=text(entry.get("given_name")),
                family_name=text(entry.get("family_name")),
                email=text(entry.get("email")),
                orcid=bare_orcid(text(entry.get("orcid"))),
                affiliation=text(entry.get("name_org")),
                organization_type=text(entry.get("type_org")),
                country=text(entry.get("country")),
                role=text(entry.get("role")),
                telephone=text(entry.get("telephone")),
            )
        )
    return tuple(found)


def named_people(document: Any) -> list[Person]:
    """The authors with a name (what pages and citations list)."""
    return [person for person in people(document) if person.given_name or person.family_name]


def funders(document: Any) -> tuple[str, ...]:
    """The funders' names of ``organizational.funder``, in order (entries without one skipped)."""
    entries = get(document, FUNDERS) if isinstance(document, dict) else None
    return tuple(
        text(f.get("funder_name"))
        for f in (entries if isinstance(entries, list) else [])
        if isinstance(f, dict) and text(f.get("funder_name"))
    )


def grants(document: Any) -> tuple[str, ...]:
    """Each grant of ``organizational.grants`` as its project id (or else its name), in order."""
    entries = get(document, GRANTS) if isinstance(document, dict) else None
    return tuple(
        text(g.get("project_id")) or text(g.get("grant_name"))
        for g in (entries if isinstance(entries, list) else [])
        if isinstance(g, dict) and (text(g.get("project_id")) or text(g.get("grant_name")))
    )


# --- quantities ---------------------------------------------------------------------------------


def quantity_in(quantity_value: Any, unit: str) -> float | None:
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


# --- the sample ---------------------------------------------------------------------------------


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


def sample(document: Any) -> Sample:
    """The sample the document describes: its name (from the overall molecule, the sample, or
    for cellular and environmental tomography the target or organisms), molecules, specimen."""
    document = document if isinstance(document, dict) else {}
    section = get(document, SAMPLE) or {}
    overall = get(document, OVERALL_MOLECULE) or {}
    specimen = get(document, SPECIMEN) or {}
    molecules = tuple(
        Molecule(
            index=index,
            name=text(m.get("name_mol")),
            natural_source=text(m.get("natural_source")),
            taxonomy_id=text(m.get("taxonomy_id_source")),
            expression_system=text(m.get("expression_system")),
            taxonomy_id_expression=text(m.get("taxonomy_id_expression")),
        )
        for index, m in enumerate(get(document, MOLECULES) or [])
        if isinstance(m, dict)
    )
    name = text(overall.get("name_sample")) if isinstance(overall, dict) else ""
    name_field = f"{OVERALL_MOLECULE}.name_sample"
    if not name and isinstance(section, dict) and text(section.get("name")):
        name, name_field = text(section.get("name")), f"{SAMPLE}.name"
    # Cellular and environmental tomography describe the specimen, not a molecule.
    organisms = tuple(text(o) for o in (get(document, ORGANISMS) or []) if text(o))
    if not name and "specimen_env" in (section if isinstance(section, dict) else {}):
        target = text(get(document, f"{SAMPLE}.tomogram_features.main_target"))
        name = target or ", ".join(organisms)
        name_field = ORGANISMS
    vitrified = specimen.get("vitrification") if isinstance(specimen, dict) else None
    return Sample(
        name=name,
        description=text(section.get("description")) if isinstance(section, dict) else "",
        source=text(overall.get("source")) if isinstance(overall, dict) else "",
        molecular_type=text(overall.get("molecular_overall_type")).upper()
        if isinstance(overall, dict)
        else "",
        assembly=text(overall.get("assembly")).upper() if isinstance(overall, dict) else "",
        molecular_weight_mda=quantity_in(overall.get("molecular_weight"), "MDa")
        if isinstance(overall, dict)
        else None,
        molecules=molecules,
        organisms=organisms,
        buffer=text(specimen.get("buffer")) if isinstance(specimen, dict) else "",
        ph=quantity_in(specimen.get("ph"), "1") if isinstance(specimen, dict) else None,
        concentration_mg_ml=quantity_in(specimen.get("concentration"), "mg/ml")
        if isinstance(specimen, dict)
        else None,
        vitrified=vitrified if isinstance(vitrified, bool) else None,
        cryogen=text(specimen.get("vitrification_cryogen")) if isinstance(specimen, dict) else "",
        humidity_percent=quantity_in(specimen.get("humidity"), "percent")
        if isinstance(specimen, dict)
        else None,
        temperature_k=quantity_in(specimen.get("temperature"), "K")
        if isinstance(specimen, dict)
        else None,
        name_field=name_field,
    )


# --- the instrument and the acquisition (entered or derived from sidecars) --------------------


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


def _value(document: Any, path: str, unit: str | None = None) -> Value | None:
    raw = get(document, path)
    if unit is None:
        if isinstance(raw, bool) or raw is None:
            return None
        if isinstance(raw, int | float):
            return Value(raw, path)
        shown = text(raw)
        return Value(shown, path) if shown else None
    number = quantity_in(raw, unit)
    return Value(number, path) if number is not None else None


def _range(document: Any, path: str, unit: str) -> tuple[Value, Value] | None:
    low = _value(document, f"{path}.minimal", unit)
    high = _value(document, f"{path}.maximal", unit)
    if low is None and high is None:
        return None
    return (low or high, high or low)  # type: ignore[return-value]


def acquisition(document: Any) -> AcquisitionMetadata:
    """The instrument and acquisition values of the document, in the archives' units (kV, mm,
    Å, nm, e/Å², s, eV, degrees), each with the path it came from."""
    document = document if isinstance(document, dict) else {}
    detectors = get(document, DETECTORS)
    first_detector = detectors[0] if isinstance(detectors, list) and detectors else {}
    detector_path = f"{DETECTORS}[0]"
    return AcquisitionMetadata(
        microscope_model=_value(document, f"{INSTRUMENT}.microscope.model"),
        microscope_manufacturer=_value(document, f"{INSTRUMENT}.microscope.manufacturer"),
        electron_source=_value(document, f"{INSTRUMENT}.electron_source"),
        illumination=_value(document, f"{INSTRUMENT}.illumination"),
        imaging=_value(document, f"{INSTRUMENT}.imaging"),
        voltage_kv=_value(document, ACCELERATION_VOLTAGE, "kV"),
        cs_mm=_value(document, f"{INSTRUMENT}.cs", "mm"),
        pixel_size_a=_value(document, PIXEL_SIZE, "Å"),
        nominal_defocus_nm=_range(document, f"{ACQUISITION}.nominal_defocus", "nm"),
        calibrated_defocus_nm=_range(document, f"{ACQUISITION}.calibrated_defocus", "nm"),
        nominal_magnification=_value(document, f"{ACQUISITION}.nominal_magnification"),
        calibrated_magnification=_value(document, f"{ACQUISITION}.calibrated_magnification"),
        detector_name=Value(text(first_detector.get("name")), f"{detector_path}.name")
        if isinstance(first_detector, dict) and text(first_detector.get("name"))
        else None,
        detector_mode=Value(text(first_detector.get("mode")), f"{detector_path}.mode")
        if isinstance(first_detector, dict) and text(first_detector.get("mode"))
        else None,
        dose_e_per_a2=_value(document, DOSE_PER_MOVIE, "1/Å^2"),
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
