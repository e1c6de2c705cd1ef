"""The one reader of the OSC-EM document (metadata.oscem): sample, instrument and acquisition
read with their paths, quantities in the unit asked for, and any shape of document read without
an error."""

from __future__ import annotations

import pytest

from metadata import oscem

DOCUMENT = {
    "sample": {
        "overall_molecule": {
            "name_sample": "Apoferritin",
            "molecular_weight": {"value": 480, "unit": "kDa"},
            "assembly": "complex",
        },
        "molecule": [{"name_mol": "Ferritin heavy chain", "natural_source": "Mus musculus"}, "?"],
        "specimen": {"buffer": "PBS", "ph": 7.4, "vitrification": True},
    },
    "instrument": {
        "microscope": {"manufacturer": "Thermo Fisher Scientific", "model": "Titan Krios G4"},
        "acceleration_voltage": {"value": 300000, "unit": "V"},
    },
    "acquisition": {
        "pixel_size": {"value": 0.083, "unit": "nm"},
        "detectors": [{"name": "Falcon 4i", "mode": "counting"}],
        "nominal_defocus": {"minimal": {"value": -2.0, "unit": "µm"}},
        "dose_per_movie": {"value": 40, "unit": "e/Å^2"},
    },
}


def test_the_sample_is_read_with_its_molecules_and_specimen():
    sample = oscem.sample(DOCUMENT)

    assert sample.name == "Apoferritin"
    assert sample.name_field == "sample.overall_molecule.name_sample"
    assert sample.molecular_weight_mda == pytest.approx(0.48)
    assert sample.assembly == "COMPLEX"
    assert [(m.index, m.name, m.field) for m in sample.molecules] == [
        (0, "Ferritin heavy chain", "sample.molecule[0]")
    ]  # the entry that is no object is skipped, the index stays the document's
    assert (sample.buffer, sample.ph, sample.vitrified) == ("PBS", 7.4, True)


def test_a_tomography_sample_is_named_by_its_organisms():
    document = {"sample": {"specimen_env": {"organism": ["Chlamydomonas reinhardtii", ""]}}}

    sample = oscem.sample(document)

    assert sample.name == "Chlamydomonas reinhardtii"
    assert sample.name_field == oscem.ORGANISMS


def test_instrument_and_acquisition_come_in_the_archives_units_with_their_paths():
    acquisition = oscem.acquisition(DOCUMENT)

    assert acquisition.voltage_kv == oscem.Value(pytest.approx(300.0), oscem.ACCELERATION_VOLTAGE)
    assert acquisition.pixel_size_a == oscem.Value(pytest.approx(0.83), oscem.PIXEL_SIZE)
    assert acquisition.microscope_model == oscem.Value(
        "Titan Krios G4", "instrument.microscope.model"
    )
    assert acquisition.detector_name == oscem.Value("Falcon 4i", "acquisition.detectors[0].name")
    low, high = acquisition.nominal_defocus_nm
    assert low.value == high.value == pytest.approx(-2000.0)  # one bound given: both are it
    assert acquisition.dose_e_per_a2.value == pytest.approx(40.0)
    assert acquisition.cs_mm is None and acquisition.tilt_min_deg is None


@pytest.mark.parametrize(
    "document",
    [
        None,
        "text",
        [],
        {"sample": "a string", "instrument": [1, 2], "acquisition": {"detectors": "Falcon"}},
        {"acquisition": {"pixel_size": {"value": "big", "unit": "Å"}, "voltage": True}},
        {"acquisition": {"pixel_size": {"value": 1.0, "unit": "bananas"}}},
        {"acquisition": {"pixel_size": {"value": 1.0, "unit": "kg"}}},
    ],
)
def test_any_shape_of_document_reads_as_empty_values(document):
    sample = oscem.sample(document)
    acquisition = oscem.acquisition(document)

    assert (sample.name, sample.molecules, sample.ph) == ("", (), None)
    assert acquisition == oscem.AcquisitionMetadata()
    assert oscem.funders(document) == () and oscem.grants(document) == ()
