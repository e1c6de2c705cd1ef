"""The fake DataCite server (tests/support/fake_datacite.py) in its own process on loopback,
and the portal's settings pointed at it. The portal reaches it over HTTP exactly as it would
reach DataCite: nothing in the HTTP client is patched."""

from __future__ import annotations

import contextlib
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.datacite import PASSWORD, PREFIX, REPOSITORY_ID, FakeDataCite, datacite_settings

SERVER = Path(__file__).resolve().parent.parent / "support" / "fake_datacite.py"


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


@pytest.fixture
def datacite(fake_datacite_server: FakeDataCite, settings: Any) -> FakeDataCite:
    """DOIs on, against a fresh fake DataCite."""
    fake_datacite_server.reset()
    for name, value in datacite_settings(fake_datacite_server).items():
        setattr(settings, name, float(value) if name.endswith("TIMEOUT") else value)
    return fake_datacite_server
