"""PDBx/mmCIF ``em_*`` categories for the OneDep route, written with gemmi.

The same facts as the EMDB header (:mod:`deposition.emdb.facts`) in the units and sign
conventions of the PDBx dictionary: defocus in nanometres with underfocus positive
(``_em_imaging.nominal_defocus_min``), voltage in kV, dose in electrons per Å², map geometry as
``_em_map`` items. The text is parsed back with gemmi before it is handed out, and values the
dictionary requires but the dataset lacks are report entries.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import gemmi

from deposition import vocab
from deposition.emdb.facts import EmFacts, MapFacts, collect_em_facts
from deposition.report import Issue, Report
from repository.models import Dataset

ITEMS = {
    "entry_id": "_entry.id",
    "title": "_struct.title",
    "authors": "_audit_author.name",
    "sample_name": "_em_entity_assembly.name",
    "organism": "_em_entity_assembly_naturalsource.organism",
    "method": "_em_experiment.reconstruction_method",
    "aggregation": "_em_experiment.aggregation_state",
    "ph": "_em_buffer.pH",
    "microscope": "_em_imaging.microscope_model",
    "illumination_mode": "_em_imaging.illumination_mode",
    "imaging_mode": "_em_imaging.mode",
    "electron_source": "_em_imaging.electron_source",
    "voltage": "_em_imaging.accelerating_voltage",
    "cs": "_em_imaging.nominal_cs",
    "defocus_nominal": "_em_imaging.nominal_defocus_min",
    "defocus_calibrated": "_em_imaging.calibrated_defocus_min",
    "magnification_nominal": "_em_imaging.nominal_magnification",
    "magnification_calibrated": "_em_imaging.calibrated_magnification",
    "detector": "_em_image_recording.film_or_detector_model",
    "detector_mode": "_em_image_recording.detector_mode",
    "dose": "_em_image_recording.avg_electron_dose_per_image",
    "exposure": "_em_image_recording.average_exposure_time",
    "images": "_em_image_recording.num_real_images",
    "map": "_em_map",
    "map.file": "_em_map.file",
    "map.data_type": "_em_map.data_type",
    "map.dimensions": "_em_map.dimensions_col",
    "map.origin": "_em_map.origin_col",
    "map.cell": "_em_map.cell_a",
    "map.axis_order": "_em_map.axis_order_fast",
    "map.statistics": "_em_map.statistics_average",
    "map.pixel_spacing": "_em_map.pixel_spacing_x",
    "map.size_kbytes": "_em_map.size_kb",
    "half_map": "_em_map.type",
}
#: Items the portal must fill for the export to be of use (the rest may stay '?').
REQUIRED = (
    "_em_imaging.microscope_model",
    "_em_imaging.accelerating_voltage",
    "_em_image_recording.film_or_detector_model",
    "_em_entity_assembly.name",
)


@dataclass
class MmcifBuild:
    text: str
    facts: EmFacts
    report: Report


def _nm(value_um: float | None) -> float | None:
    return None if value_um is None else float(f"{value_um * 1000.0:.6g}")


def _map_rows(entry_id: str, maps: list[tuple[str, MapFacts]]) -> dict[str, list[Any]]:
    columns: dict[str, list[Any]] = {
        key: []
        for key in (
            "id", "entry_id", "type", "file", "format", "partition", "size_kb", "data_type",
            "dimensions_col", "dimensions_row", "dimensions_sec",
            "origin_col", "origin_row", "origin_sec",
            "spacing_x", "spacing_y", "spacing_z",
            "cell_a", "cell_b", "cell_c", "cell_alpha", "cell_beta", "cell_gamma",
            "axis_order_fast", "axis_order_medium", "axis_order_slow",
            "pixel_spacing_x", "pixel_spacing_y", "pixel_spacing_z",
            "statistics_minimum", "statistics_maximum", "statistics_average", "statistics_std",
        )
    }  # fmt: skip
    for index, (kind, facts) in enumerate(maps, start=1):
        stats = facts.statistics or (None, None, None, None)
        row = {
            "id": str(index),
            "entry_id": entry_id,
            "type": kind,
            "file": facts.archive_name,
            "format": "CCP4",
            "partition": "1",
            "size_kb": str(facts.size_kbytes),
            "data_type": vocab.MMCIF_MAP_DATA_TYPES.get(facts.mode),
            "dimensions_col": str(facts.dimensions[0]),
            "dimensions_row": str(facts.dimensions[1]),
            "dimensions_sec": str(facts.dimensions[2]),
            "origin_col": str(facts.origin[0]),
            "origin_row": str(facts.origin[1]),
            "origin_sec": str(facts.origin[2]),
            "spacing_x": str(facts.spacing[0]),
            "spacing_y": str(facts.spacing[1]),
            "spacing_z": str(facts.spacing[2]),
            "cell_a": _text(facts.cell[0]),
            "cell_b": _text(facts.cell[1]),
            "cell_c": _text(facts.cell[2]),
            "cell_alpha": _text(facts.cell_angles[0]),
            "cell_beta": _text(facts.cell_angles[1]),
            "cell_gamma": _text(facts.cell_angles[2]),
            "axis_order_fast": facts.axis_order[0],
            "axis_order_medium": facts.axis_order[1],
            "axis_order_slow": facts.axis_order[2],
            "pixel_spacing_x": _text(facts.pixel_spacing[0]),
            "pixel_spacing_y": _text(facts.pixel_spacing[1]),
            "pixel_spacing_z": _text(facts.pixel_spacing[2]),
            "statistics_minimum": _text(stats[0]),
            "statistics_maximum": _text(stats[1]),
            "statistics_average": _text(stats[2]),
            "statistics_std": _text(stats[3]),
        }
        for key, value in row.items():
            columns[key].append(value)
    return columns


def _text(value: float | int | None) -> str | None:
    if value is None:
        return None
    return str(value) if isinstance(value, int) else f"{value:.6g}"


def _pairs(block: gemmi.cif.Block, category: str, values: dict[str, Any]) -> None:
    """One row of a category, written as ``_category.item value`` pairs (None: '?')."""
    block.set_pairs(f"{category}.", values)


def render_mmcif(facts: EmFacts) -> str:
    entry = facts.entry_id
    document = gemmi.cif.Document()
    block = document.add_new_block(entry.replace("-", "_"))
    _pairs(block, "_entry", {"id": entry})
    _pairs(block, "_struct", {"entry_id": entry, "title": facts.title})
    if facts.authors:
        block.set_mmcif_category(
            "_audit_author",
            {
                "name": [a.name for a in facts.authors],
                "pdbx_ordinal": [str(i) for i in range(1, len(facts.authors) + 1)],
                "identifier_ORCID": [a.orcid for a in facts.authors],
            },
        )
    _pairs(
        block,
        "_em_experiment",
        {
            "id": "1",
            "entry_id": entry,
            "reconstruction_method": vocab.MMCIF_METHODS.get(facts.method),
            "aggregation_state": facts.aggregation_state.upper()
            .replace("HELICALARRAY", "HELICAL ARRAY")
            .replace("TWODARRAY", "2D ARRAY")
            .replace("THREEDARRAY", "3D ARRAY"),
            "entity_assembly_id": "1",
        },
    )
    _pairs(
        block,
        "_em_entity_assembly",
        {
            "id": "1",
            "parent_id": "0",
            "name": facts.sample_name or None,
            "type": facts.supramolecule.replace("_supramolecule", "")
            .upper()
            .replace("ORGANELLE_OR_CELLULAR_COMPONENT", "ORGANELLE OR CELLULAR COMPONENT"),
            "source": "NATURAL" if facts.organism else None,
        },
    )
    if facts.organism:
        _pairs(
            block,
            "_em_entity_assembly_naturalsource",
            {
                "id": "1",
                "entity_assembly_id": "1",
                "organism": facts.organism,
                "ncbi_tax_id": facts.organism_ncbi or None,
            },
        )
    _pairs(
        block,
        "_em_specimen",
        {
            "id": "1",
            "experiment_id": "1",
            "concentration": _text(facts.concentration_mg_ml),
            "vitrification_applied": "YES" if facts.vitrified or facts.cryogen else None,
            "embedding_applied": "NO",
            "shadowing_applied": "NO",
            "staining_applied": "NO",
        },
    )
    if facts.ph is not None:
        _pairs(block, "_em_buffer", {"id": "1", "specimen_id": "1", "pH": _text(facts.ph)})
    if facts.cryogen:
        _pairs(
            block,
            "_em_vitrification",
            {
                "id": "1",
                "specimen_id": "1",
                "cryogen_name": facts.cryogen,
                "humidity": _text(facts.humidity_percent),
            },
        )
    nominal = facts.nominal_defocus_um or (None, None)
    calibrated = facts.calibrated_defocus_um or (None, None)
    _pairs(
        block,
        "_em_imaging",
        {
            "id": "1",
            "entry_id": entry,
            "specimen_id": "1",
            "microscope_model": facts.microscope,
            "illumination_mode": facts.illumination_mode,
            "mode": facts.imaging_mode,
            "electron_source": facts.electron_source,
            "accelerating_voltage": _text(facts.voltage_kv),
            "nominal_cs": _text(facts.cs_mm),
            # PDBx: nanometres, underfocus positive (facts hold micrometres, same sign).
            "nominal_defocus_min": _text(_nm(nominal[0])),
            "nominal_defocus_max": _text(_nm(nominal[1])),
            "calibrated_defocus_min": _text(_nm(calibrated[0])),
            "calibrated_defocus_max": _text(_nm(calibrated[1])),
            "nominal_magnification": _text(facts.nominal_magnification),
            "calibrated_magnification": _text(facts.calibrated_magnification),
        },
    )
    _pairs(
        block,
        "_em_image_recording",
        {
            "id": "1",
            "imaging_id": "1",
            "film_or_detector_model": facts.detector,
            "detector_mode": facts.detector_mode,
            "avg_electron_dose_per_image": _text(facts.dose_e_per_a2),
            "average_exposure_time": _text(facts.exposure_time_s),
            "num_real_images": _text(facts.number_images),
        },
    )
    _pairs(
        block,
        "_em_3d_reconstruction",
        {
            "id": "1",
            "entry_id": entry,
            "image_processing_id": "1",
            "method": None,
            "resolution": None,
            "resolution_method": None,
            "symmetry_type": None,
        },
    )
    maps: list[tuple[str, MapFacts]] = []
    if facts.primary_map:
        maps.append(("primary map", facts.primary_map))
    maps.extend(("half map", half) for half in facts.half_maps)
    if maps:
        block.set_mmcif_category("_em_map", _map_rows(entry, maps))
    return document.as_string()


def check_mmcif(text: str) -> list[Issue]:
    """Parse the text back and check the items the export must carry."""
    try:
        block = gemmi.cif.read_string(text).sole_block()
    except (RuntimeError, ValueError) as exc:
        return [Issue(path="/", message=f"the mmCIF text does not parse: {exc}", source="mmcif")]
    issues = []
    for item in REQUIRED:
        value = block.find_value(item)
        if value is None or value in ("?", "."):
            issues.append(Issue(path=item, message=f"{item} has no value", source="mmcif"))
    return issues


def build_mmcif(dataset: Dataset) -> MmcifBuild:
    facts = collect_em_facts(dataset, ITEMS, require_map=False)
    text = render_mmcif(facts)
    return MmcifBuild(text=text, facts=facts, report=facts.report)
