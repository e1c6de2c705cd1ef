"""Fixtures for the deposition tests: datasets ingested through the real pipeline (files in
real formats, stored, checksummed, read) and EMPIAR's API replayed from recordings. The
metadata, files and official schemas they use are ``tests.support.deposition``'s."""

from __future__ import annotations

import copy
import http.server
import io
import json
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from demo import seed as demo
from ingest.services import datafile_process, dataset_settle_if_done
from ingest.uploads import datafile_store_stream, upload_session_create
from repository.models import DataFile, Dataset, FileState
from repository.services import dataset_create
from tests.support.deposition import (  # noqa: F401
    ORGANIZATIONAL,
    emdb_schemas,
    full_metadata,
    map_files,
    mrc_file,
    noise,
    schemas,
    spa_files,
)

# --- datasets through the pipeline -----------------------------------------------------------------


Ingest = Callable[..., Dataset]


@pytest.fixture
def ingest(world: Any, request: pytest.FixtureRequest) -> Ingest:
    """``ingest(files=[(path, bytes)], technique=..., metadata=...)``: a dataset whose files
    went through storage and the ingest pipeline (checksum, format, header, thumbnail).
    Files go to local storage unless the test asks for ``s3_storage``."""
    request.getfixturevalue(
        "s3_storage" if "s3_storage" in request.fixturenames else "local_storage"
    )

    def make(
        *,
        files: list[tuple[str, bytes]],
        technique: str = "spa",
        kind: str = "raw",
        title: str = "Mouse apoferritin on a Krios G4 with a Falcon 4i",
        metadata: dict[str, Any] | None = None,
        emdb_ids: list[str] | None = None,
        process: bool = True,
    ) -> Dataset:
        dataset = dataset_create(
            actor=world["staff"],
            facility=world.facility,
            instrument=world.instrument,
            project=world.project,
            technique=technique,
            kind=kind,
            title=title,
            emdb_ids=emdb_ids or [],
        )
        session = upload_session_create(actor=world["staff"], dataset=dataset)
        stored = [
            datafile_store_stream(
                actor=world["staff"],
                session=session,
                path=path,
                stream=io.BytesIO(content),
                size=len(content),
            )
            for path, content in files
        ]
        if process:
            for datafile in stored:
                datafile_process(datafile.pk)
            dataset_settle_if_done(dataset.pk)
        dataset.refresh_from_db()
        if metadata is not None:
            dataset.metadata = {**dataset.metadata, **copy.deepcopy(metadata)}
            dataset.save(update_fields=["metadata"])
        for datafile in DataFile.objects.filter(dataset=dataset, state=FileState.FAILED):
            raise AssertionError(f"{datafile.path} failed ingest: {datafile.error}")
        return dataset

    return make


SPA_FILES = {
    "Images-Disc1/GridSquare_1/Data/FoilHole_1_Data_1_1_20261120_091500_EER.eer": "eer",
    "Images-Disc1/GridSquare_1/Data/FoilHole_1_Data_2_1_20261120_091530.tiff": "tiff",
    "Micrographs/FoilHole_1_Data_1.mrc": "mrc",
}


def tomo_files(tmp: Path) -> list[tuple[str, bytes]]:
    """A SerialEM tilt series (an MRC stack with its mdoc) per folder."""
    files = []
    for index in (1, 2):
        name = f"TS_0{index}.mrc"
        stack = noise((11, 128, 128), np.int16, seed=index)
        files.append((f"TS_0{index}/{name}", mrc_file(stack, 2.68, tmp=tmp)))
        files.append((f"TS_0{index}/{name}.mdoc", demo.mdoc_text(name)))
    return files


@pytest.fixture
def spa_dataset(ingest: Ingest, tmp_path: Path) -> Dataset:
    return ingest(files=spa_files(tmp_path), metadata=full_metadata(), emdb_ids=["EMD-12345"])


@pytest.fixture
def tomo_dataset(ingest: Ingest, tmp_path: Path) -> Dataset:
    # The acquisition metadata is the one ingest derives from the mdoc files.
    return ingest(
        files=tomo_files(tmp_path),
        technique="cellular_tomo",
        title="Chlamydomonas cellular tomography tilt series",
        metadata={"organizational": copy.deepcopy(ORGANIZATIONAL)},
    )


@pytest.fixture
def map_dataset(ingest: Ingest, tmp_path: Path) -> Dataset:
    return ingest(
        files=map_files(tmp_path),
        kind="map",
        title="Apoferritin 2.1 A map",
        metadata=full_metadata(),
    )


# --- EMPIAR's API, replayed from recordings on 127.0.0.1 --------------------------------------

RECORDINGS = Path(__file__).resolve().parent / "recordings"


@dataclass
class Received:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Replay:
    base_url: str
    received: list[Received]
    remaining: list[dict[str, Any]]


@pytest.fixture
def empiar_replay(request: pytest.FixtureRequest) -> Iterator[Callable[[str], Replay]]:
    """``empiar_replay("empiar_deposit_and_submit")``: a local HTTP server that answers the
    requests of a recording in order, keeps what it received, and never reaches elsewhere."""
    servers: list[http.server.ThreadingHTTPServer] = []

    def start(name: str) -> Replay:
        exchanges = json.loads((RECORDINGS / f"{name}.json").read_text())["exchanges"]
        replay = Replay(base_url="", received=[], remaining=list(exchanges))
        lock = threading.Lock()

        class Handler(http.server.BaseHTTPRequestHandler):
            def _answer(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                with lock:
                    replay.received.append(
                        Received(self.command, self.path, dict(self.headers.items()), body)
                    )
                    match = next(
                        (
                            e
                            for e in replay.remaining
                            if (e["request"]["method"], e["request"]["path"])
                            == (self.command, self.path)
                        ),
                        None,
                    )
                    if match is not None:
                        replay.remaining.remove(match)
                response = (match or {}).get("response") or {
                    "status": 404,
                    "body": {"detail": "not recorded"},
                }
                payload = json.dumps(response["body"]).encode()
                self.send_response(response["status"])
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_POST = do_PUT = _answer

            def log_message(self, *args: Any) -> None:
                pass

        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        servers.append(server)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        replay.base_url = f"http://127.0.0.1:{server.server_address[1]}/empiar/deposition/api/"
        return replay

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()
