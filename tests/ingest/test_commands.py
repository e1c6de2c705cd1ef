"""The staff commands ``inspect_files`` and ``extract_metadata``: in-process via
``call_command`` and as real subprocesses (exit status, stdout/stderr), on generated files and
on the real samples (skipped, saying so, when those are absent)."""

from __future__ import annotations

import hashlib
import io
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from jsonschema.validators import validator_for

from demo import seed as demo
from repository.models import Dataset
from tests.support.aggregate import compare_with_reference
from tests.support.formats import fei_records, mrc_bytes
from tests.support.pipeline import (
    epu_sample_files,
    micrograph,
    new_dataset,
    new_session,
    samples_dir,
    store,
)

ROOT = Path(__file__).resolve().parents[2]


def run(*args: str) -> subprocess.CompletedProcess[str]:
    """``python manage.py ...`` in a fresh process with the test's environment."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST")}
    env.setdefault("DJANGO_SETTINGS_MODULE", "openem.settings")
    return subprocess.run(  # noqa: S603
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def command_json(name: str, *args: str) -> Any:
    out = io.StringIO()
    call_command(name, *args, "--json", stdout=out, stderr=io.StringIO())
    return json.loads(out.getvalue())


def schema_errors(document: dict[str, Any], technique: str) -> list[str]:
    folder = (
        Path(os.environ.get("OPENEM_SCHEMAS_DIR") or ROOT.parent / "shared" / "schemas") / "oscem"
    )
    path = folder / f"oscem_schemas_{technique}.schema.json"
    if not path.is_file():
        pytest.skip(f"OSC-EM schema not found at {path}: set OPENEM_SCHEMAS_DIR")
    schema = json.loads(path.read_text("utf-8"))
    validator_class = validator_for(schema)  # the draft named by $schema
    validator_class.check_schema(schema)
    validator = validator_class(schema, format_checker=validator_class.FORMAT_CHECKER)
    return [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(document)]


@pytest.fixture
def session_folder(tmp_path: Path) -> Path:
    """A small session on disk: an FEI2 micrograph, an EER movie, a TIFF movie, a tilt series
    with its mdoc, a broken mdoc and a truncated MRC."""
    folder = tmp_path / "session"
    (folder / "Micrographs").mkdir(parents=True)
    (folder / "Movies").mkdir()
    (folder / "TS_01").mkdir()
    image = np.random.default_rng(5).normal(size=(64, 80)).astype(np.float32)
    fei = fei_records(b"FEI2", 1, **{"HT": 300_000.0, "Dose": 4.0e20, "Pixel size X": 8.3e-11})
    (folder / "Micrographs/fei.mrc").write_bytes(
        mrc_bytes(image, voxel_size=0.83, exttyp=b"FEI2", extended=fei, tmp=tmp_path)
    )
    (folder / "Movies/movie.eer").write_bytes(demo.eer_like_bytes(frames=5, shape=(64, 64)))
    (folder / "Movies/movie.tiff").write_bytes(demo.tiff_movie_bytes(frames=6, shape=(32, 32)))
    (folder / "TS_01/TS_01.mrc.mdoc").write_bytes(demo.mdoc_text("TS_01.mrc", tilts=7))
    (folder / "TS_01/notes.mdoc").write_bytes(b"just some text\nwithout pairs\n")
    (folder / "TS_01/broken.xml").write_bytes(b"<MicroscopeImage><name>x</nam></MicroscopeImage>")
    full = micrograph((64, 64))
    (folder / "TS_01/cut.mrc").write_bytes(full[:-1000])
    return folder


# ---------------------------------------------------------------------------------------------
# inspect_files


def test_inspect_files_reports_format_checksum_header_and_problems(session_folder):
    reports = {Path(r["path"]).name: r for r in command_json("inspect_files", str(session_folder))}

    assert set(reports) == {
        "fei.mrc",
        "movie.eer",
        "movie.tiff",
        "TS_01.mrc.mdoc",
        "notes.mdoc",
        "broken.xml",
        "cut.mrc",
    }
    for name, report in reports.items():
        data = Path(report["path"]).read_bytes()
        assert report["size"] == len(data), name
        assert report["sha256"] == hashlib.sha256(data).hexdigest(), name
        assert set(report) >= {"path", "format", "size", "sha256", "header", "warnings", "errors"}
    fei = reports["fei.mrc"]
    assert (fei["format"], fei["errors"]) == ("mrc", [])
    assert fei["header"]["voxel_size"]["x"] == {"value": pytest.approx(0.83, rel=1e-6), "unit": "A"}
    assert fei["header"]["exttyp"] == "FEI2"
    acquisition = fei["header"]["acquisition"]
    assert acquisition["voltage"] == {"value": 300.0, "unit": "kV"}
    assert acquisition["dose"] == {"value": pytest.approx(4.0), "unit": "e/A^2"}
    eer = reports["movie.eer"]
    assert (eer["format"], eer["header"]["frames"]) == ("eer", 5)
    assert eer["header"]["acquisition"]["exposure_time"] == {"value": 2.5, "unit": "s"}
    assert reports["movie.tiff"]["header"]["pages"] == 6
    mdoc = reports["TS_01.mrc.mdoc"]
    assert (mdoc["format"], mdoc["header"]["tilt_count"]) == ("mdoc", 7)
    assert mdoc["units"]["voltage"] == "kV" and mdoc["units"]["pixel_size"] == "\u212b"
    assert (
        "named like an mdoc file (.mdoc) but has no mdoc keys" in reports["notes.mdoc"]["errors"][0]
    )
    assert reports["broken.xml"]["format"] == "epu_xml"
    assert "malformed XML: mismatched tag" in reports["broken.xml"]["errors"][0]
    cut = reports["cut.mrc"]
    assert cut["format"] == "mrc"
    assert any("truncated" in error for error in cut["errors"])


def test_inspect_files_md5_on_request(tmp_path):
    path = tmp_path / "a.bin"
    path.write_bytes(b"openem" * 1000)
    [report] = command_json("inspect_files", str(path), "--md5")
    assert report["md5"] == hashlib.md5(path.read_bytes(), usedforsecurity=False).hexdigest()
    [report] = command_json("inspect_files", str(path))
    assert "md5" not in report


def test_inspect_files_table_is_readable(session_folder):
    out = io.StringIO()
    call_command(
        "inspect_files",
        str(session_folder / "Micrographs"),
        str(session_folder / "TS_01"),
        stdout=out,
    )
    text = out.getvalue()
    assert "fei.mrc" in text and "80x64x1 float32, pixel 0.83 A" in text
    assert "7 tilts" in text
    assert "error: " in text and "truncated" in text
    assert text.rstrip().endswith("5 files, 3 with errors, 0 with warnings")


def test_inspect_files_missing_path_is_a_usage_error(tmp_path):
    with pytest.raises(CommandError, match="no such file or directory: .*nothing-here"):
        call_command("inspect_files", str(tmp_path / "nothing-here"))


def test_inspect_files_subprocess_exit_status(session_folder, tmp_path):
    bad_and_good = run(
        "inspect_files",
        "--json",
        str(session_folder / "TS_01/cut.mrc"),
        str(session_folder / "Movies"),
    )
    assert bad_and_good.returncode == 0, bad_and_good.stderr
    reports = json.loads(bad_and_good.stdout)
    assert [Path(r["path"]).name for r in reports] == ["cut.mrc", "movie.eer", "movie.tiff"]
    assert reports[0]["errors"] and not reports[1]["errors"]

    missing = run("inspect_files", str(tmp_path / "absent.mrc"))
    assert missing.returncode != 0
    assert "no such file or directory" in missing.stderr and "absent.mrc" in missing.stderr
    assert "Traceback" not in missing.stderr

    no_args = run("inspect_files")
    assert no_args.returncode != 0 and "PATH" in no_args.stderr


def test_inspect_files_on_the_real_samples():
    folder = samples_dir() / "mrc"
    if not (folder / "epu2.9_example.mrc").is_file():
        pytest.skip(f"MRC samples not found in {folder}: set OPENEM_SAMPLES_DIR")
    result = run("inspect_files", "--json", str(folder))
    assert result.returncode == 0, result.stderr
    reports = {Path(r["path"]).name: r for r in json.loads(result.stdout)}
    epu = reports["epu2.9_example.mrc"]
    assert (epu["format"], epu["errors"]) == ("mrc", [])
    assert (epu["header"]["nx"], epu["header"]["mode"], epu["header"]["exttyp"]) == (
        4096,
        6,
        "FEI2",
    )
    assert epu["header"]["acquisition"]["voltage"]["unit"] == "kV"
    assert "truncated" in reports["epu2.9_example.header-only.mrc"]["errors"][0]
    for name in ("EMD-3197.map", "EMD-3197.map.bz2", "emd_3197.map.gz"):
        assert reports[name]["errors"] == [], name
        assert reports[name]["header"]["nx"] == 20


# ---------------------------------------------------------------------------------------------
# extract_metadata


def test_extract_metadata_on_the_epu_samples_validates_against_osc_em_spa():
    epu_sample_files()  # skips when the samples are absent
    result = run(
        "extract_metadata",
        str(samples_dir() / "epu"),
        "--technique",
        "spa",
        "--cs",
        "2.7",
        "--json",
    )
    assert result.returncode == 0, result.stderr
    document = json.loads(result.stdout)
    assert schema_errors(document, "spa") == []
    assert document["instrument"]["cs"]["value"] == 2.7
    assert document["acquisition"]["technique"] == "spa"
    # The same conformance rules (and listed deliberate differences) as the aggregation tests.
    reference = json.loads(
        (samples_dir() / "epu/expected_oscem_ls_metadata_reader.json").read_text()
    )
    compare_with_reference("epu", document, reference)


def test_extract_metadata_on_the_mdoc_samples():
    folder = samples_dir() / "mdoc"
    if not any(folder.glob("*.mdoc")):
        pytest.skip(f"mdoc samples not found in {folder}: set OPENEM_SAMPLES_DIR")
    document = command_json(
        "extract_metadata", str(folder), "--technique", "cellular_tomo", "--cs", "2.7"
    )
    reference = json.loads((folder / "expected_oscem_ls_metadata_reader.json").read_text())
    compare_with_reference("mdoc", document, reference)
    assert document["acquisition"]["images_generated"] == 2


def test_extract_metadata_equals_what_the_pipeline_derives(world, local_storage, session_folder):
    """The command and a settled dataset agree on the same files."""
    dataset = new_dataset(world, technique="cellular_tomo")
    session = new_session(world, dataset)
    from ingest.services import datafile_process

    files = sorted(p for p in session_folder.rglob("*") if p.is_file())
    for path in files:
        datafile = store(world, session, str(path.relative_to(session_folder)), path.read_bytes())
        datafile_process(datafile.pk)
    dataset = Dataset.objects.get(pk=dataset.pk)
    assert dataset.status == "ready"

    errors = io.StringIO()
    out = io.StringIO()
    call_command(
        "extract_metadata", str(session_folder), "--technique", "cellular_tomo", "--json",
        stdout=out, stderr=errors,
    )  # fmt: skip
    document = json.loads(out.getvalue())

    assert document == dataset.metadata["_derived"]
    assert document["acquisition"]["tilt_angle"]["maximal"]["value"] == 6.0  # 7 tilts from -30
    assert "skipped TS_01/broken.xml: EPU XML: malformed XML" in errors.getvalue()


def test_extract_metadata_readable_listing_and_empty_folder(tmp_path, session_folder):
    out, err = io.StringIO(), io.StringIO()
    call_command(
        "extract_metadata", str(session_folder), "--technique", "general", stdout=out, stderr=err
    )
    text = out.getvalue()
    assert text.startswith("1 sidecar files, 7 images")
    assert "instrument.acceleration_voltage = 300 kV" in text
    assert "acquisition.pixel_size = 2.68 \u212b" in text

    empty = tmp_path / "empty"
    empty.mkdir()
    out, err = io.StringIO(), io.StringIO()
    call_command(
        "extract_metadata", str(empty), "--technique", "spa", "--json", stdout=out, stderr=err
    )
    assert json.loads(out.getvalue()) == {}
    assert "no readable EPU XML or mdoc file" in err.getvalue()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--technique", "spa"], "is not a folder"),
        (["--technique", "cryo"], "invalid choice: 'cryo'"),
        (["--technique", "spa", "--cs", "-1"], "--cs must be a number of millimetres >= 0"),
        (["--technique", "spa", "--cs", "nan"], "--cs must be a number of millimetres >= 0"),
    ],
)
def test_extract_metadata_usage_errors(tmp_path, args, message):
    folder = tmp_path / ("missing" if message == "is not a folder" else "")
    with pytest.raises(CommandError, match=message):
        call_command("extract_metadata", str(folder), *args)


def test_extract_metadata_subprocess_usage_error_exit_status(tmp_path):
    result = run("extract_metadata", str(tmp_path), "--technique", "tomography")
    assert result.returncode != 0
    assert "invalid choice" in result.stderr and "Traceback" not in result.stderr
    missing_technique = run("extract_metadata", str(tmp_path))
    assert missing_technique.returncode != 0 and "--technique" in missing_technique.stderr
