"""Datasets published before DataCite was configured get their DOIs with ``register_dois``."""

from __future__ import annotations

from io import StringIO
from typing import Any

import pytest
from django.core.management import CommandError, call_command

from publishing.models import DoiRegistration
from repository import services, versions
from tests.support.datacite import PREFIX, new_dataset, related


def test_register_dois_backfills_concept_and_versions(
    world: Any, datacite: Any, settings: Any, django_capture_on_commit_callbacks: Any
) -> None:
    settings.OPENEM_DATACITE_PREFIX = ""
    dataset = new_dataset(world)
    services.dataset_publish(actor=world["curator"], dataset=dataset)
    versions.version_start_draft(actor=world["curator"], dataset=dataset)
    services.dataset_publish(actor=world["curator"], dataset=dataset)
    with pytest.raises(CommandError, match="no DataCite prefix"):
        call_command("register_dois")
    assert not DoiRegistration.objects.exists()

    settings.OPENEM_DATACITE_PREFIX = PREFIX
    out = StringIO()
    with django_capture_on_commit_callbacks(execute=True):
        call_command("register_dois", stdout=out)
    assert "3 DOI registrations created for 1 datasets" in out.getvalue()
    held = datacite.dois()
    concept = f"{PREFIX}/{dataset.pid}".lower()
    assert {held[concept + s]["state"] for s in ("", ".v1", ".v2")} == {"findable"}
    assert ("HasVersion", concept + ".v2") in related(held[concept]["attributes"])
    again = StringIO()
    call_command("register_dois", dataset.pid, stdout=again)
    assert "0 DOI registrations" in again.getvalue()
    with pytest.raises(CommandError, match="no published dataset oem-nothere"):
        call_command("register_dois", "oem-nothere")
