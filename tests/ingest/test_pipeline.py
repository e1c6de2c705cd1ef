"""The ingest pipeline on stored objects, on local files and on the S3 server (SeaweedFS, over HTTP).

Every file goes ``stored -> processing -> ready | failed`` through ``datafile_process`` exactly
as a worker runs it; the dataset settles (aggregated metadata, status ready) once every file has
ended. Bad files end in a clear per-file state without touching the stored bytes.
"""

from __future__ import annotations

import hashlib
import socket
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from django.conf import settings as django_settings

import storage
from demo import seed as demo
from ingest.selectors import dataset_ingest_progress, upload_session_progress
from ingest.services import Outcome, datafile_claim, datafile_process
from repository.models import DataFile, Dataset, DatasetStatus, FileState
from storage import TransientStorageError
from tests.support.formats import (
    BAD_FILE_CASES,
    BILLION_LAUGHS,
    EXTERNAL_DTD,
    EXTERNAL_ENTITY,
    bad_files,
    mrc_bytes,
)
from tests.support.pipeline import (
    epu_sample_files,
    micrograph,
    new_dataset,
    new_session,
    object_sha256,
    png_size,
    sha256,
    store,
)

# ---------------------------------------------------------------------------------------------
# Helpers shared with the other pipeline tests (uploads, fixity, worker)


def movie_stack(tmp: Path, frames: int = 5) -> bytes:
    rng = np.random.default_rng(3)
    data = rng.poisson(2.0, (frames, 200, 240)).astype(np.int16)
    return mrc_bytes(data, voxel_size=1.1, stack=True, tmp=tmp)


@pytest.fixture(params=["local", "s3"])
def backend(request: pytest.FixtureRequest) -> str:
    """Run the test on local files and on the S3 server."""
    request.getfixturevalue("local_storage" if request.param == "local" else "s3_storage")
    return str(request.param)


# ---------------------------------------------------------------------------------------------
# Each format through the pipeline


def _check_mrc(datafile: DataFile) -> None:
    header = datafile.header
    assert (header["nx"], header["ny"], header["nz"]) == (700, 600, 1)
    assert header["voxel_size"]["x"] == {"value": pytest.approx(0.83, rel=1e-6), "unit": "A"}
    assert header["mode"] == 2


def _check_mrcs(datafile: DataFile) -> None:
    header = datafile.header
    assert (header["nx"], header["ny"], header["nz"]) == (240, 200, 5)
    assert header["voxel_size"]["x"]["value"] == pytest.approx(1.1, rel=1e-6)
    assert header["dtype"] == "int16"


def _check_tiff(datafile: DataFile) -> None:
    header = datafile.header
    assert (header["width"], header["height"], header["pages"]) == (512, 512, 12)
    assert header["software"] == "EPU 3.6 (demo)"


def _check_eer(datafile: DataFile) -> None:
    header = datafile.header
    assert header["metadata"]["numberOfFrames"]["value"] == 40
    assert header["frames"] == 40
    assert header["acquisition"]["exposure_time"] == {"value": 2.5, "unit": "s"}
    assert header["acquisition"]["detector"] == "Falcon 4i"


def _check_mdoc(datafile: DataFile) -> None:
    header = datafile.header
    assert header["sidecar"] == "mdoc"
    assert header["tilt_count"] == 11
    assert header["voltage"] == 300.0
    assert header["sections"][0]["tilt_angle"] == -30.0


def _check_epu(datafile: DataFile) -> None:
    header = datafile.header
    assert header["sidecar"] == "epu"
    assert header["voltage"] == 300.0
    assert header["detector_name"] == "Falcon 4i"
    assert header["pixel_size"] == pytest.approx(0.415015279087161)


FORMAT_CASES: dict[str, tuple[str, str, bool, Callable[[DataFile], None]]] = {
    # case: (path, expected format, has a thumbnail, header checks)
    "mrc_micrograph": ("Micrographs/FoilHole_1_Data_1.mrc", "mrc", True, _check_mrc),
    "mrcs_movie": ("Movies/FoilHole_1_Data_1_fractions.mrcs", "mrcs", True, _check_mrcs),
    "tiff_movie": ("Movies/FoilHole_1_Data_2_fractions.tiff", "tiff", True, _check_tiff),
    "eer_movie": ("Movies/FoilHole_1_Data_3_EER.eer", "eer", True, _check_eer),
    "mdoc": ("TS_01/TS_01.mrc.mdoc", "mdoc", False, _check_mdoc),
    "epu_xml": (
        "Images-Disc1/GridSquare_1/Data/FoilHole_1_Data_1.xml",
        "epu_xml",
        False,
        _check_epu,
    ),
}


def _content(case: str, tmp: Path) -> bytes:
    if case == "mrc_micrograph":
        return micrograph()
    if case == "mrcs_movie":
        return movie_stack(tmp)
    if case == "tiff_movie":
        return demo.tiff_movie_bytes()
    if case == "eer_movie":
        return demo.eer_like_bytes()
    if case == "mdoc":
        return demo.mdoc_text("TS_01.mrc")
    return epu_sample_files()[0].read_bytes()


@pytest.mark.parametrize("case", list(FORMAT_CASES))
def test_each_format_becomes_ready_with_checksum_header_and_thumbnail(
    world, backend, case, tmp_path
):
    path, expected_format, has_thumbnail, check = FORMAT_CASES[case]
    data = _content(case, tmp_path)
    session = new_session(world, new_dataset(world))
    datafile = store(world, session, path, data)

    assert datafile_process(datafile.pk) == Outcome.READY

    datafile.refresh_from_db()
    assert (datafile.state, datafile.error) == (FileState.READY, "")
    assert datafile.format == expected_format
    assert datafile.checksum_sha256 == sha256(data)
    assert datafile.checksum_md5 == ""  # only when the setting asks for it
    assert datafile.checksum_verified_at is not None
    assert datafile.size == len(data)
    assert datafile.header["file_size"] == len(data)
    check(datafile)
    if has_thumbnail:
        assert datafile.thumbnail_key.endswith(f"/thumbnails/{datafile.pk}.png")
        width, height = png_size(datafile.thumbnail_key)
        assert 0 < max(width, height) <= 512
    else:
        assert datafile.thumbnail_key == ""
    assert object_sha256(datafile.storage_key) == sha256(data)  # stored bytes untouched


def test_large_micrograph_thumbnail_is_scaled_to_512_keeping_the_aspect(world, backend):
    data = micrograph(shape=(1200, 1600))
    datafile = store(world, new_session(world, new_dataset(world)), "big.mrc", data)
    assert datafile_process(datafile.pk) == Outcome.READY
    datafile.refresh_from_db()
    assert png_size(datafile.thumbnail_key) == (512, 384)


def test_md5_is_computed_only_when_the_setting_asks(world, backend, settings):
    data = micrograph(shape=(64, 64))
    session = new_session(world, new_dataset(world))
    without = store(world, session, "a.mrc", data)
    settings.OPENEM_CHECKSUM_MD5 = True
    with_md5 = store(world, session, "b.mrc", data)

    assert datafile_process(with_md5.pk) == Outcome.READY
    settings.OPENEM_CHECKSUM_MD5 = False
    assert datafile_process(without.pk) == Outcome.READY

    with_md5.refresh_from_db()
    without.refresh_from_db()
    assert with_md5.checksum_md5 == hashlib.md5(data, usedforsecurity=False).hexdigest()
    assert with_md5.checksum_sha256 == without.checksum_sha256 == sha256(data)
    assert without.checksum_md5 == ""


def test_a_second_delivery_is_skipped_and_changes_nothing(world, backend):
    data = micrograph(shape=(64, 64))
    datafile = store(world, new_session(world, new_dataset(world)), "a.mrc", data)
    assert datafile_process(datafile.pk) == Outcome.READY
    before = DataFile.objects.values().get(pk=datafile.pk)
    thumbnail_before = object_sha256(before["thumbnail_key"])

    assert datafile_process(datafile.pk) == Outcome.SKIPPED

    assert DataFile.objects.values().get(pk=datafile.pk) == before
    assert object_sha256(before["thumbnail_key"]) == thumbnail_before


@pytest.mark.skipif(
    django_settings.DATABASES["default"]["ENGINE"] != "django.db.backends.postgresql",
    reason="synchronous_commit is a PostgreSQL setting (this run uses SQLite)",
)
def test_file_claims_and_outcomes_skip_the_disk_flush_but_dataset_settling_does_not(world, backend):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    dataset = new_dataset(world)
    datafile = store(world, new_session(world, dataset), "a.mrc", micrograph((64, 64)))

    with CaptureQueriesContext(connection) as captured:
        assert datafile_process(datafile.pk) == Outcome.READY

    statements = [q["sql"] for q in captured.captured_queries]
    writes = [
        i for i, sql in enumerate(statements) if sql.startswith('UPDATE "repository_datafile"')
    ]
    assert len(writes) == 2  # the claim and the outcome
    asynchronous = statements.index("SET synchronous_commit TO OFF")
    durable_again = statements.index("RESET synchronous_commit")
    assert asynchronous < writes[0] < writes[1] < durable_again
    settle = next(
        i for i, sql in enumerate(statements) if sql.startswith('UPDATE "repository_dataset"')
    )
    assert durable_again < settle
    assert Dataset.objects.get(pk=dataset.pk).status == DatasetStatus.READY


def test_a_file_claimed_by_another_worker_is_skipped(world, backend):
    datafile = store(world, new_session(world, new_dataset(world)), "a.mrc", micrograph((64, 64)))
    assert datafile_claim(datafile.pk) is True  # the other worker
    assert datafile_claim(datafile.pk) is False

    assert datafile_process(datafile.pk) == Outcome.SKIPPED
    datafile.refresh_from_db()
    assert datafile.state == FileState.PROCESSING
    assert datafile.checksum_sha256 == ""


def test_only_stored_files_can_be_claimed(world, backend):
    datafile = store(world, new_session(world, new_dataset(world)), "a.mrc", micrograph((64, 64)))
    for state in (FileState.REGISTERED, FileState.READY, FileState.FAILED):
        DataFile.objects.filter(pk=datafile.pk).update(state=state)
        assert datafile_process(datafile.pk) == Outcome.SKIPPED
        assert DataFile.objects.get(pk=datafile.pk).state == state


def test_declared_checksum_that_does_not_match_fails_the_file(world, backend):
    data = micrograph(shape=(64, 64))
    declared = sha256(b"what the uploader had on disk")
    datafile = store(world, new_session(world, new_dataset(world)), "a.mrc", data, sha256=declared)

    assert datafile_process(datafile.pk) == Outcome.FAILED

    datafile.refresh_from_db()
    assert datafile.state == FileState.FAILED
    assert datafile.error == (
        f"checksum mismatch: the uploader declared SHA-256 {declared}, "
        f"the stored file has {sha256(data)}"
    )
    assert datafile.checksum_sha256 == sha256(data)
    assert object_sha256(datafile.storage_key) == sha256(data)


def test_declared_checksum_that_matches_is_accepted(world, backend):
    data = micrograph(shape=(64, 64))
    datafile = store(
        world, new_session(world, new_dataset(world)), "a.mrc", data, sha256=sha256(data)
    )
    assert datafile_process(datafile.pk) == Outcome.READY


# ---------------------------------------------------------------------------------------------
# The dataset settles once every file has ended


def test_dataset_settles_with_aggregated_metadata_only_when_all_files_have_ended(world, backend):
    epu_files = epu_sample_files()
    dataset = new_dataset(world, technique="spa")
    session = new_session(world, dataset)
    files = [
        store(world, session, f"Images-Disc1/Data/{path.name}", path.read_bytes())
        for path in epu_files
    ]
    files.append(store(world, session, "Micrographs/mic.mrc", micrograph((64, 64))))
    dataset.refresh_from_db()
    assert dataset.status == DatasetStatus.INGESTING

    for datafile in files[:-1]:
        assert datafile_process(datafile.pk) == Outcome.READY
        dataset.refresh_from_db()
        assert dataset.status == DatasetStatus.INGESTING
        assert "_derived" not in dataset.metadata
    progress = dataset_ingest_progress(dataset)
    assert (progress.files_total, progress.files_done, progress.files_pending) == (3, 2, 1)
    assert not progress.settled

    assert datafile_process(files[-1].pk) == Outcome.READY

    dataset.refresh_from_db()
    assert dataset.status == DatasetStatus.READY
    metadata = dataset.metadata
    assert metadata["_derived"]["acquisition"]["technique"] == "spa"
    assert metadata["instrument"]["acceleration_voltage"]["value"] == 300.0
    assert metadata["acquisition"]["pixel_size"]["value"] == pytest.approx(0.415015279087161)
    assert metadata["acquisition"]["detectors"] == [{"name": "Falcon 4i"}]
    # Two movies, defocus range over both.
    defocus = metadata["acquisition"]["calibrated_defocus"]
    assert defocus["minimal"]["value"] < defocus["maximal"]["value"]
    progress = dataset_ingest_progress(dataset)
    assert progress.settled and progress.files_done == 3


def test_a_failed_file_does_not_hold_back_the_dataset(world, backend):
    dataset = new_dataset(world, technique="cellular_tomo")
    session = new_session(world, dataset)
    good = store(world, session, "TS_01/TS_01.mrc.mdoc", demo.mdoc_text("TS_01.mrc"))
    bad = store(world, session, "TS_01/broken.mrc", b"\0" * 100)

    assert datafile_process(bad.pk) == Outcome.FAILED
    assert Dataset.objects.get(pk=dataset.pk).status == DatasetStatus.INGESTING
    assert datafile_process(good.pk) == Outcome.READY

    dataset.refresh_from_db()
    assert dataset.status == DatasetStatus.READY
    assert dataset.metadata["acquisition"]["tilt_angle"]["increment"]["value"] == 6.0
    assert dataset.metadata["acquisition"]["technique"] == "cellular_tomo"


def test_values_a_person_entered_win_over_derived_ones(world, backend):
    dataset = new_dataset(world, technique="cellular_tomo")
    Dataset.objects.filter(pk=dataset.pk).update(
        metadata={"instrument": {"acceleration_voltage": {"value": 200.0, "unit": "kV"}}}
    )
    datafile = store(world, new_session(world, dataset), "TS.mdoc", demo.mdoc_text("TS.mrc"))
    assert datafile_process(datafile.pk) == Outcome.READY
    dataset.refresh_from_db()
    assert dataset.metadata["instrument"]["acceleration_voltage"]["value"] == 200.0
    assert dataset.metadata["_derived"]["instrument"]["acceleration_voltage"]["value"] == 300.0
    assert dataset.metadata["acquisition"]["pixel_size"]["value"] == 2.68
    # The entered value gets its SI value like a derived one, so range searches find it.
    voltage = dataset.metadata["instrument"]["acceleration_voltage"]
    assert (voltage["valueSI"], voltage["unitSI"]) == (200_000.0, "V")
    assert Dataset.objects.filter(
        pk=dataset.pk, metadata__instrument__acceleration_voltage__valueSI__lt=250_000
    ).exists()


def test_progress_counts_files_and_bytes_per_session(world, backend):
    dataset = new_dataset(world)
    first, second = new_session(world, dataset), new_session(world, dataset)
    good = store(world, first, "a.mrc", micrograph((64, 64)))
    bad = store(world, first, "b.mrc", b"x" * 3000)
    other = store(world, second, "c.mrc", micrograph((32, 32)))
    datafile_process(good.pk)
    datafile_process(bad.pk)

    progress = upload_session_progress(first)
    assert (progress.files_total, progress.files_done, progress.files_failed) == (2, 1, 1)
    assert (progress.bytes_total, progress.bytes_done, progress.bytes_failed) == (
        good.size + 3000,
        good.size,
        3000,
    )
    assert progress.settled and progress.fraction_settled == 1.0
    assert upload_session_progress(second).files_by_state[FileState.STORED] == 1
    whole = dataset_ingest_progress(dataset)
    assert (whole.files_total, whole.files_pending, whole.bytes_pending) == (3, 1, other.size)
    assert whole.as_dict()["settled"] is False


# ---------------------------------------------------------------------------------------------
# Bad input: a clear per-file state, the neighbours proceed, the bytes stay as they were


@pytest.fixture(scope="module")
def bad_corpus(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[str, bytes, str, str]]:
    """The format readers' corpus of bad files (tests/support/formats.py), plus the
    sidecar cases: hostile and malformed XML, a non-UTF-8 mdoc."""
    corpus = bad_files(tmp_path_factory.mktemp("bad"))
    latin1 = demo.mdoc_text("TS.mrc").replace(
        b"DataMode = 1", b"DataMode = 1\nSubFramePath = D:\\Daten\\Gr\xfcn\\frames.tif"
    )
    corpus.update(
        {
            "epu_billion_laughs": ("FoilHole_1_Data_1.xml", BILLION_LAUGHS, "epu_xml", "DTD"),
            "epu_external_entity": ("FoilHole_1_Data_2.xml", EXTERNAL_ENTITY, "epu_xml", "DTD"),
            "epu_external_dtd": ("FoilHole_1_Data_4.xml", EXTERNAL_DTD, "epu_xml", "DTD"),
            "epu_malformed": (
                "FoilHole_1_Data_3.xml",
                b"<MicroscopeImage><name>x</nam></MicroscopeImage>",
                "epu_xml",
                "malformed XML: mismatched tag",
            ),
            "mdoc_not_utf8": ("TS_01.mrc.mdoc", latin1, "mdoc", "not valid UTF-8"),
        }
    )
    return corpus


SIDECAR_BAD_CASES = [
    "epu_billion_laughs",
    "epu_external_entity",
    "epu_external_dtd",
    "epu_malformed",
    "mdoc_not_utf8",
]
#: Files that stay readable, with a warning saying what was odd.
WARNING_ONLY = {"mdoc_not_utf8"}


@pytest.mark.parametrize(
    "case",
    BAD_FILE_CASES + SIDECAR_BAD_CASES,
)
def test_bad_file_fails_clearly_while_the_session_proceeds(world, backend, bad_corpus, case):
    name, raw, expected_format, expected_message = bad_corpus[case]
    dataset = new_dataset(world)
    session = new_session(world, dataset)
    before_good = store(world, session, "Micrographs/good_1.mrc", micrograph((64, 64)))
    bad = store(world, session, f"Suspect/{name}", raw)
    after_good = store(world, session, "Micrographs/good_2.mrc", micrograph((48, 48)))
    stored_hash = object_sha256(bad.storage_key)
    assert stored_hash == sha256(raw)

    outcomes = [datafile_process(f.pk) for f in (before_good, bad, after_good)]

    bad.refresh_from_db()
    assert bad.format == expected_format
    assert bad.checksum_sha256 == sha256(raw)  # still checksummed
    if case in WARNING_ONLY:
        assert outcomes[1] == Outcome.READY
        assert any(expected_message in w for w in bad.header["_warnings"]), bad.header
    else:
        assert outcomes[1] == Outcome.FAILED
        assert bad.state == FileState.FAILED
        assert expected_message in bad.error, bad.error
        assert "Traceback" not in bad.error
    assert outcomes[0] == outcomes[2] == Outcome.READY
    assert object_sha256(bad.storage_key) == stored_hash  # never modified
    dataset.refresh_from_db()
    assert dataset.status == DatasetStatus.READY


def test_every_bad_corpus_case_goes_through_the_pipeline(bad_corpus):
    assert set(bad_corpus) == set(BAD_FILE_CASES) | set(SIDECAR_BAD_CASES)


def test_a_file_deleted_from_storage_before_processing_fails_as_missing(world, backend):
    dataset = new_dataset(world)
    session = new_session(world, dataset)
    gone = store(world, session, "gone.mrc", micrograph((64, 64)))
    kept = store(world, session, "kept.mrc", micrograph((64, 64)))
    storage.get_store().delete(gone.storage_key)

    assert datafile_process(gone.pk) == Outcome.FAILED
    assert datafile_process(kept.pk) == Outcome.READY

    gone.refresh_from_db()
    assert gone.state == FileState.FAILED
    assert "missing from storage" in gone.error
    dataset.refresh_from_db()
    assert dataset.status == DatasetStatus.READY


def test_a_file_deleted_while_it_is_read_fails_as_missing(world, backend, monkeypatch):
    """Deleted after the size check, while the checksum streams it: still a clear failure."""
    datafile = store(world, new_session(world, new_dataset(world)), "a.mrc", micrograph((64, 64)))
    real_store = storage.get_store()
    original_size = real_store.size

    def size_then_delete(key: str) -> int:
        size = original_size(key)
        if key == datafile.storage_key:
            real_store.delete(key)
        return size

    monkeypatch.setattr(real_store, "size", size_then_delete)
    assert datafile_process(datafile.pk) == Outcome.FAILED
    datafile.refresh_from_db()
    assert "missing from storage" in datafile.error


@pytest.mark.parametrize(
    ("shape", "change"),
    [((64, 64), +1000), ((64, 64), -1000), ((700, 600), +1000), ((700, 600), -1000)],
    ids=["small-grew", "small-shrank", "large-grew", "large-shrank"],
)
def test_a_file_that_changes_while_it_is_read_fails(world, backend, monkeypatch, shape, change):
    """The size seen first and the bytes read differ (an upload still writing, say): the file
    fails with both sizes, whether it is read whole (small) or streamed (large)."""
    data = micrograph(shape)
    datafile = store(world, new_session(world, new_dataset(world)), "a.mrc", data)
    real_store = storage.get_store()
    original_size = real_store.size

    def size_before_the_change(key: str) -> int:
        return original_size(key) - change  # the object then grows or shrinks by ``change``

    monkeypatch.setattr(real_store, "size", size_before_the_change)
    assert datafile_process(datafile.pk) == Outcome.FAILED
    datafile.refresh_from_db()
    assert datafile.error.startswith("the file changed while it was read")
    assert str(len(data) - change) in datafile.error


# ---------------------------------------------------------------------------------------------
# Transient storage errors: the file goes back to ``stored`` for the retried task


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])  # closed again when the block ends


def test_unreachable_s3_is_transient_after_retries_and_gives_the_file_back(
    world, s3_storage, settings, monkeypatch
):
    datafile = store(world, new_session(world, new_dataset(world)), "a.mrc", micrograph((64, 64)))
    delays: list[float] = []
    # Record the backoff instead of waiting it out (the storage module's own clock only).
    monkeypatch.setattr(storage.s3, "time", SimpleNamespace(sleep=delays.append))
    good_config = settings.OPENEM_STORAGE
    settings.OPENEM_STORAGE = {
        **good_config,
        "endpoint_url": f"http://127.0.0.1:{_closed_port()}",
    }
    storage.reset_store_cache()

    with pytest.raises(TransientStorageError, match="storage unreachable"):
        datafile_process(datafile.pk)

    assert delays == [0.2, 0.4, 0.8, 1.6]  # five attempts with exponential backoff
    datafile.refresh_from_db()
    assert datafile.state == FileState.STORED  # claimable by the retried task
    assert datafile.error == ""

    settings.OPENEM_STORAGE = good_config  # the storage is back
    storage.reset_store_cache()
    assert datafile_process(datafile.pk) == Outcome.READY


def test_the_task_retries_transient_errors_only():
    from django.db import InterfaceError, OperationalError

    from ingest.tasks import process_file

    # a storage hiccup or a broken database connection; never a bad file or a lasting error
    assert process_file.autoretry_for == (TransientStorageError, OperationalError, InterfaceError)
    assert process_file.acks_late is True
    assert 0 < process_file.max_retries <= 10
    assert process_file.soft_time_limit < process_file.time_limit
