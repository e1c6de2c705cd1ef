"""Helpers of the CLI tests (also used by the fault tests): the ``cli(...)`` runner against the
live server and its :class:`Result`, API tokens for the personas, and files of known sizes."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from django.db import connection

from openem_client import cli as openem_cli
from repository import tokens
from repository.models import DataFile, TokenScope
from storage import get_store

MiB = 1024 * 1024


@dataclass
class Result:
    code: int
    out: str
    err: str

    def json(self) -> Any:
        return json.loads(self.out)


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


def local_checksums(root: Path) -> dict[str, str]:
    return {
        path.relative_to(root).as_posix(): sha256_of(path)
        for path in sorted(root.rglob("*"))
        if path.is_file()
    }


def stored_sha256(datafile: DataFile) -> str:
    import hashlib

    digest = hashlib.sha256()
    for chunk in get_store().iter_chunks(datafile.storage_key):
        digest.update(chunk)
    return digest.hexdigest()
