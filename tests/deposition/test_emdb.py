"""The EMDB header XML (v3.0.11.3) of a map dataset, validated with lxml against the EMDB XSDs
obtained from a configured path or URL."""

from __future__ import annotations

import copy
import http.server
import threading
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from lxml import etree

from deposition.documents import build_document
from deposition.emdb import validation
from deposition.emdb.facts import defocus_range_um
from tests.support.deposition import full_metadata, map_files, mrc_file


def xml_of(built) -> etree._Element:
    return etree.fromstring(built.content)


def text(root: etree._Element, path: str) -> str:
    return root.find(path).text


def test_the_shared_minimal_example_validates_against_both_schemas(emdb_schemas):
    example = (emdb_schemas / "emdb" / "example-minimal-valid.xml").read_bytes()
    assert validation.validate_emdb_xml(example) == []


def test_a_broken_example_is_reported_with_xml_paths(emdb_schemas):
    example = (emdb_schemas / "emdb" / "example-minimal-valid.xml").read_bytes()
    broken = example.replace(b"<sec>256</sec>", b"<sec>-1</sec>", 1)
    issues = validation.validate_emdb_xml(broken)
    assert issues and {i.source for i in issues} == {"xsd"}  # relaxed repeats are folded
    assert issues[0].path == "/emd/map/dimensions/sec"


def test_the_header_of_a_map_dataset_validates_against_both_schemas(emdb_schemas, map_dataset):
    built = build_document(map_dataset, "emdb")
    assert built.valid, built.report.as_text()
    for xsd in ("emdb.xsd", "emdb_relaxed.xsd"):
        schema = etree.XMLSchema(etree.parse(str(emdb_schemas / "emdb" / xsd)))
        assert schema.validate(etree.fromstring(built.content)), schema.error_log
    root = xml_of(built)
    assert root.get("version") == "3.0.11.3"
    assert text(root, "admin/title") == map_dataset.title
    authors = [a.text for a in root.findall("admin/authors_list/author")]
    assert authors == ["Curator C", "Muller JM"]  # EMDB takes ASCII author names
    assert root.find("admin/authors_list/author").get("ORCID") == "0000-0002-1825-0097"
    assert text(root, "sample/name") == "Mouse heavy-chain apoferritin"


def test_microscopy_values_and_units(emdb_schemas, map_dataset):
    root = xml_of(build_document(map_dataset, "emdb"))
    microscopy = root.find(".//single_particle_microscopy")
    assert text(microscopy, "microscope") == "TFS KRIOS"
    assert text(microscopy, "electron_source") == "FIELD EMISSION GUN"
    assert text(microscopy, "acceleration_voltage") == "300"
    # EPU's -2000..-800 nm (underfocus negative) is 0.8..2 µm (underfocus positive) in EMDB.
    assert microscopy.find("nominal_defocus_min").get("units") == "\u00b5m"
    assert float(text(microscopy, "nominal_defocus_min")) == 0.8
    assert float(text(microscopy, "nominal_defocus_max")) == 2.0
    recording = microscopy.find("image_recording_list/image_recording")
    assert text(recording, "film_or_detector_model") == "TFS FALCON 4i (4k x 4k)"
    assert text(recording, "detector_mode") == "COUNTING"
    assert float(text(recording, "average_electron_dose_per_image")) == 40.0


def test_map_element_from_the_mrc_header(emdb_schemas, map_dataset):
    root = xml_of(build_document(map_dataset, "emdb"))
    map_element = root.find("map")
    primary = map_dataset.files.get(name="emd_demo.map")
    assert map_element.get("size_kbytes") == str(primary.size // 1000)
    assert text(map_element, "file") == "emd_0000.map"
    assert text(map_element, "data_type") == "IMAGE STORED AS FLOATING POINT NUMBER (4 BYTES)"
    # origin = NCSTART/NRSTART/NSSTART (header words 5-7), not the MRC2014 ORIGIN words
    origin = [text(map_element, f"origin/{a}") for a in ("col", "row", "sec")]
    assert origin == ["-24", "-24", "-24"]
    assert [text(map_element, f"dimensions/{a}") for a in ("col", "row", "sec")] == ["48"] * 3
    assert [text(map_element, f"axis_order/{a}") for a in ("fast", "medium", "slow")] == [
        "X",
        "Y",
        "Z",
    ]
    assert float(text(map_element, "pixel_spacing/x")) == pytest.approx(1.06)
    assert float(text(map_element, "cell/a")) == pytest.approx(50.88)
    assert map_element.find("statistics/maximum") is not None


def test_half_maps_are_described_when_present(emdb_schemas, map_dataset):
    root = xml_of(build_document(map_dataset, "emdb"))
    halves = root.findall("interpretation/half_map_list/half_map")
    assert [text(h, "file") for h in halves] == [
        "emd_0000_half_map_1.map",
        "emd_0000_half_map_2.map",
    ]


def test_the_emdb_id_of_the_dataset_names_the_entry(emdb_schemas, ingest, tmp_path):
    dataset = ingest(
        files=map_files(tmp_path, halves=False),
        kind="map",
        metadata=full_metadata(),
        emdb_ids=["EMD-51234"],
    )
    root = xml_of(build_document(dataset, "emdb"))
    assert root.get("emdb_id") == "EMD-51234"
    assert text(root, "map/file") == "emd_51234.map"


@pytest.mark.parametrize(("dtype", "mode"), [(np.int8, 0), (np.int16, 1), (np.float32, 2)])
def test_data_type_for_the_modes_emdb_takes(emdb_schemas, ingest, tmp_path, dtype, mode):
    dataset = ingest(
        files=map_files(tmp_path, mode_dtype=dtype, halves=False),
        kind="map",
        metadata=full_metadata(),
    )
    built = build_document(dataset, "emdb")
    assert built.valid, built.report.as_text()
    assert dataset.files.get(name="emd_demo.map").header["mode"] == mode


def test_a_map_in_a_mode_emdb_cannot_take_is_reported_never_valid(emdb_schemas, ingest, tmp_path):
    dataset = ingest(
        files=map_files(tmp_path, mode_dtype=np.uint16, halves=False),
        kind="map",
        metadata=full_metadata(),
    )
    built = build_document(dataset, "emdb")
    assert not built.valid
    [issue] = [i for i in built.report.errors if i.path == "/emd/map/data_type"]
    assert "mode 6" in issue.message and "mode 2" in issue.message
    assert xml_of(built).find("map") is None  # nothing half-described


def test_half_maps_of_another_box_are_an_error(emdb_schemas, ingest, tmp_path):
    files = map_files(tmp_path, halves=False)
    small = mrc_file(np.zeros((32, 32, 32), np.float32), 1.06, tmp=tmp_path, volume=True)
    files.append(("half_maps/run_half1_class001_unfil.mrc", small))
    dataset = ingest(files=files, kind="map", metadata=full_metadata())
    built = build_document(dataset, "emdb")
    assert not built.valid
    assert any("must match the map's box" in i.message for i in built.report.errors)


def test_missing_metadata_gives_entries_with_links(emdb_schemas, ingest, tmp_path):
    metadata = full_metadata()
    del metadata["instrument"]["acceleration_voltage"]
    metadata["sample"]["overall_molecule"]["name_sample"] = ""
    metadata["organizational"]["authors"][1]["family_name"] = "王"
    dataset = ingest(files=map_files(tmp_path, halves=False), kind="map", metadata=metadata)
    built = build_document(dataset, "emdb")
    assert not built.valid
    by_path = {i.path: i for i in built.report.errors}
    voltage = by_path[
        "/emd/structure_determination_list/structure_determination/microscopy_list/microscopy"
        "/acceleration_voltage"
    ]
    assert voltage.fix_url.endswith("/metadata/edit#f-instrument-acceleration_voltage")
    assert by_path["/emd/sample/name"].fix_url.endswith("#f-sample-overall_molecule-name_sample")
    assert "ASCII" in by_path["/emd/admin/authors_list/author"].message


def test_a_non_map_dataset_has_no_map_to_describe(emdb_schemas, ingest, tmp_path):
    files = [("Micrographs/m.mrc", mrc_file(np.zeros((64, 64), np.float32), 1.0, tmp=tmp_path))]
    dataset = ingest(files=files, metadata=full_metadata())
    built = build_document(dataset, "emdb")
    assert not built.valid
    assert any(i.path == "/emd/map" and "no map" in i.message for i in built.report.errors)


def test_defocus_conventions():
    assert defocus_range_um(-2000, -800) == (0.8, 2.0)
    assert defocus_range_um(800, 2500) == (0.8, 2.5)
    assert defocus_range_um(-1500, -1500) == (1.5, 1.5)


# --- where the schema comes from ----------------------------------------------------------------


def test_a_missing_schema_makes_the_header_invalid_with_a_message(settings, tmp_path):
    settings.OPENEM_EMDB_XSD = str(tmp_path / "nowhere.xsd")
    settings.OPENEM_EMDB_XSD_RELAXED = ""
    [issue] = validation.validate_emdb_xml(b"<emd/>")
    assert "nowhere.xsd" in issue.message and "cannot validate" in issue.message


def test_a_schema_of_another_version_is_refused(emdb_schemas, settings, tmp_path):
    other = tmp_path / "emdb-3.0.9.xsd"
    other.write_bytes(
        (emdb_schemas / "emdb" / "emdb.xsd")
        .read_bytes()
        .replace(b'default="3.0.11.3"', b'default="3.0.9.0"')
    )
    settings.OPENEM_EMDB_XSD = str(other)
    settings.OPENEM_EMDB_XSD_RELAXED = ""
    example = (emdb_schemas / "emdb" / "example-minimal-valid.xml").read_bytes()
    [issue] = validation.validate_emdb_xml(example)
    assert "3.0.9.0" in issue.message and issue.path == "/emd/@version"


class _Counting(http.server.SimpleHTTPRequestHandler):
    requests: list[str] = []

    def do_GET(self) -> None:
        type(self).requests.append(self.path)
        super().do_GET()

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def xsd_server(emdb_schemas) -> Iterator[tuple[str, list[str]]]:
    """The shared schemas folder served on 127.0.0.1 (a stand-in for EMDB's web site)."""
    _Counting.requests = []
    folder = str(emdb_schemas / "emdb")

    def handler(*args, **kwargs):
        return _Counting(*args, directory=folder, **kwargs)

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", _Counting.requests
    finally:
        server.shutdown()
        server.server_close()


def test_the_schema_can_come_from_a_url_and_is_cached(xsd_server, emdb_schemas, settings, tmp_path):
    base, requests = xsd_server
    settings.DATA_DIR = tmp_path
    settings.OPENEM_EMDB_XSD = f"{base}/emdb.xsd"
    settings.OPENEM_EMDB_XSD_RELAXED = f"{base}/emdb_relaxed.xsd"
    example = (emdb_schemas / "emdb" / "example-minimal-valid.xml").read_bytes()
    assert validation.validate_emdb_xml(example) == []
    assert validation.validate_emdb_xml(copy.copy(example)) == []
    assert sorted(requests) == ["/emdb.xsd", "/emdb_relaxed.xsd"]  # fetched once each
    cached = list((Path(tmp_path) / "cache" / "emdb").glob("*.xsd"))
    assert len(cached) == 2


def test_an_unreachable_schema_url_is_a_clear_error(settings, tmp_path):
    settings.DATA_DIR = tmp_path
    settings.OPENEM_EMDB_XSD = "http://127.0.0.1:9/emdb.xsd"  # discard port: nothing listens
    settings.OPENEM_EMDB_XSD_RELAXED = ""
    [issue] = validation.validate_emdb_xml(b"<emd/>")
    assert "could not be fetched" in issue.message
