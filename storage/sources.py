"""Ranged reading: byte sources over stored objects, bytes and local files, block caches, and a
seekable file object that mrcfile/tifffile parse from without downloading a whole object."""

from __future__ import annotations

import io
import os
from collections import OrderedDict
from pathlib import Path
from typing import Any

from storage.base import ByteSource, ObjectStore, ReadStats

#: The block of :class:`CachedSource`: an MRC header plus the first FEI record, a TIFF header
#: plus a first IFD written near the start, an EER metadata block.
CACHE_BLOCK_SIZE = 64 * 1024


class ObjectSource:
    """A :class:`ByteSource` over one stored object, counting requests and bytes."""

    def __init__(self, store: ObjectStore, key: str, size: int | None = None):
        self.store = store
        self.key = key
        self.size = store.size(key) if size is None else size
        self.stats = ReadStats()

    def read_at(self, offset: int, length: int) -> bytes:
        length = max(0, min(length, self.size - offset))
        if length == 0:
            return b""
        self.stats.requests += 1
        data = self.store.read(self.key, offset, length)
        self.stats.bytes_read += len(data)
        return data


class BytesSource:
    """A :class:`ByteSource` over bytes already in memory (small files, decompressed heads)."""

    def __init__(self, data: bytes):
        self._data = data
        self.size = len(data)
        self.stats = ReadStats()

    def read_at(self, offset: int, length: int) -> bytes:
        self.stats.requests += 1
        chunk = self._data[offset : offset + length]
        self.stats.bytes_read += len(chunk)
        return chunk


class FileSource:
    """A :class:`ByteSource` over a local file (used by ``inspect_files``)."""

    def __init__(self, path: str | os.PathLike[str]):
        self.path = Path(path)
        self.size = self.path.stat().st_size
        self.stats = ReadStats()

    def read_at(self, offset: int, length: int) -> bytes:
        self.stats.requests += 1
        with open(self.path, "rb") as handle:
            handle.seek(offset)
            chunk = handle.read(length)
        self.stats.bytes_read += len(chunk)
        return chunk


class RangedFile(io.RawIOBase):
    """A read-only, seekable file over a :class:`ByteSource` with an LRU block cache.

    mrcfile and tifffile parse from it; each cache miss is one ranged read of ``block_size``
    bytes (the first read also prefetches ``head_size`` bytes, enough for most headers).
    """

    def __init__(
        self,
        source: ByteSource,
        *,
        block_size: int = 256 * 1024,
        max_blocks: int = 64,
    ):
        super().__init__()
        self.source = source
        self.block_size = block_size
        self.max_blocks = max_blocks
        self._blocks: OrderedDict[int, bytes] = OrderedDict()
        self._pos = 0
        self.name = getattr(source, "key", "<ranged>")

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def writable(self) -> bool:
        return False

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        if whence == io.SEEK_SET:
            pos = offset
        elif whence == io.SEEK_CUR:
            pos = self._pos + offset
        elif whence == io.SEEK_END:
            pos = self.source.size + offset
        else:
            raise ValueError(f"invalid whence {whence}")
        if pos < 0:
            raise OSError("negative seek position")
        self._pos = pos
        return pos

    def _block(self, index: int) -> bytes:
        block = self._blocks.get(index)
        if block is None:
            block = self.source.read_at(index * self.block_size, self.block_size)
            self._blocks[index] = block
            if len(self._blocks) > self.max_blocks:
                self._blocks.popitem(last=False)
        else:
            self._blocks.move_to_end(index)
        return block

    def read(self, size: int | None = -1) -> bytes:
        end = (
            self.source.size
            if size is None or size < 0
            else min(self._pos + size, self.source.size)
        )
        if self._pos >= end:
            return b""
        length = end - self._pos
        if length > self.block_size * self.max_blocks // 2:
            # Large reads (pixel data) bypass the cache: one request, no copy churn.
            data = self.source.read_at(self._pos, length)
        else:
            pieces = []
            pos = self._pos
            while pos < end:
                index, offset = divmod(pos, self.block_size)
                block = self._block(index)
                piece = block[offset : offset + (end - pos)]
                if not piece:
                    break
                pieces.append(piece)
                pos += len(piece)
            data = b"".join(pieces)
        self._pos += len(data)
        return data

    def readinto(self, buffer: Any) -> int:
        # tifffile passes numpy arrays: len() of a 2-D array is its row count, so go by bytes.
        view = memoryview(buffer).cast("B")
        data = self.read(view.nbytes)
        view[: len(data)] = data
        return len(data)

    def write(self, *_args: Any) -> int:
        raise io.UnsupportedOperation("read-only")


def open_ranged(store: ObjectStore, key: str, **kwargs: Any) -> RangedFile:
    return RangedFile(ObjectSource(store, key), **kwargs)


class CachedSource:
    """A :class:`ByteSource` wrapper that caches aligned blocks of small reads.

    Detection, mrcfile and tifffile all look at the same first kilobytes; fetching them once
    keeps a header to one request on object storage. Large reads (pixel data) pass through.
    """

    def __init__(
        self, source: ByteSource, *, block_size: int = CACHE_BLOCK_SIZE, max_blocks: int = 16
    ):
        self.source = source
        self.size = source.size
        self.block_size = block_size
        self.max_blocks = max_blocks
        self._blocks: OrderedDict[int, bytes] = OrderedDict()

    def read_at(self, offset: int, length: int) -> bytes:
        if offset < 0 or length < 0:
            raise ValueError("offset and length must be >= 0")
        end = min(offset + length, self.size)
        if offset >= end:
            return b""
        first, last = offset // self.block_size, (end - 1) // self.block_size
        if last - first + 1 > self.max_blocks // 2:
            return self.source.read_at(offset, end - offset)
        self._fetch_missing(first, last)
        data = b"".join(self._blocks[index] for index in range(first, last + 1))
        start = offset - first * self.block_size
        return data[start : start + (end - offset)]

    def _fetch_missing(self, first: int, last: int) -> None:
        missing = [index for index in range(first, last + 1) if index not in self._blocks]
        if missing:
            # One request for the whole missing span, split into blocks afterwards.
            lo, hi = missing[0], missing[-1]
            data = self.source.read_at(lo * self.block_size, (hi - lo + 1) * self.block_size)
            for index in range(lo, hi + 1):
                piece = data[(index - lo) * self.block_size : (index - lo + 1) * self.block_size]
                self._blocks[index] = piece
        for index in range(first, last + 1):
            self._blocks.move_to_end(index)
        while len(self._blocks) > self.max_blocks:
            self._blocks.popitem(last=False)


def ranged_file(source: CachedSource) -> RangedFile:
    """A read-only file object for mrcfile/tifffile whose blocks match the source's cache."""
    return RangedFile(source, block_size=source.block_size)
