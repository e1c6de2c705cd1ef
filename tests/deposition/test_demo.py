"""The setup command's demo data, with the organizational metadata a curator enters, gives
EMPIAR and EMDB exports that validate."""

from __future__ import annotations

import pytest
from django.core.management import call_command

from demo import seed as demo
from deposition.demo import demo_deposition_metadata
from deposition.documents import build_document
from metadata.services import with_si_for_technique
from repository.models import Dataset, FileState


def _contains(document: object, part: object) -> bool:
    """Whether every value of ``part`` is in ``document`` (objects may have more keys)."""
    if isinstance(part, dict):
        return isinstance(document, dict) and all(
            key in document and _contains(document[key], value) for key, value in part.items()
        )
    return document == part


@pytest.mark.usefixtures("emdb_schemas", "local_storage")
def test_demo_datasets_export_valid_documents(transactional_db):
    # A transactional test starts from a flushed database: the built-in metadata schemas a
    # migration loaded may be gone (the setup command loads them, as here).
    call_command("load_builtin_schemas", verbosity=0)
    # As in `make run`: autocommit, so ingest runs (in-process) as each file is stored.
    demo.load_demo(stdout=lambda _line: None)
    assert not Dataset.objects.filter(files__state=FileState.FAILED).exists()
    # The demo carries the organizational metadata a curator would enter: no extra step here.
    # (Stored as the metadata form stores it: quantities gain their SI values.)
    for dataset in Dataset.objects.all():
        entered = with_si_for_technique(
            demo_deposition_metadata(dataset.technique, dataset.kind), dataset.technique
        )
        assert _contains(dataset.metadata, entered)
    spa = Dataset.objects.get(title__startswith="Mouse apoferritin")
    tomo = Dataset.objects.get(technique="cellular_tomo")
    emdb_map = Dataset.objects.get(kind="map")
    for dataset, target in (
        (spa, "empiar"),
        (tomo, "empiar"),
        (emdb_map, "emdb"),
        (emdb_map, "mmcif"),
    ):
        built = build_document(dataset, target)
        assert built.valid, f"{dataset.title} {target}:\n{built.report.as_text()}"
