"""Checksum manifests of a dataset's files, generated as a stream.

A dataset may hold 10^6 files: rows are read in keyset pages along the (dataset, path) index
(``selectors.in_path_pages``), only the needed columns, and the output is yielded in blocks of
about 64 KiB, so memory stays flat whatever the size and the first line goes out at once. Paths are relative to the dataset's root, as the
files are laid out by a download, so that ``sha256sum -c <pid>.sha256`` run in that folder checks
them all.

Only files whose SHA-256 is known (computed at ingest) are listed: a manifest is a promise about
content, and a file still being ingested cannot be part of it yet.
"""

from __future__ import annotations

import json
import operator
from collections.abc import Iterable, Iterator
from enum import StrEnum
from typing import Any

from .models import DataFile, Dataset
from .paths import starts_with
from .selectors import in_path_pages

ROW_CHUNK_SIZE = 2000
OUTPUT_BLOCK_SIZE = 64 * 1024


class ManifestFormat(StrEnum):
    SHA256SUM = "sha256sum"  # GNU coreutils: "<sha256>  <path>" per line
    JSON = "json"  # one JSON array of objects
    JSON_LINES = "jsonl"  # one JSON object per line


CONTENT_TYPES = {
    ManifestFormat.SHA256SUM: "text/plain; charset=utf-8",
    ManifestFormat.JSON: "application/json",
    ManifestFormat.JSON_LINES: "application/x-ndjson",
}
FILE_EXTENSIONS = {
    ManifestFormat.SHA256SUM: "sha256",
    ManifestFormat.JSON: "json",
    ManifestFormat.JSON_LINES: "jsonl",
}


def manifest_rows(
    dataset: Dataset, *, prefix: str = "", chunk_size: int = ROW_CHUNK_SIZE
) -> Iterator[tuple[str, int, str, str]]:
    """(path, size, sha256, md5) of the dataset's checksummed files, in path order."""
    files = DataFile.objects.filter(dataset=dataset).exclude(checksum_sha256="")
    if prefix:
        files = files.filter(starts_with("path", prefix))
    rows = files.order_by("path").values_list("path", "size", "checksum_sha256", "checksum_md5")
    yield from in_path_pages(rows, chunk_size=chunk_size, path_of=operator.itemgetter(0))


def sha256sum_line(path: str, sha256: str) -> str:
    """One line as ``sha256sum`` writes it (text mode: two spaces).

    Like coreutils, a name holding a backslash or a line break is escaped and the line starts
    with a backslash (sanitised paths hold neither, but a manifest must never be ambiguous).
    """
    if "\\" in path or "\n" in path or "\r" in path:
        escaped = path.replace("\\", "\\\\").replace("\n", "\\n").replace("\r", "\\r")
        return f"\\{sha256}  {escaped}\n"
    return f"{sha256}  {path}\n"


def _json_object(path: str, size: int, sha256: str, md5: str) -> dict[str, Any]:
    entry: dict[str, Any] = {"path": path, "size": size, "sha256": sha256}
    if md5:
        entry["md5"] = md5
    return entry


def _blocks(pieces: Iterable[str], block_size: int = OUTPUT_BLOCK_SIZE) -> Iterator[bytes]:
    """Group small strings into blocks of about ``block_size`` bytes."""
    buffer: list[bytes] = []
    buffered = 0
    for piece in pieces:
        data = piece.encode()
        buffer.append(data)
        buffered += len(data)
        if buffered >= block_size:
            yield b"".join(buffer)
            buffer, buffered = [], 0
    if buffer:
        yield b"".join(buffer)


def _sha256sum_pieces(rows: Iterable[tuple[str, int, str, str]]) -> Iterator[str]:
    for path, _size, sha256, _md5 in rows:
        yield sha256sum_line(path, sha256)


def _json_lines_pieces(rows: Iterable[tuple[str, int, str, str]]) -> Iterator[str]:
    for row in rows:
        yield json.dumps(_json_object(*row), ensure_ascii=False) + "\n"


def _json_array_pieces(rows: Iterable[tuple[str, int, str, str]]) -> Iterator[str]:
    yield "["
    separator = "\n"
    for row in rows:
        yield separator + json.dumps(_json_object(*row), ensure_ascii=False)
        separator = ",\n"
    yield "\n]\n"


def manifest_stream(
    dataset: Dataset, *, manifest_format: ManifestFormat | str, prefix: str = ""
) -> Iterator[bytes]:
    """The manifest as UTF-8 blocks; nothing is read from the database until iterated."""
    manifest_format = ManifestFormat(manifest_format)
    pieces = {
        ManifestFormat.SHA256SUM: _sha256sum_pieces,
        ManifestFormat.JSON: _json_array_pieces,
        ManifestFormat.JSON_LINES: _json_lines_pieces,
    }[manifest_format]
    return _blocks(pieces(manifest_rows(dataset, prefix=prefix)))


def manifest_filename(dataset: Dataset, manifest_format: ManifestFormat | str) -> str:
    return f"{dataset.pid}.{FILE_EXTENSIONS[ManifestFormat(manifest_format)]}"
