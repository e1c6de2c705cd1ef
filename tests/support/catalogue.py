"""A small catalogue for the page tests: datasets in every access state with real stored files
(``catalogue`` on local storage, ``s3_catalogue`` on S3), OSC-EM metadata for them and
``add_file`` to store one more.

Files are written through the portal's storage module and recorded as ingested (state ready,
SHA-256 computed here), so these tests do not depend on the ingest pipeline's timing."""

from __future__ import annotations

import datetime as dt
import hashlib
import io
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pytest
from django.utils import timezone
from PIL import Image

import storage
from repository.models import DataFile, Dataset, DatasetStatus, FileState, Technique
from repository.paths import split_path
from repository.services import datafile_storage_key
from tests.factories import DatasetFactory

AUTHORS = [
    {
        "given_name": "Rosalind",
        "family_name": "Franklin",
        "orcid": "0000-0002-1825-0097",
        "name_org": "University of Basel",
        "email": "rf@example.org",
    },
    {"given_name": "Jacques", "family_name": "Dubochet", "email": "jd@example.org"},
]


def quantity(value: float, unit: str, si: float, unit_si: str) -> dict[str, Any]:
    return {"value": value, "unit": unit, "valueSI": si, "unitSI": unit_si}


def spa_metadata(
    pixel_size: float = 0.83,
    voltage_kv: float = 300.0,
    sample: str = "Mouse heavy-chain apoferritin",
) -> dict[str, Any]:
    acquisition = {
        "technique": "spa",
        "pixel_size": quantity(pixel_size, "Å", pixel_size * 1e-10, "m"),
        "dose_per_movie": quantity(40.0, "e/Å^2", 40.0 * 1e20, "1/m^2"),
        "detectors": [{"name": "Falcon 4i", "mode": "counting"}],
        "microscope_software": "EPU",
    }
    instrument = {
        "acceleration_voltage": quantity(voltage_kv, "kV", voltage_kv * 1000, "V"),
        "microscope": {"manufacturer": "Thermo Fisher Scientific", "model": "Titan Krios G4"},
    }
    return {
        "acquisition": acquisition,
        "instrument": instrument,
        "sample": {"name": sample, "description": "Recombinant, in HEPES"},
        "organizational": {"authors": AUTHORS},
        # what the ingest derived (the rest was entered by a person)
        "_derived": {"acquisition": acquisition, "instrument": instrument},
    }


def png_bytes(size: int = 64) -> bytes:
    rng = np.random.default_rng(5)
    image = Image.fromarray((rng.random((size, size)) * 255).astype(np.uint8), mode="L")
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


def add_file(
    dataset: Dataset,
    path: str,
    data: bytes,
    *,
    state: str = FileState.READY,
    thumbnail: bool = False,
    file_format: str = "mrc",
    error: str = "",
) -> DataFile:
    """A stored file of ``dataset`` (bytes in the configured storage, checksum recorded)."""
    store = storage.get_store()
    key = datafile_storage_key(dataset)
    if state != FileState.REGISTERED:
        store.put(key, data)
    directory, name = split_path(path)
    datafile = DataFile.objects.create(
        dataset=dataset,
        path=path,
        directory=directory,
        name=name,
        size=len(data),
        storage_key=key,
        format=file_format,
        state=state,
        error=error,
        checksum_sha256=hashlib.sha256(data).hexdigest() if state == FileState.READY else "",
        header={
            "container": file_format,
            "nx": 64,
            "ny": 64,
            "voxel_size": {"x": {"value": 0.83, "unit": "A"}},
        },
    )
    if thumbnail:
        thumb_key = storage.object_key("datasets", dataset.pid, "thumbnails", f"{datafile.pk}.png")
        store.put(thumb_key, png_bytes(), content_type="image/png")
        DataFile.objects.filter(pk=datafile.pk).update(thumbnail_key=thumb_key)
        datafile.thumbnail_key = thumb_key
    return datafile


@dataclass
class Catalogue:
    world: Any
    public: Dataset
    embargoed: Dataset
    private: Dataset
    draft: Dataset
    files: dict[str, DataFile] = field(default_factory=dict)
    contents: dict[str, bytes] = field(default_factory=dict)


def build_catalogue(world: Any) -> Catalogue:
    published = timezone.now() - dt.timedelta(days=30)
    public = DatasetFactory(
        title="Mouse apoferritin at 1.2 Å, Falcon 4i EER session",
        description="Single-particle cryo-EM of heavy-chain apoferritin, 12,000 EER movies.",
        facility=world.facility,
        instrument=world.instrument,
        project=world.project,
        owner=world["staff"],
        technique=Technique.SPA,
        keywords=["apoferritin", "benchmark sample"],
        status=DatasetStatus.PUBLISHED,
        visibility="public",
        published_at=published,
        metadata=spa_metadata(),
        metadata_validation={
            "valid": False,
            "problems": [{"path": "sample.overall_molecule", "message": "is a required property"}],
            "checked_at": "2026-03-01T10:00:00+00:00",
            "schema": "spa 1.0.0",
        },
        emdb_ids=["EMD-12345"],
        empiar_id="EMPIAR-10999",
        publication_dois=["10.1038/s41586-020-2649-2"],
    )
    embargoed = DatasetFactory(
        title="Chlamydomonas tilt series under embargo",
        description="Cellular tomography of the pyrenoid.",
        facility=world.facility,
        instrument=world.instrument,
        owner=world["staff"],
        technique=Technique.CELLULAR_TOMO,
        keywords=["pyrenoid"],
        status=DatasetStatus.PUBLISHED,
        visibility="embargoed",
        embargo_until=timezone.localdate() + dt.timedelta(days=200),
        published_at=published - dt.timedelta(days=400),
        metadata=spa_metadata(pixel_size=2.68, voltage_kv=200.0, sample="Chlamydomonas cells"),
    )
    private = DatasetFactory(
        title="Unpublished ribosome session",
        description="Ribosomes in a secret state.",
        facility=world.facility,
        instrument=world.instrument,
        project=world.project,
        owner=world["staff"],
        technique=Technique.SPA,
        status=DatasetStatus.READY,
        visibility="private",
    )
    draft = DatasetFactory(
        title="Draft session of another facility",
        facility=world.other_facility,
        owner=world["other_staff"],
        technique=Technique.MICROED,
        status=DatasetStatus.DRAFT,
        visibility="private",
    )
    catalogue = Catalogue(world, public, embargoed, private, draft)
    entries = {
        "movie": (
            public,
            "Images-Disc1/GridSquare_1/Data/FoilHole_1_Data_1.eer",
            b"EER" * 40_000,
            True,
        ),
        "micrograph": (public, "Micrographs/mic_0001.mrc", bytes(range(256)) * 600, True),
        "notes": (public, "README.txt", b"Collected on the Krios.\n", False),
        "tilt": (embargoed, "TS_01/TS_01.mrc", b"\x01\x02" * 5000, True),
        "secret": (private, "Micrographs/secret.mrc", b"secret bytes " * 1000, True),
    }
    formats = {".eer": "eer", ".mrc": "mrc", ".txt": "other"}
    for name, (dataset, path, data, thumbnail) in entries.items():
        file_format = formats[path[path.rindex(".") :]]
        catalogue.files[name] = add_file(
            dataset, path, data, thumbnail=thumbnail, file_format=file_format
        )
        catalogue.contents[name] = data
    return catalogue


@pytest.fixture
def catalogue(world: Any, local_storage: Any) -> Catalogue:
    return build_catalogue(world)


@pytest.fixture
def s3_catalogue(world: Any, s3_storage: Any) -> Catalogue:
    return build_catalogue(world)
