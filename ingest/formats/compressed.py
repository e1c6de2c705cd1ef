"""Peeking into gzip/bzip2-compressed maps without decompressing them whole.

EMDB distributes maps as ``.map.gz``; a header needs only the first kilobytes of the
decompressed stream, so we feed the decompressor ranged reads until it has produced enough
and stop. The output is capped, so a decompression bomb costs no more than a normal map.
"""

from __future__ import annotations

import bz2
import struct
import zlib
from collections.abc import Iterator
from typing import Protocol

from ingest.formats.base import FormatError
from storage.base import ByteSource

GZIP_MAGIC = b"\x1f\x8b"
BZIP2_MAGIC = b"BZh"
#: Compressed bytes per read: small first (the cached head), then big steps, because a bzip2
#: block (up to 900 kB of input) yields no output at all until it is complete.
READ_STEPS = (64 * 1024, 1024 * 1024)
#: Never read more compressed input than this for a header.
MAX_INPUT_FOR_HEADER = 4 * 1024 * 1024


class _Decompressor(Protocol):
    def decompress(self, data: bytes, max_length: int = ...) -> bytes: ...


def codec_of(head: bytes) -> str | None:
    """``"gzip"``, ``"bzip2"`` or None, from the magic bytes."""
    if head.startswith(GZIP_MAGIC) and len(head) >= 3 and head[2] == 8:  # 8 = deflate
        return "gzip"
    if head.startswith(BZIP2_MAGIC) and len(head) >= 10 and head[3:4].isdigit():
        return (
            "bzip2"
            if head[4:10] in (b"\x31\x41\x59\x26\x53\x59", b"\x17\x72\x45\x38\x50\x90")
            else None
        )
    return None


def _decompressor(codec: str) -> _Decompressor:
    if codec == "gzip":
        return zlib.decompressobj(wbits=31)  # 31: expect a gzip wrapper
    if codec == "bzip2":
        return bz2.BZ2Decompressor()
    raise ValueError(f"unknown codec {codec}")


def _compressed_chunks(source: ByteSource, limit: int) -> Iterator[bytes]:
    offset, step_index = 0, 0
    while offset < min(source.size, limit):
        step = READ_STEPS[min(step_index, len(READ_STEPS) - 1)]
        chunk = source.read_at(offset, min(step, limit - offset))
        if not chunk:
            return
        yield chunk
        offset += len(chunk)
        step_index += 1


def decompressed_prefix(
    source: ByteSource, codec: str, length: int, *, max_input: int = MAX_INPUT_FOR_HEADER
) -> bytes:
    """The first ``length`` bytes of the decompressed stream (fewer if it is shorter).

    Raises :class:`FormatError` for corrupt streams: ``zlib.error``/``OSError`` messages are
    not for people.
    """
    decompressor = _decompressor(codec)
    out = bytearray()
    try:
        for chunk in _compressed_chunks(source, max_input):
            out += decompressor.decompress(chunk, length - len(out))
            if len(out) >= length:
                break
            if getattr(decompressor, "eof", False):
                break
    except (zlib.error, OSError, EOFError, ValueError) as exc:
        if out:
            return bytes(out)  # damaged further on; the prefix may still hold a header
        raise FormatError(f"the {codec} stream is corrupt ({exc})") from exc
    return bytes(out[:length])


def gzip_trailer_size(source: ByteSource) -> int | None:
    """ISIZE from the gzip trailer: the uncompressed size modulo 2**32 (last member only)."""
    if source.size < 18:
        return None
    tail = source.read_at(source.size - 4, 4)
    return struct.unpack("<I", tail)[0] if len(tail) == 4 else None
