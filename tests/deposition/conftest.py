"""Fixtures for the deposition tests: datasets ingested through the real pipeline (files in
real formats, stored, checksummed, read), organizational metadata as the metadata form writes
it, and the official schemas from ``OPENEM_SCHEMAS_DIR`` (default ``<repo>/../shared/schemas``).

The schemas are never copied into the repository: tests that need them skip, saying where they
were looked for, when the folder is absent.
"""

from __future__ import annotations

import copy
import http.server
import io
import json
import os
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import mrcfile
import numpy as np
import pytest
import tifffile
from django.conf import settings as django_settings

from demo import seed as demo
from ingest.services import datafile_process, dataset_settle_if_done
from ingest.uploads import datafile_store_stream, upload_session_create
from repository.models import DataFile, Dataset, FileState
from repository.services import dataset_create

ORCID_OK = "0000-0002-1825-0097"

ORGANIZATIONAL = {
    "authors": [
        {
            "given_name": "Chris",
            "family_name": "Curator",
            "email": "chris.curator@example.org",
            "orcid": ORCID_OK,
            "name_org": "University of Basel, Biozentrum",
            "type_org": "Academic",
            "country": "CH",
            "role": "corresponding author, principal investigator",
        },
        {
            "given_name": "Jürgen Maria",
            "family_name": "Müller",
            "email": "jm.mueller@example.org",
            "orcid": None,
            "name_org": "University of Basel",
            "type_org": "Academic",
            "country": "Switzerland",
            "role": "investigator",
        },
    ],
    "funder": [{"funder_name": "Swiss National Science Foundation", "country": "CH"}],
    "grants": [{"project_id": "310030_212345"}],
}
SAMPLE = {
    "overall_molecule": {
        "name_sample": "Mouse heavy-chain apoferritin",
        "source": "recombinant",
        "molecular_overall_type": "COMPLEX",
        "assembly": "PARTICLE",
        "molecular_weight": {"value": 0.48, "unit": "MDa"},
    },
    "molecule": [
        {
            "name_mol": "Ferritin heavy chain",
            "sequence": "MTTASPSQVRQNYHQDSEAAINRQINLELYASYVYLSMSYYFDRDDVALKNFAKYFLHQSHEEREHAEKLMKLQNQRGGRIFLQDIKKPDRDDWESGLNAMECALHLEKSVNQSLLELHKLATDKNDPHLCDFIETYYLSEQVKSIKELGDHVTNLRKMGAPEAGMAEYLFDKHTLGHGDES",
            "natural_source": "Mus musculus",
            "taxonomy_id_source": "10090",
        }
    ],
    "specimen": {
        "buffer": "20 mM HEPES pH 7.5, 150 mM NaCl",
        "ph": 7.5,
        "vitrification": True,
        "vitrification_cryogen": "ethane",
        "humidity": {"value": 95, "unit": "%"},
    },
}
INSTRUMENT = {
    "microscope": {"manufacturer": "Thermo Fisher Scientific", "model": "Titan Krios G4"},
    "electron_source": "XFEG",
    "illumination": "FloodBeam",
    "imaging": "Brightfield",
    "acceleration_voltage": {"value": 300, "unit": "kV", "valueSI": 300000.0, "unitSI": "V"},
    "cs": {"value": 2.7, "unit": "mm"},
}
ACQUISITION = {
    "technique": "spa",
    "detectors": [{"name": "Falcon 4i", "mode": "counting"}],
    # EPU writes underfocus as negative numbers (nm).
    "nominal_defocus": {
        "minimal": {"value": -2000.0, "unit": "nm"},
        "maximal": {"value": -800.0, "unit": "nm"},
    },
    "dose_per_movie": {"value": 40.0, "unit": "e/Å^2"},
    "exposure_time": {"value": 2.5, "unit": "s"},
    "nominal_magnification": 165000,
}


def full_metadata(**overrides: Any) -> dict[str, Any]:
    document = {
        "organizational": copy.deepcopy(ORGANIZATIONAL),
        "sample": copy.deepcopy(SAMPLE),
        "instrument": copy.deepcopy(INSTRUMENT),
        "acquisition": copy.deepcopy(ACQUISITION),
    }
    document.update(overrides)
    return document


# --- the official schemas ---------------------------------------------------------------------


def schemas_dir() -> Path:
    return Path(os.environ.get("OPENEM_SCHEMAS_DIR") or django_settings.OPENEM_SCHEMAS_DIR)


@pytest.fixture
def schemas() -> Path:
    """The shared schemas folder, or a skip that says where it was looked for."""
    folder = schemas_dir()
    if (
        not (folder / "emdb" / "emdb.xsd").is_file()
        or not (folder / "empiar" / "working_example.json").is_file()
    ):
        pytest.skip(
            f"the official EMDB/EMPIAR schema files are not in {folder}: set OPENEM_SCHEMAS_DIR "
            "to the shared schemas folder"
        )
    return folder


@pytest.fixture
def emdb_schemas(schemas: Path, settings: Any) -> Path:
    """The portal's EMDB validation pointed at the shared XSDs (current and relaxed)."""
    settings.OPENEM_EMDB_XSD = str(schemas / "emdb" / "emdb.xsd")
    settings.OPENEM_EMDB_XSD_RELAXED = str(schemas / "emdb" / "emdb_relaxed.xsd")
    return schemas


# --- files in real formats ----------------------------------------------------------------------


def mrc_file(
    data: np.ndarray,
    voxel_size: float | tuple[float, float, float],
    *,
    tmp: Path,
    volume: bool = False,
    start: tuple[int, int, int] = (0, 0, 0),
) -> bytes:
    path = tmp / f"f{np.random.default_rng().integers(1 << 30)}.mrc"
    with mrcfile.new(path, overwrite=True) as mrc:
        mrc.set_data(data)
        if volume:
            mrc.set_volume()
        elif data.ndim == 3:
            mrc.set_image_stack()
        mrc.voxel_size = voxel_size
        mrc.header.nxstart, mrc.header.nystart, mrc.header.nzstart = start
    content = path.read_bytes()
    path.unlink()
    return content


def noise(shape: tuple[int, ...], dtype: Any = np.float32, seed: int = 1) -> np.ndarray:
    return np.random.default_rng(seed).normal(10.0, 2.0, shape).astype(dtype)


def tiff_movie(frames: int = 6, shape: tuple[int, int] = (256, 256)) -> bytes:
    out = io.BytesIO()
    stack = np.random.default_rng(2).poisson(1.5, (frames, *shape)).astype(np.uint8)
    tifffile.imwrite(out, stack, software="EPU 3.6 (test)")
    return out.getvalue()


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


def spa_files(tmp: Path) -> list[tuple[str, bytes]]:
    """An SPA session with EER, TIFF and MRC movies, and a motion-corrected micrograph."""
    return [
        (
            "Images-Disc1/GridSquare_1/Data/FoilHole_1_Data_1_1_20261120_091500_EER.eer",
            demo.eer_like_bytes(frames=8),
        ),
        (
            "Images-Disc1/GridSquare_2/Data/FoilHole_7_Data_1_1_20261120_093000_EER.eer",
            demo.eer_like_bytes(frames=8),
        ),
        ("Images-Disc1/GridSquare_1/Data/FoilHole_1_Data_2_1_20261120_091530.tiff", tiff_movie()),
        (
            "Movies/FoilHole_3_Data_1.mrcs",
            mrc_file(noise((5, 200, 240), np.int16), 0.83, tmp=tmp),
        ),
        ("Micrographs/FoilHole_1_Data_1.mrc", mrc_file(noise((384, 384)), 0.83, tmp=tmp)),
    ]


def tomo_files(tmp: Path) -> list[tuple[str, bytes]]:
    """A SerialEM tilt series (an MRC stack with its mdoc) per folder."""
    files = []
    for index in (1, 2):
        name = f"TS_0{index}.mrc"
        stack = noise((11, 128, 128), np.int16, seed=index)
        files.append((f"TS_0{index}/{name}", mrc_file(stack, 2.68, tmp=tmp)))
        files.append((f"TS_0{index}/{name}.mdoc", demo.mdoc_text(name)))
    return files


def map_files(
    tmp: Path, *, mode_dtype: Any = np.float32, halves: bool = True
) -> list[tuple[str, bytes]]:
    volume = demo.sphere_map(48).astype(mode_dtype)
    files = [("emd_demo.map", mrc_file(volume, 1.06, tmp=tmp, volume=True, start=(-24, -24, -24)))]
    if halves:
        for index in (1, 2):
            half = (volume + noise((48, 48, 48), seed=index) * 0.01).astype(mode_dtype)
            files.append(
                (
                    f"half_maps/run_half{index}_class001_unfil.mrc",
                    mrc_file(half, 1.06, tmp=tmp, volume=True),
                )
            )
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
