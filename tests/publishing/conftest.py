"""The fake DataCite server (tests/support/fake_datacite.py) in its own process on loopback,
and the portal's settings pointed at it. The portal reaches it over HTTP exactly as it would
reach DataCite: nothing in the HTTP client is patched."""

from __future__ import annotations

import contextlib
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests

SERVER = Path(__file__).resolve().parent.parent / "support" / "fake_datacite.py"
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


@pytest.fixture(scope="session")
def fake_datacite_server() -> Iterator[FakeDataCite]:
    process = subprocess.Popen(  # noqa: S603 - our own test server
        [sys.executable, str(SERVER), "--user", REPOSITORY_ID, "--password", PASSWORD,
         "--prefix", PREFIX, "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )  # fmt: skip
    assert process.stdout is not None
    line = process.stdout.readline()
    if not line.startswith("listening on "):
        process.kill()
        raise RuntimeError(f"the fake DataCite server did not start: {line!r}")
    server = FakeDataCite(url=f"http://127.0.0.1:{int(line.split()[-1])}", process=process)
    try:
        yield server
    finally:
        process.terminate()
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=10)
        if process.poll() is None:
            process.kill()


def datacite_settings(server: FakeDataCite, *, password: str = PASSWORD) -> dict[str, str]:
    """The environment a portal process (a Celery worker) needs to use the fake server."""
    return {
        "OPENEM_DATACITE_URL": server.url,
        "OPENEM_DATACITE_PREFIX": PREFIX,
        "OPENEM_DATACITE_REPOSITORY_ID": REPOSITORY_ID,
        "OPENEM_DATACITE_PASSWORD": password,
        "OPENEM_DATACITE_TIMEOUT": "1",
    }


@pytest.fixture
def datacite(fake_datacite_server: FakeDataCite, settings: Any) -> FakeDataCite:
    """DOIs on, against a fresh fake DataCite."""
    fake_datacite_server.reset()
    for name, value in datacite_settings(fake_datacite_server).items():
        setattr(settings, name, float(value) if name.endswith("TIMEOUT") else value)
    return fake_datacite_server
