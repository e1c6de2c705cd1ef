"""Fixtures for the CLI tests: the portal served over HTTP by pytest-django's ``live_server``
(transactional database; ingest runs in-process in the server thread), API tokens for the
personas, and a ``cli(...)`` runner that calls ``openem_client.cli.main`` in-process."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from django.core.cache import cache
from django.db import connection

from openem.celery import app as celery_app
from openem_client import cli as openem_cli
from repository import tokens
from repository.models import TokenScope

MiB = 1024 * 1024


@dataclass
class Result:
    code: int
    out: str
    err: str

    def json(self) -> Any:
        return json.loads(self.out)


@pytest.fixture(autouse=True)
def _isolated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    """No config, state or credentials of the machine running the tests; no throttle history."""
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    monkeypatch.delenv("OPENEM_URL", raising=False)
    monkeypatch.delenv("OPENEM_TOKEN", raising=False)
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def eager() -> Iterator[None]:
    """Ingest runs when a file is stored (in the live server's thread), as in the embedded
    default."""
    previous = celery_app.conf.task_always_eager
    celery_app.conf.task_always_eager = True
    yield
    celery_app.conf.task_always_eager = previous


@pytest.fixture
def builtin_schemas(transactional_db: Any) -> None:
    """The built-in metadata schemas, which a data migration loads but a transactional test's
    flush removes; ingest validates a settled dataset against them."""
    from metadata.registry import schema_load_builtins

    schema_load_builtins()


@pytest.fixture
def token_for(world: Any) -> Callable[..., str]:
    def make(persona: str, scope: str = TokenScope.READ_WRITE) -> str:
        _token, secret = tokens.token_create(
            user=world[persona], name=f"cli {persona}", scope=scope
        )
        return secret

    return make


@pytest.fixture
def cli(live_server: Any, capsys: pytest.CaptureFixture[str]) -> Callable[..., Result]:
    """``cli("search", "x", token=...)``: run ``openem`` against the live server."""

    def run(*args: str, token: str | None = None, server: str | None = None) -> Result:
        argv = ["--server", server or live_server.url, "--retries", "2"]
        if token:
            argv += ["--token", token]
        # The live server's threads share one in-memory SQLite connection, so concurrent
        # requests would mix their transactions: one request at a time there. PostgreSQL (CI)
        # runs the default parallelism.
        sqlite = connection.vendor == "sqlite"
        if sqlite and args[0] in ("upload", "download") and "--parallel" not in args:
            args = (*args, "--parallel", "1")
        capsys.readouterr()
        code = openem_cli.main([*argv, *args])
        captured = capsys.readouterr()
        assert "Traceback" not in captured.err, captured.err
        return Result(code, captured.out, captured.err)

    return run


def sha256_of(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def write_file(path: Path, size: int, seed: int = 0) -> Path:
    """``size`` bytes that differ from file to file (so that checksums tell them apart)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    block = hashlib.sha256(f"{seed}".encode()).digest() * 4096  # 128 KiB
    with open(path, "wb") as handle:
        written = 0
        counter = 0
        while written < size:
            piece = (counter.to_bytes(8, "little") + block)[: size - written]
            handle.write(piece)
            written += len(piece)
            counter += 1
    return path


@pytest.fixture
def session_folder(tmp_path: Path) -> Path:
    """A small microscope session: a file of three 5 MiB parts and two small ones."""
    root = tmp_path / "Session_1"
    write_file(root / "Maps" / "big.bin", 11 * MiB + 12345, seed=1)
    write_file(root / "notes.txt", 2000, seed=2)
    write_file(root / "Images-Disc1" / "GridSquare_1" / "frames.dat", 300_000, seed=3)
    return root
