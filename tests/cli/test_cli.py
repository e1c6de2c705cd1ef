"""The ``openem`` command line against a live portal (pytest-django's ``live_server``) and the S3
server (SeaweedFS over HTTP): upload with resume, download with verification and resume, search,
errors and configuration."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path
from typing import Any

import pytest
from django.db import connection

from ingest.models import UploadSession, UploadSessionState
from ingest.uploads import upload_multipart_list_parts
from openem_client import Client, Throttled, TransferReporter, upload_directory
from openem_client import cli as openem_cli
from openem_client import upload as client_upload
from openem_client.files import part_crc32
from repository.models import DataFile, Dataset, DatasetStatus, FileState, Visibility
from tests.services import composite_crc32, stored_crc32
from tests.support.cli import MiB, local_checksums, sha256_of, stored_sha256, write_file


def part_crc32s(path: Path, part_size: int = 5 * MiB) -> list[str]:
    data = path.read_bytes()
    return [part_crc32(data[i : i + part_size]) for i in range(0, max(len(data), 1), part_size)]


@pytest.fixture
def completions(monkeypatch: pytest.MonkeyPatch) -> list[list[dict[str, Any]]]:
    """The parts the client sends with each multipart completion (the real request is made)."""
    sent: list[list[dict[str, Any]]] = []
    complete = Client.multipart_complete

    def recording(self: Client, url: str, upload_id: str, parts: Any = None, **kwargs: Any) -> Any:
        sent.append(list(parts or []))
        return complete(self, url, upload_id, parts, **kwargs)

    monkeypatch.setattr(Client, "multipart_complete", recording)
    return sent


# ---------------------------------------------------------------------------------------------
# Upload


def test_upload_sends_a_folder_to_s3_and_waits_for_ingest(
    cli, token_for, dataset, session_folder, s3_storage, small_parts, eager, completions
):
    token = token_for("staff")

    result = cli(
        "upload", str(session_folder), "--dataset", dataset.pid, "--wait", "--json", token=token
    )  # fmt: skip

    assert result.code == 0, result.err
    report = result.json()
    upload, ingest = report["upload"], report["ingest"]
    assert (upload["files_local"], upload["files_registered"], upload["files_uploaded"]) == (
        3,
        3,
        3,
    )
    assert upload["parts_sent"] == 3 + 1 + 1  # the big file in three 5 MiB parts
    assert upload["parts_skipped"] == 0
    assert upload["session_completed"] is True
    assert (ingest["settled"], ingest["files_total"], ingest["files_done"]) == (True, 3, 3)
    expected = local_checksums(session_folder)
    files = {f.path: f for f in DataFile.objects.filter(dataset=dataset)}
    assert set(files) == set(expected)
    for path, datafile in files.items():
        assert datafile.state == FileState.READY, (path, datafile.error)
        assert datafile.checksum_sha256 == expected[path], path
        assert datafile.expected_sha256 == expected[path], path  # sent at registration
        assert stored_sha256(datafile) == expected[path], path
        # Every part went with its CRC32: S3's object checksum is made of the same values.
        crc32s = part_crc32s(session_folder / path)
        assert stored_crc32(datafile.storage_key) == composite_crc32(crc32s), path
    assert sorted([p["checksum_crc32"] for p in parts] for parts in completions) == sorted(
        part_crc32s(session_folder / path) for path in files
    )
    session = UploadSession.objects.get(pk=upload["session"])
    assert session.state == UploadSessionState.COMPLETED

    # Again: everything is there already, nothing is sent.
    again = cli("upload", str(session_folder), "--dataset", dataset.pid, "--json", token=token)
    assert again.code == 0, again.err
    assert again.json()["upload"]["files_skipped"] == 3
    assert again.json()["upload"]["parts_sent"] == 0

    # A new file in the folder: only it is sent, in a new session.
    write_file(session_folder / "Images-Disc1" / "empty.dat", 0)
    with_empty = cli(
        "upload", str(session_folder), "--dataset", dataset.pid, "--wait", token=token
    )  # fmt: skip
    assert with_empty.code == openem_cli.EXIT_INGEST  # ingest refuses empty files
    assert "Uploaded 1 files (0 B)" in with_empty.out
    assert "failed: Images-Disc1/empty.dat: empty file (0 bytes)" in with_empty.out
    empty = DataFile.objects.get(path="Images-Disc1/empty.dat")
    assert (empty.state, empty.upload_session_id != session.pk) == (FileState.FAILED, True)


def test_an_interrupted_upload_resumes_without_sending_parts_again(
    cli, token_for, dataset, tmp_path, s3_storage, small_parts, eager, completions
):
    folder = tmp_path / "session"
    big = write_file(folder / "a_big.bin", 16 * MiB, seed=5)  # parts of 5, 5, 5 and 1 MiB
    write_file(folder / "b_small.txt", 1000, seed=6)
    token = token_for("staff")

    stopped = cli(
        "upload", str(folder), "--dataset", dataset.pid, "--parallel", "1",
        "--stop-after-parts", "2", "--json", token=token,
    )  # fmt: skip

    assert stopped.code == openem_cli.EXIT_INTERRUPTED
    assert stopped.json()["stopped"] is True
    assert "run the same command again to resume" in stopped.err
    datafile = DataFile.objects.get(dataset=dataset, path="a_big.bin")
    assert datafile.state == FileState.REGISTERED
    on_server = upload_multipart_list_parts(
        actor=dataset.owner, datafile=datafile, upload_id=datafile.upload_id
    )
    assert [p["PartNumber"] for p in on_server] == [1, 2]
    session = UploadSession.objects.get(dataset=dataset)
    assert session.state == UploadSessionState.OPEN

    resumed = cli("upload", str(folder), "--dataset", dataset.pid, "--json", token=token)

    assert resumed.code == 0, resumed.err
    upload = resumed.json()["upload"]
    assert upload["session"] == session.pk  # the same session goes on
    assert upload["files_registered"] == 0
    assert upload["parts_skipped"] == 2  # parts 1 and 2 were not sent again
    assert upload["parts_sent"] == 2 + 1  # parts 3 and 4, and the small file
    assert upload["bytes_uploaded"] == 6 * MiB + 1000
    datafile.refresh_from_db()
    assert datafile.checksum_sha256 == sha256_of(big)
    # Registered by the first run before it was hashed, declared by the second on completion.
    assert datafile.expected_sha256 == sha256_of(big)
    assert stored_sha256(datafile) == sha256_of(big)
    assert stored_crc32(datafile.storage_key) == composite_crc32(part_crc32s(big))
    # The parts sent before the interruption are completed with the CRC32s S3 lists for them
    # (SeaweedFS lists none: the portal keeps the CRC32s it signed each part with).
    [big_parts] = [parts for parts in completions if len(parts) == 4]
    assert [p.get("checksum_crc32") for p in big_parts[2:]] == part_crc32s(big)[2:]


class StageRecorder(TransferReporter):
    """The stages a transfer went through, and the units counted in each."""

    def __init__(self) -> None:
        self.stages: list[tuple[str, int]] = []
        self.counted: dict[str, int] = {}

    def stage(self, name: str, total: int, unit: str = "B", files: int = 0) -> None:
        self.stages.append((name, total))
        self.counted.setdefault(name, 0)

    def advance(self, amount: int) -> None:
        name = self.stages[-1][0]
        self.counted[name] += amount


@pytest.mark.parametrize("storage_fixture", ["s3_storage", "local_storage"])
def test_files_upload_at_once_and_declare_their_checksums_as_they_complete(
    request, live_server, token_for, dataset, session_folder, small_parts, monkeypatch,
    storage_fixture, completions,
):  # fmt: skip
    request.getfixturevalue(storage_fixture)
    monkeypatch.setattr(client_upload, "REGISTER_BATCH", 2)
    registered: list[list[dict[str, Any]]] = []
    register = Client.register_files

    def recording(self: Client, session_id: int, files: list[dict[str, Any]]) -> Any:
        registered.append(files)
        return register(self, session_id, files)

    monkeypatch.setattr(Client, "register_files", recording)
    # One request at a time on SQLite (the live server's threads share its connection).
    parallel = 1 if connection.vendor == "sqlite" else 2
    reporter = StageRecorder()
    total = sum(f.stat().st_size for f in session_folder.rglob("*") if f.is_file())

    with Client(live_server.url, token_for("staff")) as client:
        report = upload_directory(
            client, session_folder, pid=dataset.pid, reporter=reporter, parallel=parallel
        )

    assert (report.files_registered, report.files_uploaded) == (3, 3)
    # Registered in batches without waiting for the hashing, which goes on while they upload.
    assert [len(batch) for batch in registered] == [2, 1]
    assert all("sha256" not in entry for batch in registered for entry in batch)
    assert reporter.stages == [("upload", total)]
    assert reporter.counted["upload"] == total
    # Each file's SHA-256 came with its completion: multipart, or its last chunk.
    if storage_fixture == "s3_storage":
        assert len(completions) == 3
    for datafile in DataFile.objects.filter(dataset=dataset):
        assert datafile.expected_sha256 == sha256_of(session_folder / datafile.path)
        assert datafile.state != FileState.REGISTERED

    # Again: everything is stored, so nothing is hashed (the hashing begun while the server
    # was asked stops) and nothing is sent.
    again = StageRecorder()
    with Client(live_server.url, token_for("staff")) as client:
        repeat = upload_directory(
            client, session_folder, pid=dataset.pid, reporter=again, parallel=parallel
        )
    assert (repeat.files_skipped, repeat.parts_sent) == (3, 0)
    assert again.stages == [("upload", 0)]


def test_files_in_flight_are_a_window_not_the_whole_list(
    live_server, token_for, dataset, tmp_path, local_storage, monkeypatch
):
    """With a million files, the client must not register them all and queue a million
    uploads at once: registration keeps pace with the uploads, a window ahead of them."""
    if connection.vendor == "sqlite":
        pytest.skip(
            "registration runs beside the uploads: the live server's in-memory SQLite database "
            "locks under two concurrent writers (runs on PostgreSQL, as in CI)"
        )
    folder = tmp_path / "many"
    for n in range(60):
        write_file(folder / f"Movies/m_{n:03d}.eer", 100 + n, seed=n)
    monkeypatch.setattr(client_upload, "REGISTER_BATCH", 20)
    monkeypatch.setattr(client_upload, "FILES_IN_FLIGHT_PER_THREAD", 2)
    parallel = 2
    window = parallel * 2
    done_at_registration: list[int] = []
    register = Client.register_files

    def recording(self: Client, session_id: int, files: list[dict[str, Any]]) -> Any:
        done_at_registration.append(
            DataFile.objects.filter(dataset=dataset).exclude(state=FileState.REGISTERED).count()
        )
        return register(self, session_id, files)

    monkeypatch.setattr(Client, "register_files", recording)
    with Client(live_server.url, token_for("staff")) as client:
        report = upload_directory(client, folder, pid=dataset.pid, parallel=parallel)

    assert (report.files_registered, report.files_uploaded, report.problems) == (60, 60, [])
    assert len(done_at_registration) == 3
    # Before the next batch is registered, all but a window of the last one were sent.
    assert done_at_registration[0] == 0
    assert done_at_registration[1] >= 20 - window
    assert done_at_registration[2] >= 40 - window


def test_local_storage_uploads_in_chunks_and_resumes_at_the_offset(
    cli, token_for, dataset, tmp_path, local_storage, small_parts, eager
):
    folder = tmp_path / "session"
    big = write_file(folder / "movie.bin", 11 * MiB, seed=7)  # chunks of 5, 5 and 1 MiB
    write_file(folder / "empty.txt", 0)
    token = token_for("staff")

    # The empty file's one (empty) chunk, then the first chunk of the movie.
    stopped = cli(
        "upload", str(folder), "--dataset", dataset.pid, "--parallel", "1",
        "--stop-after-parts", "2", token=token,
    )  # fmt: skip
    assert stopped.code == openem_cli.EXIT_INTERRUPTED, stopped.err

    resumed = cli("upload", str(folder), "--dataset", dataset.pid, "--json", token=token)

    assert resumed.code == 0, resumed.err
    upload = resumed.json()["upload"]
    assert upload["storage"] == "local"
    assert upload["parts_skipped"] == 1
    assert upload["bytes_uploaded"] == 6 * MiB
    datafile = DataFile.objects.get(dataset=dataset, path="movie.bin")
    assert datafile.checksum_sha256 == sha256_of(big)
    assert (local_storage / datafile.storage_key).read_bytes() == big.read_bytes()
    assert DataFile.objects.get(dataset=dataset, path="empty.txt").state != FileState.REGISTERED


def test_upload_new_creates_the_dataset_once_even_when_resumed(
    cli, token_for, world, builtin_schemas, session_folder, s3_storage, small_parts, eager
):
    token = token_for("staff")
    args = [
        "upload", str(session_folder), "--new", "--title", "Krios session 1",
        "--facility", "basel", "--technique", "spa", "--keyword", "apoferritin", "--json",
    ]  # fmt: skip

    stopped = cli(*args, "--stop-after-parts", "1", "--parallel", "1", token=token)
    assert stopped.code == openem_cli.EXIT_INTERRUPTED, stopped.err
    [dataset] = Dataset.objects.all()
    assert "Created dataset" in stopped.err
    assert (dataset.title, dataset.facility, dataset.owner) == (
        "Krios session 1",
        world.facility,
        world["staff"],
    )

    resumed = cli(*args, token=token)

    assert resumed.code == 0, resumed.err
    assert f"Resuming the upload of this folder into {dataset.pid}" in resumed.err
    assert Dataset.objects.count() == 1
    assert resumed.json()["upload"]["dataset"] == dataset.pid
    assert DataFile.objects.filter(dataset=dataset).count() == 3
    state = json.loads((Path(os.environ["XDG_STATE_HOME"]) / "openem" / "uploads.json").read_text())
    assert state == {}  # forgotten once complete


def test_upload_new_needs_title_facility_and_technique(cli, token_for, world, session_folder):
    result = cli("upload", str(session_folder), "--new", "--title", "x", token=token_for("staff"))

    assert result.code == openem_cli.EXIT_USAGE
    assert "--new needs --facility, --technique" in result.err


def test_refused_files_are_listed_with_the_servers_reasons(
    cli, token_for, dataset, tmp_path, local_storage
):
    folder = tmp_path / "session"
    write_file(folder / "good.txt", 10)
    write_file(folder / "bad\x01name.txt", 10)

    result = cli("upload", str(folder), "--dataset", dataset.pid, token=token_for("staff"))

    assert result.code == openem_cli.EXIT_REFUSED
    assert "the server refused the request: 1 of 2 files cannot be registered" in result.err
    assert "contains control characters" in result.err
    assert not DataFile.objects.exists()


def test_people_who_are_not_staff_cannot_upload(
    cli, token_for, dataset, session_folder, s3_storage
):
    result = cli("upload", str(session_folder), "--dataset", dataset.pid, token=token_for("member"))

    assert result.code == openem_cli.EXIT_AUTH
    assert "not allowed: you are not staff of Cryo-EM Facility Basel" in result.err
    assert not DataFile.objects.exists()


def test_status_reports_the_ingest_of_a_session(
    cli, token_for, dataset, session_folder, s3_storage, small_parts, eager
):
    token = token_for("staff")
    upload = cli("upload", str(session_folder), "--dataset", dataset.pid, "--json", token=token)
    session = upload.json()["upload"]["session"]

    as_json = cli("status", str(session), "--json", token=token)
    as_text = cli("status", str(session), "--wait", "--progress", token=token)

    assert as_json.code == 0, as_json.err
    status = as_json.json()
    assert (status["session"], status["dataset"], status["files_total"]) == (
        session,
        dataset.pid,
        3,
    )
    assert status["settled"] is True
    assert f"Upload session {session} of {dataset.pid} (completed)" in as_text.out
    missing = cli("status", "999999", token=token)
    assert missing.code == openem_cli.EXIT_NOT_FOUND
    assert "no upload session 999999" in missing.err


# ---------------------------------------------------------------------------------------------
# Download


@pytest.fixture
def uploaded(cli, token_for, dataset, session_folder, s3_storage, small_parts, eager) -> Dataset:
    """The session folder, uploaded to S3 and ingested."""
    result = cli("upload", str(session_folder), "--dataset", dataset.pid, token=token_for("staff"))
    assert result.code == 0, result.err
    assert not DataFile.objects.exclude(checksum_sha256="").filter(checksum_sha256="").exists()
    return dataset


@pytest.mark.parametrize("storage_fixture", ["s3_storage", "local_storage"])
def test_download_fetches_verifies_and_skips_what_is_there(
    request, storage_fixture, cli, token_for, dataset, session_folder, tmp_path, small_parts, eager
):
    request.getfixturevalue(storage_fixture)
    token = token_for("staff")
    assert cli("upload", str(session_folder), "--dataset", dataset.pid, token=token).code == 0
    destination = tmp_path / "download"

    result = cli("download", dataset.pid, "--to", str(destination), "--json", token=token)

    assert result.code == 0, result.err
    report = result.json()
    assert (report["files"], report["downloaded_files"], report["verified_files"]) == (3, 3, 3)
    assert report["ok"] is True
    assert local_checksums(destination) == local_checksums(session_folder)

    again = cli("download", dataset.pid, "--to", str(destination), "--json", token=token)
    assert again.code == 0
    assert (again.json()["skipped_files"], again.json()["downloaded_bytes"]) == (3, 0)


def test_download_include_resume_and_a_corrupt_partial_file(
    cli, token_for, uploaded, session_folder, tmp_path, s3_storage
):
    token = token_for("curator")
    destination = tmp_path / "download"

    only_text = cli(
        "download", uploaded.pid, "--include", "*.txt", "--include", "*/frames.dat",
        "--to", str(destination), "--json", token=token,
    )  # fmt: skip
    assert only_text.code == 0, only_text.err
    assert sorted(local_checksums(destination)) == [
        "Images-Disc1/GridSquare_1/frames.dat",
        "notes.txt",
    ]

    # A partial download, continued with a Range request from where it stopped.
    original = (session_folder / "Maps" / "big.bin").read_bytes()
    target = destination / "Maps" / "big.bin"
    target.parent.mkdir(parents=True)
    Path(f"{target}.part").write_bytes(original[: 3 * MiB])
    resumed = cli(
        "download", uploaded.pid, "--include", "Maps/*", "--to", str(destination), "--json",
        token=token,
    )  # fmt: skip
    assert resumed.code == 0, resumed.err
    assert resumed.json()["resumed_files"] == 1
    assert resumed.json()["downloaded_bytes"] == len(original) - 3 * MiB
    assert target.read_bytes() == original
    assert not Path(f"{target}.part").exists()

    # A partial download that was damaged: the result cannot match the manifest.
    target.unlink()
    Path(f"{target}.part").write_bytes(b"\0" * MiB)
    corrupt = cli(
        "download", uploaded.pid, "--include", "Maps/*", "--to", str(destination), token=token
    )
    assert corrupt.code == openem_cli.EXIT_TRANSFER
    assert "Maps/big.bin: SHA-256 mismatch: the manifest says" in corrupt.err
    assert "1 of 1 files are missing or do not match the manifest" in corrupt.err
    assert not target.exists() and not Path(f"{target}.part").exists()

    fixed = cli(
        "download", uploaded.pid, "--include", "Maps/*", "--to", str(destination), token=token
    )
    assert fixed.code == 0, fixed.err
    assert target.read_bytes() == original
    assert fixed.out.startswith("Downloaded 1 file (")  # not "1 files"


def test_big_files_download_in_parallel_ranges_and_resume_by_segment(
    cli, token_for, uploaded, session_folder, tmp_path, s3_storage
):
    token = token_for("staff")
    destination = tmp_path / "download"
    original = (session_folder / "Maps" / "big.bin").read_bytes()
    target = destination / "Maps" / "big.bin"
    target.parent.mkdir(parents=True)
    # Segments 0 and 2 (of 1 MiB) are there already, segment 1 is not.
    partial = bytearray(3 * MiB)
    partial[:MiB] = original[:MiB]
    partial[2 * MiB :] = original[2 * MiB : 3 * MiB]
    Path(f"{target}.part").write_bytes(bytes(partial))
    Path(f"{target}.part.segments").write_text("0\n2\n")

    result = cli(
        "download", uploaded.pid, "--include", "Maps/big.bin", "--to", str(destination),
        "--segment-size", str(MiB), "--json", "--progress", token=token,
    )  # fmt: skip

    assert result.code == 0, result.err
    assert result.json()["downloaded_bytes"] == len(original) - 2 * MiB
    assert target.read_bytes() == original
    assert not Path(f"{target}.part.segments").exists()


def test_strangers_cannot_download_a_draft(cli, token_for, uploaded, tmp_path, s3_storage):
    result = cli("download", uploaded.pid, "--to", str(tmp_path / "x"), token=token_for("stranger"))

    assert result.code == openem_cli.EXIT_NOT_FOUND
    assert f"no dataset {uploaded.pid} exists or is visible to you" in result.err


# ---------------------------------------------------------------------------------------------
# Search, show, files, manifest


def test_search_show_files_and_manifest(cli, token_for, uploaded, s3_storage):
    Dataset.objects.filter(pk=uploaded.pk).update(
        status=DatasetStatus.PUBLISHED, visibility=Visibility.PUBLIC
    )

    found = cli("search", "apoferritin", "--technique", "spa", "--json")  # anonymous
    assert found.code == 0, found.err
    assert [d["pid"] for d in found.json()] == [uploaded.pid]
    assert cli("search", "ribosome", "--json").json() == []
    text = cli("search", "apoferritin")
    assert uploaded.pid in text.out and "Apoferritin from the command line" in text.out

    shown = cli("show", uploaded.pid, "--json")
    assert shown.json()["pid"] == uploaded.pid
    assert shown.json()["html_url"].endswith(f"/datasets/{uploaded.pid}/")
    assert "Cryo-EM Facility Basel" in cli("show", uploaded.pid).out

    listed = cli("files", uploaded.pid, "--prefix", "Images-Disc1/", "--json")
    assert listed.code == 0, listed.err
    assert [f["path"] for f in listed.json()] == ["Images-Disc1/GridSquare_1/frames.dat"]
    assert listed.json()[0]["state"] == "ready"
    assert "3 files" in cli("files", uploaded.pid).err

    manifest = cli("manifest", uploaded.pid)
    lines = manifest.out.splitlines()
    assert len(lines) == 3
    by_path = {line.split("  ", 1)[1]: line.split("  ", 1)[0] for line in lines}
    assert by_path["notes.txt"] == DataFile.objects.get(path="notes.txt").checksum_sha256

    missing = cli("show", "oem-0000000000")
    assert missing.code == openem_cli.EXIT_NOT_FOUND
    assert "no dataset oem-0000000000 exists or is visible to you" in missing.err


# ---------------------------------------------------------------------------------------------
# Errors and configuration


def test_a_wrong_token_gets_a_clear_message(cli, world):
    result = cli("search", "x", token="oem_not-a-real-token")

    assert result.code == openem_cli.EXIT_AUTH
    assert result.err.startswith("openem: authentication failed: this API token is not known")


def test_upload_without_a_token_says_how_to_get_one(cli, world, session_folder):
    result = cli("upload", str(session_folder), "--dataset", "oem-x")

    assert result.code == openem_cli.EXIT_AUTH
    assert "needs an API token" in result.err and "openem login" in result.err


def test_an_unreachable_server_is_reported_after_the_retries(cli, world):
    from bench.common import free_port

    result = cli("show", "oem-x", server=f"http://127.0.0.1:{free_port()}")

    assert result.code == openem_cli.EXIT_NETWORK
    assert "could not reach http://127.0.0.1:" in result.err
    assert "the connection was refused (tried twice)" in result.err


def test_no_server_configured(capsys, world):
    assert openem_cli.main(["search", "x"]) == openem_cli.EXIT_USAGE
    assert "no server given" in capsys.readouterr().err


def test_help_documents_the_exit_statuses(capsys):
    assert openem_cli.main(["--help"]) == 0
    out = capsys.readouterr().out
    assert "exit status:" in out and "130  interrupted" in out
    assert openem_cli.main(["upload"]) == openem_cli.EXIT_USAGE


def test_login_saves_a_private_config_used_only_for_its_server(
    live_server, token_for, capsys, monkeypatch
):
    token = token_for("staff")
    monkeypatch.setenv("XDG_CONFIG_HOME", os.environ["XDG_CONFIG_HOME"])

    assert openem_cli.main(["login", "--server", live_server.url, "--token", token]) == 0

    path = Path(os.environ["XDG_CONFIG_HOME"]) / "openem" / "config.json"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert json.loads(path.read_text()) == {"server": live_server.url, "token": token}
    assert openem_cli.main(["search", "x", "--json"]) == 0  # server and token from the file
    args = openem_cli.build_parser().parse_args(["search", "--server", "https://elsewhere.org"])
    for name, default in {"token": None, "retries": 5}.items():
        setattr(args, name, getattr(args, name, default))
    assert openem_cli.make_client(args).token is None  # never sent to another server

    bad = openem_cli.main(["login", "--server", live_server.url, "--token", "oem_wrong"])
    assert bad == openem_cli.EXIT_AUTH
    assert json.loads(path.read_text())["token"] == token  # the good one is kept
    assert openem_cli.main(["logout"]) == 0
    assert "token" not in json.loads(path.read_text())


def test_the_client_retries_throttled_requests(live_server, token_for, settings):
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {
            **settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"],
            "facility_staff": "2/minute",
        },
    }
    waits: list[float] = []

    with Client(live_server.url, token_for("staff"), sleep=waits.append) as client:
        for _ in range(2):
            client.get_json("facilities/")
        with pytest.raises(Throttled) as refused:
            client.get_json("facilities/")

    assert refused.value.status == 429
    assert len(waits) == 4  # five attempts, waiting as Retry-After said
    assert all(wait > 0 for wait in waits)


def test_a_closed_pipe_ends_the_output_quietly(live_server, monkeypatch, capsys):
    """``openem ... | head``: the reader went away; no "error: Broken pipe", no traceback."""
    import os

    read_end, write_end = os.pipe()
    os.close(read_end)  # the reader (head) has already gone
    closed = open(write_end, "w", buffering=1)  # noqa: SIM115 - closed below
    monkeypatch.setattr("sys.stdout", closed)
    try:
        code = openem_cli.main(["--server", live_server.url, "version"])
    finally:
        monkeypatch.undo()
        closed.close()
    captured = capsys.readouterr()
    assert "Broken pipe" not in captured.err and "Traceback" not in captured.err, captured.err
    assert code == 0
