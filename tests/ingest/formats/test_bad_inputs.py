"""The corpus of bad files (conftest): each ends in a clear error, quickly, without an
exception escaping and without touching the file."""

from __future__ import annotations

import hashlib
import time

import numpy as np

from ingest.formats import FileFormat, extract, mrc
from ingest.thumbnails import render_thumbnail
from storage import FileSource


def test_bad_file_ends_in_a_clear_error(bad_file):
    before = hashlib.sha256(bad_file.path.read_bytes()).hexdigest()
    started = time.monotonic()
    result = extract(FileSource(bad_file.path), bad_file.path.name)
    elapsed = time.monotonic() - started
    assert result.format == bad_file.expected_format
    assert any(bad_file.expected_error in error for error in result.errors), result.errors
    assert all("Traceback" not in error for error in result.errors)
    assert elapsed < 5
    assert hashlib.sha256(bad_file.path.read_bytes()).hexdigest() == before
    thumbnail = render_thumbnail(FileSource(bad_file.path), result)
    # A truncated volume may still hold its middle section; otherwise the reason is the error.
    assert thumbnail.png is not None or result.errors[0] in thumbnail.reason


def test_every_corpus_file_is_exercised(bad_corpus_cases):
    run, built = bad_corpus_cases
    assert run == built


def test_unexpected_exception_inside_a_reader_becomes_an_error(counting, make, monkeypatch):
    def explode(stream):
        raise RuntimeError("boom")

    monkeypatch.setattr(mrc, "_parse_header", explode)
    result = extract(counting(make.mrc(np.zeros((4, 4), np.float32))), "a.mrc")
    assert result.errors == ["could not read MRC header: boom"]
    assert result.format == FileFormat.MRC


def test_failing_source_becomes_an_error(counting):
    class Vanishing:
        size = 10_000_000

        def read_at(self, offset, length):
            raise OSError("object vanished")

    result = extract(Vanishing(), "gone.mrc")
    assert (result.format, result.errors) == (
        FileFormat.OTHER,
        ["could not read file: object vanished"],
    )
