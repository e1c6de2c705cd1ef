"""The EMDB header XML (schema v3, pinned to 3.0.11.3) of a map dataset.

Elements are written in the order the schema's sequences demand; values come from
:mod:`deposition.emdb.facts` (with their sources and report). A value that is missing is left
out rather than invented, so the XSD validation that follows reports it too: the document is
never handed out as valid when it is not.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from lxml import etree

from deposition import vocab
from deposition.emdb.facts import EmFacts, MapFacts, collect_em_facts
from deposition.report import Report
from repository.models import Dataset

# The EMDB schema fixes its units with the ANGSTROM SIGN code point (U+212B), not U+00C5.
ANGSTROM = "\u212b"
MICROSCOPY = "/emd/structure_determination_list/structure_determination/microscopy_list/microscopy"
RECORDING = f"{MICROSCOPY}/image_recording_list/image_recording"
XPATHS = {
    "entry_id": "/emd/@emdb_id",
    "title": "/emd/admin/title",
    "authors": "/emd/admin/authors_list/author",
    "sample_name": "/emd/sample/name",
    "organism": "/emd/sample/supramolecule_list/supramolecule/natural_source/organism",
    "method": "/emd/structure_determination_list/structure_determination/method",
    "aggregation": "/emd/structure_determination_list/structure_determination/aggregation_state",
    "ph": "/emd/structure_determination_list/structure_determination/specimen_preparation_list"
    "/specimen_preparation/buffer/ph",
    "microscope": f"{MICROSCOPY}/microscope",
    "illumination_mode": f"{MICROSCOPY}/illumination_mode",
    "imaging_mode": f"{MICROSCOPY}/imaging_mode",
    "electron_source": f"{MICROSCOPY}/electron_source",
    "voltage": f"{MICROSCOPY}/acceleration_voltage",
    "cs": f"{MICROSCOPY}/nominal_cs",
    "defocus_nominal": f"{MICROSCOPY}/nominal_defocus_min",
    "defocus_calibrated": f"{MICROSCOPY}/calibrated_defocus_min",
    "magnification_nominal": f"{MICROSCOPY}/nominal_magnification",
    "magnification_calibrated": f"{MICROSCOPY}/calibrated_magnification",
    "detector": f"{RECORDING}/film_or_detector_model",
    "detector_mode": f"{RECORDING}/detector_mode",
    "dose": f"{RECORDING}/average_electron_dose_per_image",
    "exposure": f"{RECORDING}/average_exposure_time",
    "images": f"{RECORDING}/number_real_images",
    "map": "/emd/map",
    "map.file": "/emd/map/file",
    "map.data_type": "/emd/map/data_type",
    "map.dimensions": "/emd/map/dimensions",
    "map.origin": "/emd/map/origin",
    "map.cell": "/emd/map/cell",
    "map.axis_order": "/emd/map/axis_order",
    "map.statistics": "/emd/map/statistics",
    "map.pixel_spacing": "/emd/map/pixel_spacing",
    "map.size_kbytes": "/emd/map/@size_kbytes",
    "half_map": "/emd/interpretation/half_map_list/half_map",
    "half_map.data_type": "/emd/interpretation/half_map_list/half_map/data_type",
    "half_map.dimensions": "/emd/interpretation/half_map_list/half_map/dimensions",
    "half_map.pixel_spacing": "/emd/interpretation/half_map_list/half_map/pixel_spacing",
    "half_map.cell": "/emd/interpretation/half_map_list/half_map/cell",
    "half_map.axis_order": "/emd/interpretation/half_map_list/half_map/axis_order",
    "half_map.statistics": "/emd/interpretation/half_map_list/half_map/statistics",
    "half_map.size_kbytes": "/emd/interpretation/half_map_list/half_map/@size_kbytes",
}


@dataclass
class EmdbBuild:
    xml: bytes
    facts: EmFacts
    report: Report


def _number(value: float | int) -> str:
    if isinstance(value, int):
        return str(value)
    text = f"{value:.6g}"
    return text if "e" not in text else f"{value:.6f}"


def _sub(
    parent: etree._Element, tag: str, text: str | float | int | None = None, **attrs: str
) -> etree._Element:
    element = etree.SubElement(parent, tag, {k: v for k, v in attrs.items()})
    if text is not None:
        element.text = (
            _number(text)
            if isinstance(text, int | float) and not isinstance(text, bool)
            else str(text)
        )
    return element


def _admin(root: etree._Element, facts: EmFacts) -> None:
    admin = _sub(root, "admin")
    status = _sub(admin, "current_status")
    # A header prepared before deposition: the archive sets the real status on processing.
    _sub(status, "code", "PROC")
    sites = _sub(admin, "sites")
    _sub(sites, "deposition", "PDBe")
    _sub(sites, "last_processing", "PDBe")
    dates = _sub(admin, "key_dates")
    _sub(dates, "deposition", facts.deposition_date.isoformat())
    _sub(dates, "update", facts.deposition_date.isoformat())
    if facts.funding:
        grants = _sub(admin, "grant_support")
        for funder, code in facts.funding:
            reference = _sub(grants, "grant_reference")
            _sub(reference, "funding_body", funder)
            if code:
                _sub(reference, "code", code)
    _sub(admin, "title", facts.title)
    authors = _sub(admin, "authors_list")
    for author in facts.authors:
        attrs = {"ORCID": author.orcid} if author.orcid else {}
        _sub(authors, "author", author.name, **attrs)
    if facts.keywords:
        _sub(admin, "keywords", ", ".join(facts.keywords))


def _crossreferences(root: etree._Element, facts: EmFacts) -> None:
    references = _sub(root, "crossreferences")
    citations = _sub(references, "citation_list")
    primary = _sub(citations, "primary_citation")
    citation = _sub(primary, "journal_citation", published="false")
    for order, author in enumerate(facts.citation_authors, start=1):
        attrs = {"order": str(order)}
        if author.orcid:
            attrs["ORCID"] = author.orcid
        _sub(citation, "author", author.name, **attrs)
    _sub(citation, "title", facts.title)
    _sub(citation, "journal_abbreviation", "To Be Published")
    if facts.doi:
        _sub(citation, "external_references", f"doi:{facts.doi}", type="DOI")


def _sample(root: etree._Element, facts: EmFacts) -> None:
    sample = _sub(root, "sample")
    if facts.sample_name:
        _sub(sample, "name", facts.sample_name)
    supramolecules = _sub(sample, "supramolecule_list")
    if not facts.sample_name:
        return
    kind = facts.supramolecule
    element = _sub(supramolecules, kind, supramolecule_id="1")
    _sub(element, "name", facts.sample_name)
    _sub(element, "parent", 0)
    if facts.organism:
        source = _sub(element, "natural_source", database="NCBI")
        attrs = {"ncbi": facts.organism_ncbi} if facts.organism_ncbi else {}
        _sub(source, "organism", facts.organism, **attrs)
    if facts.molecular_weight_mda and kind in (
        "complex_supramolecule",
        "organelle_or_cellular_component_supramolecule",
        "sample_supramolecule",
    ):
        weight = _sub(element, "molecular_weight")
        _sub(weight, "theoretical", facts.molecular_weight_mda, units="MDa")


def _preparation(parent: etree._Element, tag: str, facts: EmFacts) -> None:
    preparations = _sub(parent, "specimen_preparation_list")
    preparation = _sub(preparations, tag, preparation_id="1")
    if facts.concentration_mg_ml:
        _sub(preparation, "concentration", facts.concentration_mg_ml, units="mg/mL")
    if facts.ph is not None:
        buffer = _sub(preparation, "buffer")
        _sub(buffer, "ph", facts.ph)
    if facts.cryogen:
        vitrification = _sub(preparation, "vitrification")
        _sub(vitrification, "cryogen_name", facts.cryogen)
        if facts.humidity_percent is not None:
            _sub(vitrification, "chamber_humidity", facts.humidity_percent, units="percentage")


def _microscopy(parent: etree._Element, tag: str, facts: EmFacts) -> None:
    microscopies = _sub(parent, "microscopy_list")
    microscopy = _sub(microscopies, tag, microscopy_id="1")
    for name, value in (
        ("microscope", facts.microscope),
        ("illumination_mode", facts.illumination_mode),
        ("imaging_mode", facts.imaging_mode),
        ("electron_source", facts.electron_source),
    ):
        if value:
            _sub(microscopy, name, value)
    if facts.voltage_kv:
        _sub(microscopy, "acceleration_voltage", facts.voltage_kv, units="kV")
    if facts.cs_mm is not None:
        _sub(microscopy, "nominal_cs", facts.cs_mm, units="mm")
    micro = "\u00b5m"
    if facts.nominal_defocus_um:
        _sub(microscopy, "nominal_defocus_min", facts.nominal_defocus_um[0], units=micro)
    if facts.calibrated_defocus_um:
        _sub(microscopy, "calibrated_defocus_min", facts.calibrated_defocus_um[0], units=micro)
    if facts.nominal_defocus_um:
        _sub(microscopy, "nominal_defocus_max", facts.nominal_defocus_um[1], units=micro)
    if facts.calibrated_defocus_um:
        _sub(microscopy, "calibrated_defocus_max", facts.calibrated_defocus_um[1], units=micro)
    if facts.nominal_magnification:
        _sub(microscopy, "nominal_magnification", facts.nominal_magnification)
    if facts.calibrated_magnification:
        _sub(microscopy, "calibrated_magnification", facts.calibrated_magnification)
    if facts.energy_filter:
        optics = _sub(microscopy, "specialist_optics")
        energy_filter = _sub(optics, "energy_filter")
        _sub(energy_filter, "name", facts.energy_filter)
        if facts.energy_filter_slit_ev is not None:
            _sub(energy_filter, "slit_width", facts.energy_filter_slit_ev, units="eV")
    recordings = _sub(microscopy, "image_recording_list")
    recording = _sub(recordings, "image_recording", image_recording_id="1")
    if facts.detector:
        _sub(recording, "film_or_detector_model", facts.detector)
    if facts.detector_mode:
        _sub(recording, "detector_mode", facts.detector_mode)
    if facts.number_images:
        _sub(recording, "number_real_images", facts.number_images)
    if facts.exposure_time_s:
        _sub(recording, "average_exposure_time", facts.exposure_time_s, units="s")
    if facts.dose_e_per_a2:
        _sub(
            recording,
            "average_electron_dose_per_image",
            facts.dose_e_per_a2,
            units=f"e/{ANGSTROM}^2",
        )
    if tag == "tomography_microscopy" and facts.tilt_range_deg:
        series = _sub(microscopy, "tilt_series")
        axis = _sub(series, "axis1")
        low, high, step = facts.tilt_range_deg
        _sub(axis, "min_angle", low, units="deg")
        _sub(axis, "max_angle", high, units="deg")
        if step:
            _sub(axis, "angle_increment", step, units="deg")


def _structure_determination(root: etree._Element, facts: EmFacts) -> None:
    determinations = _sub(root, "structure_determination_list")
    determination = _sub(determinations, "structure_determination", structure_determination_id="1")
    _sub(determination, "method", facts.method)
    _sub(determination, "aggregation_state", facts.aggregation_state)
    preparation_tag, microscopy_tag, processing_tag = vocab.EMDB_METHOD_ELEMENTS[facts.method]
    _preparation(determination, preparation_tag, facts)
    _microscopy(determination, microscopy_tag, facts)
    processing = _sub(determination, processing_tag, image_processing_id="1")
    _sub(processing, "image_recording_id", 1)


def _map(parent: etree._Element, tag: str, facts: MapFacts) -> None:
    element = _sub(parent, tag, format="CCP4", size_kbytes=str(facts.size_kbytes))
    _sub(element, "file", facts.archive_name)
    if facts.data_type:
        _sub(element, "data_type", facts.data_type)
    groups: list[tuple[str, tuple[str, ...], tuple[Any, ...], dict[str, str]]] = [
        ("dimensions", ("col", "row", "sec"), facts.dimensions, {}),
        ("origin", ("col", "row", "sec"), facts.origin, {}),
        ("spacing", ("x", "y", "z"), facts.spacing, {}),
    ]
    for group, names, values, attrs in groups:
        _values(_sub(element, group), names, values, attrs)
    cell = _sub(element, "cell")
    _values(cell, ("a", "b", "c"), facts.cell, {"units": ANGSTROM})
    _values(cell, ("alpha", "beta", "gamma"), facts.cell_angles, {"units": "deg"})
    _values(_sub(element, "axis_order"), ("fast", "medium", "slow"), facts.axis_order, {})
    if facts.statistics:
        _values(
            _sub(element, "statistics"),
            ("minimum", "maximum", "average", "std"),
            facts.statistics,
            {},
        )
    _values(
        _sub(element, "pixel_spacing"), ("x", "y", "z"), facts.pixel_spacing, {"units": ANGSTROM}
    )


def _values(
    parent: etree._Element, names: tuple[str, ...], values: tuple[Any, ...], attrs: dict[str, str]
) -> None:
    for name, value in zip(names, values, strict=True):
        _sub(parent, name, value, **attrs)


def render_emdb_xml(facts: EmFacts) -> bytes:
    root = etree.Element(
        "emd",
        {"emdb_id": facts.entry_id, "version": vocab.EMDB_SCHEMA_VERSION},
        nsmap={"xsi": "http://www.w3.org/2001/XMLSchema-instance"},
    )
    _admin(root, facts)
    _crossreferences(root, facts)
    _sample(root, facts)
    _structure_determination(root, facts)
    if facts.primary_map:
        _map(root, "map", facts.primary_map)
    if facts.half_maps:
        interpretation = _sub(root, "interpretation")
        half_maps = _sub(interpretation, "half_map_list")
        for half in facts.half_maps:
            _map(half_maps, "half_map", half)
    return bytes(etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True))


def build_emdb(dataset: Dataset) -> EmdbBuild:
    """The header XML of a map dataset and the report on it (XSD validation comes after)."""
    facts = collect_em_facts(dataset, XPATHS)
    return EmdbBuild(xml=render_emdb_xml(facts), facts=facts, report=facts.report)
