"""Local files: the folder to upload, SHA-256s, reading parts."""

from __future__ import annotations

import base64
import fnmatch
import hashlib
import os
import threading
import zlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from .errors import TransferStopped

HASH_BLOCK = 1024 * 1024


def part_crc32(data: bytes | memoryview) -> str:
    """A part's CRC32 as S3 writes it (4 bytes, big endian, base64): S3 checks the part
    against it on arrival. (zlib releases the GIL on big buffers: parts hash in parallel.)"""
    return base64.b64encode(zlib.crc32(data).to_bytes(4, "big")).decode("ascii")


@dataclass(frozen=True)
class LocalFile:
    path: str  # relative, POSIX
    source: Path
    size: int


def scan_directory(root: Path, *, exclude: Iterable[str] = ()) -> list[LocalFile]:
    """The regular files under ``root`` (symlinks to files followed), sorted by path."""
    patterns = list(exclude)
    found: list[LocalFile] = []
    for directory, subdirectories, names in os.walk(root):
        subdirectories.sort()
        for name in sorted(names):
            source = Path(directory) / name
            relative = source.relative_to(root).as_posix()
            if any(fnmatch.fnmatchcase(relative, pattern) for pattern in patterns):
                continue
            try:
                stat = source.stat()
            except OSError:
                continue  # a broken symlink
            if not source.is_file():
                continue
            found.append(LocalFile(path=relative, source=source, size=stat.st_size))
    found.sort(key=lambda f: f.path)
    return found


def file_sha256(
    path: Path,
    *,
    on_bytes: Callable[[int], None] | None = None,
    stop: threading.Event | None = None,
) -> str:
    """The file's SHA-256, read into one reused buffer (small enough to stay in the CPU cache;
    a fresh block per read costs a page fault per 4 KiB). ``stop`` set: TransferStopped."""
    digest = hashlib.sha256()
    buffer = bytearray(HASH_BLOCK)
    view = memoryview(buffer)
    with open(path, "rb", buffering=0) as handle:
        while count := handle.readinto(buffer):
            digest.update(view[:count])
            if on_bytes:
                on_bytes(count)
            if stop is not None and stop.is_set():
                raise TransferStopped(f"stopped while checksumming {path}")
    return digest.hexdigest()


def _read_into(fd: int, view: memoryview, offset: int) -> int:
    """Fill ``view`` from ``fd`` at ``offset``; the number of bytes read (less only at the end)."""
    done = 0
    while done < len(view):
        count = _pread_into(fd, view[done:], offset + done)
        if not count:
            break
        done += count
    return done


if hasattr(os, "preadv"):

    def _pread_into(fd: int, view: memoryview, offset: int) -> int:
        return os.preadv(fd, [view], offset)

else:  # Windows (EPU's acquisition PCs): no positional reads; seek and read under a lock
    _SEEK_LOCK = threading.Lock()

    def _pread_into(fd: int, view: memoryview, offset: int) -> int:
        with _SEEK_LOCK:
            os.lseek(fd, offset, os.SEEK_SET)
            data = os.read(fd, len(view))
        view[: len(data)] = data
        return len(data)
