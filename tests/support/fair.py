"""Datasets for the FAIR tests: ``make_dataset`` publishes one with OSC-EM metadata and real stored
files (``FILES``)."""

from __future__ import annotations

import hashlib
from typing import Any

import storage
from repository import services
from repository.models import FileState
from tests.factories import DataFileFactory

AUTHORS = [
    {
        "given_name": "Rosalind",
        "family_name": "Franklin",
        "orcid": "0000-0002-1825-0097",
        "email": "rf@example.org",
        "type_org": "academic",
        "name_org": "Cryo-EM Facility Basel",
    },
    {  # a placeholder iD, as the official OSC-EM examples have: no author link for it
        "given_name": "Jacques",
        "family_name": "Dubochet",
        "orcid": "ORCID_123124151231",
        "email": "jd@example.org",
        "type_org": "academic",
    },
]


def make_dataset(world: Any, *, files: dict[str, bytes], **extra: Any) -> Any:
    dataset = services.dataset_create(
        actor=world["staff"],
        title="Apoferritin at 1.2 A",
        description="Movies of mouse apoferritin on a Krios G4 with a Falcon 4i detector.",
        facility=world.facility,
        instrument=world.instrument,
        technique="spa",
        metadata={"organizational": {"authors": AUTHORS}},
        **extra,
    )
    store = storage.get_store()
    for path, data in files.items():
        key = f"datasets/{dataset.pid}/{hashlib.sha256(path.encode()).hexdigest()}"
        store.put(key, data)
        DataFileFactory(
            dataset=dataset,
            path=path,
            directory=path.rpartition("/")[0],
            name=path.rpartition("/")[2],
            size=len(data),
            state=FileState.READY,
            format="eer" if path.endswith(".eer") else "mrc",
            checksum_sha256=hashlib.sha256(data).hexdigest(),
            storage_key=key,
        )
    return dataset


FILES = {
    "Images/movie 1.eer": b"first movie",
    "Images/movie_2.eer": b"second movie, longer",
    "gain.mrc": b"gain reference",
}
