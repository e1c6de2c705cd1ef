"""The OpenID Connect provider of the tests (``tests/accounts/oidc_provider.py``: the
``oidc-provider-mock`` package plus PKCE and fault switches) in its own process on a free
loopback port (``oidc_server``), and the portal configured with it as SWITCH edu-ID and as
ORCID (``providers``, ``oidc_apps``)."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

import pytest
import requests

from tests.services import ROOT

ORCID_ID = "0000-0002-1825-0097"  # ORCID's own example iD (valid check digit)


@dataclass
class OIDCServer:
    url: str
    process: subprocess.Popen[bytes]
    log: Path

    def fault(self, id_token: str) -> None:
        response = requests.post(f"{self.url}/_test/fault", json={"id_token": id_token}, timeout=5)
        response.raise_for_status()

    def set_user(self, sub: str, claims: dict[str, Any]) -> None:
        response = requests.put(f"{self.url}/users/{sub}", json=claims, timeout=5)
        response.raise_for_status()

    def authorize(self, authorize_url: str, sub: str) -> str:
        """Answer the provider's authorization page as a person would (its form: ``sub``),
        and return where the provider sends the browser back to (the portal's callback)."""
        page = requests.get(authorize_url, timeout=5)
        assert page.status_code == 200, page.text
        answer = requests.post(authorize_url, data={"sub": sub}, allow_redirects=False, timeout=5)
        assert answer.status_code in (302, 303), answer.text
        return str(answer.headers["Location"])


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="session")
def oidc_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OIDCServer]:
    port = _free_port()
    log = tmp_path_factory.mktemp("oidc") / "provider.log"
    with log.open("wb") as out:
        process = subprocess.Popen(  # noqa: S603
            [sys.executable, "-m", "tests.accounts.oidc_provider", "--port", str(port)],
            cwd=ROOT,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    server = OIDCServer(url=f"http://127.0.0.1:{port}", process=process, log=log)
    deadline = time.monotonic() + 30
    while True:
        try:
            if requests.get(f"{server.url}/.well-known/openid-configuration", timeout=2).ok:
                break
        except requests.ConnectionError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            raise RuntimeError(f"the OIDC provider did not start: {log.read_text()}")
        time.sleep(0.1)
    yield server
    process.terminate()
    try:
        process.wait(10)
    except subprocess.TimeoutExpired:
        process.kill()


def oidc_apps(url: str, names: tuple[str, ...] = ("eduid", "orcid")) -> dict[str, Any]:
    labels = {"eduid": "SWITCH edu-ID", "orcid": "ORCID"}
    scopes = {"eduid": ["openid", "profile", "email", "swissEduIDBase"], "orcid": ["openid"]}
    return {
        "openid_connect": {
            "OAUTH_PKCE_ENABLED": True,
            "APPS": [
                {
                    "provider_id": name,
                    "name": labels[name],
                    "client_id": f"openem-{name}",
                    "secret": f"{name}-secret",
                    "settings": {
                        "server_url": f"{url}/.well-known/openid-configuration",
                        "scope": scopes[name],
                        "oauth_pkce_enabled": True,
                        "kind": name,
                    },
                }
                for name in names
            ],
        }
    }


@pytest.fixture
def providers(oidc_server: OIDCServer, settings: Any) -> Iterator[OIDCServer]:
    """The portal with edu-ID and ORCID pointing at the test provider; no fault."""
    settings.SOCIALACCOUNT_PROVIDERS = oidc_apps(oidc_server.url)
    oidc_server.fault("")
    yield oidc_server
    oidc_server.fault("")


def query(url: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlparse(url).query).items()}


def path_of(url: str) -> str:
    parsed = urlparse(url)
    return f"{parsed.path}?{parsed.query}" if parsed.query else parsed.path
