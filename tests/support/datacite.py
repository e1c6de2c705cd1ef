"""The fake DataCite server's account as the tests and the portal's settings name it (DOI
prefix, repository id, password, ``datacite_settings`` for a running server), and the
published datasets and versions the DOI tests register (``new_dataset``, ``publish``,
``new_version``, ``related``)."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from typing import Any

import requests

from repository import services, versions
from repository.models import FileState
from tests.factories import DataFileFactory

PREFIX = "10.80000"


REPOSITORY_ID = "OPENEM.TEST"


PASSWORD = "fake-datacite-secret"  # noqa: S105 - the fake server's, for the tests only


@dataclass
class FakeDataCite:
    url: str
    process: subprocess.Popen[str]

    def calls(self) -> list[dict[str, Any]]:
        return list(requests.get(f"{self.url}/_calls", timeout=10).json()["calls"])

    def dois(self) -> dict[str, dict[str, Any]]:
        return dict(requests.get(f"{self.url}/_dois", timeout=10).json()["dois"])

    def doi(self, doi: str) -> dict[str, Any]:
        return self.dois()[doi.lower()]

    def reset(self) -> None:
        requests.post(f"{self.url}/_reset", timeout=10).raise_for_status()

    def fault(self, mode: str, **options: Any) -> None:
        requests.post(
            f"{self.url}/_faults", json={"mode": mode, **options}, timeout=10
        ).raise_for_status()


def datacite_settings(server: FakeDataCite, *, password: str = PASSWORD) -> dict[str, str]:
    """The environment a portal process (a Celery worker) needs to use the fake server."""
    return {
        "OPENEM_DATACITE_URL": server.url,
        "OPENEM_DATACITE_PREFIX": PREFIX,
        "OPENEM_DATACITE_REPOSITORY_ID": REPOSITORY_ID,
        "OPENEM_DATACITE_PASSWORD": password,
        "OPENEM_DATACITE_TIMEOUT": "1",
    }


AUTHORS = [{"given_name": "Ada", "family_name": "Lovelace", "orcid": "0000-0002-1825-0097"}]


def new_dataset(world: Any, **extra: Any) -> Any:
    dataset = services.dataset_create(
        actor=world["staff"],
        title="Apoferritin session",
        facility=world.facility,
        technique="spa",
        metadata={"organizational": {"authors": AUTHORS}},
        **extra,
    )
    DataFileFactory(dataset=dataset, path="a/one.mrc", size=100, state=FileState.READY)
    return dataset


def related(attributes: dict[str, Any]) -> set[tuple[str, str]]:
    return {(r["relationType"], r["relatedIdentifier"]) for r in attributes["relatedIdentifiers"]}


def publish(world: Any, dataset: Any, capture: Any, **kw: Any) -> Any:
    with capture(execute=True):
        return services.dataset_publish(actor=world["curator"], dataset=dataset, **kw)


def new_version(world: Any, dataset: Any, capture: Any) -> Any:
    versions.version_start_draft(actor=world["curator"], dataset=dataset)
    return publish(world, dataset, capture)
