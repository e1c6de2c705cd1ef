"""Fixtures for the format reader tests: file factories, counting sources, a bad-file corpus.

Everything is generated on the fly (mrcfile, tifffile, a few hand-made bytes), so the tests
run without the real samples; the conformance suite uses those when OPENEM_SAMPLES_DIR (or
``<repo>/../shared/samples``) exists and skips, saying so, when it does not.
"""

from __future__ import annotations

import bz2
import gzip
import io
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import tifffile

from tests.support.formats import (
    BAD_FILE_CASES,
    CountingSource,
    bad_files,
    eer_bytes,
    eer_encode,
    eer_xml,
    fei_records,
    frame_events,
    mrc_bytes,
    patch_header,
)

REPO_ROOT = Path(__file__).resolve().parents[3]


# ---------------------------------------------------------------------------------------------
# Sources


@pytest.fixture
def counting() -> type[CountingSource]:
    return CountingSource


def source_of(path: Path) -> CountingSource:
    return CountingSource(path.read_bytes())


@pytest.fixture
def open_source() -> Callable[[Path], CountingSource]:
    return source_of


# ---------------------------------------------------------------------------------------------
# Samples


@pytest.fixture(scope="session")
def samples_dir() -> Path:
    configured = os.environ.get("OPENEM_SAMPLES_DIR")
    path = Path(configured) if configured else REPO_ROOT.parent / "shared" / "samples"
    if not (path / "mrc").is_dir():
        pytest.skip(f"OpenEM samples not found at {path}: set OPENEM_SAMPLES_DIR")
    return path


# ---------------------------------------------------------------------------------------------
# MRC


# ---------------------------------------------------------------------------------------------
# EER


@pytest.fixture(scope="session")
def eer_10000_frames() -> bytes:
    return eer_bytes(frames=10_000, width=64, height=64, patch_all=False)


# ---------------------------------------------------------------------------------------------
# Factory fixture


class Make:
    """File factories bound to a test's tmp dir; each returns the file's bytes."""

    def __init__(self, tmp: Path):
        self.tmp = tmp
        self.fei_records = fei_records
        self.patch_header = patch_header
        self.eer = eer_bytes
        self.eer_xml = eer_xml
        self.eer_encode = eer_encode
        self.frame_events = frame_events

    def mrc(self, data: np.ndarray, **kwargs: object) -> bytes:
        return mrc_bytes(data, tmp=self.tmp, **kwargs)  # type: ignore[arg-type]

    def tiff(self, data: np.ndarray, **kwargs: object) -> bytes:
        buffer = io.BytesIO()
        tifffile.imwrite(buffer, data, **kwargs)
        return buffer.getvalue()

    def gzip(self, raw: bytes) -> bytes:
        return gzip.compress(raw, mtime=0)

    def bzip2(self, raw: bytes) -> bytes:
        return bz2.compress(raw)

    def write(self, name: str, raw: bytes) -> Path:
        path = self.tmp / name
        path.write_bytes(raw)
        return path


@pytest.fixture
def make(tmp_path: Path) -> Make:
    return Make(tmp_path)


# ---------------------------------------------------------------------------------------------
# Corpus of bad files: each must end in a FormatResult with a clear error, never an exception


@dataclass(frozen=True)
class BadFile:
    path: Path
    expected_format: str
    expected_error: str


@pytest.fixture(params=BAD_FILE_CASES)
def bad_file(request: pytest.FixtureRequest, tmp_path: Path) -> BadFile:
    corpus = bad_files(tmp_path)
    file_name, raw, expected_format, expected_error = corpus[request.param]
    path = tmp_path / file_name
    path.write_bytes(raw)
    return BadFile(path, expected_format, expected_error)


@pytest.fixture
def bad_corpus_cases(tmp_path: Path) -> tuple[set[str], set[str]]:
    """(the cases the fixture runs, the cases the corpus builds): must not drift apart."""
    return set(BAD_FILE_CASES), set(bad_files(tmp_path))
