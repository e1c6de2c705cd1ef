"""Datasets, upload sessions and stored files for the ingest tests, put through the real
pipeline: ``new_dataset``, ``new_session``, ``store`` (bytes into storage, registered as an
upload would), the EPU sample session, a micrograph, and checksums of what was stored."""

from __future__ import annotations

import hashlib
import io
import os
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from django.conf import settings as django_settings
from PIL import Image

import storage
from demo import seed as demo
from ingest.models import UploadSession
from ingest.uploads import (
    datafile_store_stream,
    upload_session_create,
    upload_session_register_files,
)
from repository.models import DataFile, Dataset, FileState
from repository.services import dataset_create

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def samples_dir() -> Path:
    return Path(os.environ.get("OPENEM_SAMPLES_DIR") or django_settings.OPENEM_SAMPLES_DIR)


def epu_sample_files() -> list[Path]:
    """The real EPU per-movie XML files, or a skip saying where they were looked for."""
    folder = samples_dir() / "epu"
    files = sorted(folder.glob("FoilHole_*.xml"))
    if not files:
        pytest.skip(f"EPU sample XML files not found in {folder}: set OPENEM_SAMPLES_DIR")
    return files


def new_dataset(world: Any, *, technique: str = "spa", title: str = "Pipeline test") -> Dataset:
    return dataset_create(
        actor=world["staff"],
        facility=world.facility,
        instrument=world.instrument,
        project=world.project,
        technique=technique,
        title=title,
    )


def new_session(world: Any, dataset: Dataset) -> UploadSession:
    return upload_session_create(actor=world["staff"], dataset=dataset)


def store(
    world: Any, session: UploadSession, path: str, data: bytes, *, sha256: str = ""
) -> DataFile:
    """Register and store a file as an upload would (ingest is enqueued only after commit, so
    inside a test transaction nothing runs until the test calls ``datafile_process``)."""
    datafile = datafile_store_stream(
        actor=world["staff"], session=session, path=path, stream=io.BytesIO(data), size=len(data)
    )
    if sha256:
        DataFile.objects.filter(pk=datafile.pk).update(expected_sha256=sha256)
        datafile.refresh_from_db()
    assert datafile.state == FileState.STORED
    return datafile


def object_sha256(key: str) -> str:
    digest = hashlib.sha256()
    for chunk in storage.get_store().iter_chunks(key):
        digest.update(chunk)
    return digest.hexdigest()


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def png_size(key: str) -> tuple[int, int]:
    store_ = storage.get_store()
    data = store_.read(key, 0, store_.size(key))
    assert data.startswith(PNG_MAGIC)
    with Image.open(io.BytesIO(data)) as image:
        assert image.format == "PNG"
        return image.size


def micrograph(shape: tuple[int, int] = (600, 700), voxel_size: float = 0.83) -> bytes:
    """A float32 MRC image of noise (written by mrcfile)."""
    image = np.random.default_rng(sum(shape)).normal(0.0, 1.0, shape).astype(np.float32)
    return demo.mrc_bytes(image, voxel_size)


def register_file(world: Any, session: Any, path: str, data: bytes, **extra: Any) -> DataFile:
    [datafile] = upload_session_register_files(
        actor=world["staff"],
        session=session,
        entries=[{"path": path, "size": len(data), **extra}],
    )
    return datafile
