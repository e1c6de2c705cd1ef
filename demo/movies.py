"""Synthetic detector movies for the demo and the tests: real EER and TIFF stacks, written
frame by frame so that a 4096 x 4096 movie never sits in memory whole.

EER frames are coded as Falcon detectors write them (EER 3.0, section 4: runs of
``rle_bits`` skipped pixels, all ones meaning "keep counting", then the event's sub-pixel
bits, least significant bit first), so the portal's reader decodes them with imagecodecs
exactly as it decodes a real movie.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Iterable
from typing import BinaryIO

import numpy as np
import tifffile

#: BigTIFF field types
_SHORT, _LONG, _UNDEFINED, _LONG8 = 3, 4, 7, 16
EER_V1 = 65001


def eer_encode_events(
    pixels: np.ndarray, total: int, rle_bits: int = 7, horizontal: int = 2, vertical: int = 2
) -> bytes:
    """Code sorted, distinct flat pixel indices of one frame as an EER v1 strip (vectorised:
    a 4096 x 4096 frame with 300 000 events takes a few tens of milliseconds)."""
    pixels = np.asarray(pixels, dtype=np.int64)
    longest = (1 << rle_bits) - 1
    ends = np.concatenate(([0], pixels + 1))
    gaps = np.concatenate((pixels, [total])) - ends  # zeros skipped before each event, and last
    full, rest = np.divmod(gaps, longest)
    per_gap = full + 1
    group = np.repeat(np.arange(gaps.size), per_gap)
    last_of_group = np.zeros(group.size, dtype=bool)
    last_of_group[np.cumsum(per_gap) - 1] = True
    is_event = last_of_group & (group < pixels.size)
    event_bits = rle_bits + horizontal + vertical
    values = np.where(last_of_group, rest[group], longest).astype(np.int64)
    values[is_event] |= 1 << rle_bits  # sub-pixel position (1, 0): any value decodes the same
    widths = np.where(is_event, event_bits, rle_bits)
    starts = np.concatenate(([0], np.cumsum(widths)[:-1]))
    bits = np.zeros(int(widths.sum()), dtype=np.uint8)
    for bit in range(event_bits):
        chosen = widths > bit
        bits[starts[chosen] + bit] = (values[chosen] >> bit) & 1
    coded = np.packbits(bits, bitorder="little").tobytes()
    return coded + b"\0" * (len(coded) % 2)  # imagecodecs wants an even byte count


def sample_events(
    rng: np.random.Generator,
    shape: tuple[int, int],
    density: float,
    pattern: Callable[[np.ndarray, np.ndarray], np.ndarray] | None = None,
) -> np.ndarray:
    """Sorted flat indices of about ``density`` events per pixel; ``pattern(y, x)`` in [0, 1]
    thins them where the specimen absorbs (cheap: no per-pixel random field)."""
    total = shape[0] * shape[1]
    candidates = rng.integers(0, total, int(total * density), dtype=np.int64)
    if pattern is not None:
        y, x = np.divmod(candidates, shape[1])
        candidates = candidates[rng.random(candidates.size) < pattern(y, x)]
    return np.unique(candidates)


def write_eer(
    out: BinaryIO, frames: Iterable[np.ndarray], shape: tuple[int, int], metadata_xml: bytes
) -> None:
    """A little-endian BigTIFF of EER v1 frames (one strip each), the metadata XML in tag
    65001 of the first IFD, written strictly forwards: IFD, then its data, then the next."""
    height, width = shape
    out.write(b"II" + struct.pack("<HHHQ", 43, 8, 0, 16))
    position = 16
    frames = iter(frames)
    strip: bytes | None = eer_encode_events(next(frames), width * height)
    first = True
    while strip is not None:
        upcoming = next(frames, None)
        extra = metadata_xml if first else b""
        entries = [
            (256, _LONG, 1, width),
            (257, _LONG, 1, height),
            (258, _SHORT, 1, 1),
            (259, _SHORT, 1, EER_V1),
            (262, _SHORT, 1, 1),
            (273, _LONG8, 1, 0),  # strip offset, filled below
            (277, _SHORT, 1, 1),
            (278, _LONG, 1, height),
            (279, _LONG8, 1, len(strip)),
        ]
        if extra:
            entries.append((65001, _UNDEFINED, len(extra), 0))
        ifd_size = 8 + 20 * len(entries) + 8
        extra_offset = position + ifd_size
        strip_offset = extra_offset + len(extra)
        following = strip_offset + len(strip) if upcoming is not None else 0
        ifd = bytearray(struct.pack("<Q", len(entries)))
        for tag, kind, count, value in entries:
            if tag == 273:
                value = strip_offset
            elif tag == 65001:
                value = extra_offset
            ifd += struct.pack("<HHQQ", tag, kind, count, value)
        ifd += struct.pack("<Q", following)
        out.write(bytes(ifd) + extra + strip)
        position = strip_offset + len(strip)
        strip = None if upcoming is None else eer_encode_events(upcoming, width * height)
        first = False


def write_tiff_movie(
    out: BinaryIO | str, frames: Iterable[np.ndarray], *, compression: str | None = "lzw"
) -> None:
    """A TIFF stack as EPU writes gain-uncorrected movies (LZW, one page per frame), written
    page by page."""
    with tifffile.TiffWriter(out) as writer:
        for frame in frames:
            writer.write(
                frame,
                photometric="minisblack",
                compression=compression,
                software="EPU 3.6 (demo)",
                metadata=None,
                contiguous=False,
            )
