"""Grayscale PNG previews of micrographs, movies, maps and EER frames.

The format reader already located one representative section (a
:class:`~ingest.formats.base.ThumbnailPlan`), so an MRC preview costs one ranged read of that
section, never the file. Contrast is clipped at the 1st/99th percentile, because a few hot
pixels or a carbon edge would otherwise leave the image black.
"""

from __future__ import annotations

import io
import logging
from dataclasses import dataclass

import numpy as np
from PIL import Image

from ingest.formats import eer
from ingest.formats.base import FormatResult, ThumbnailPlan
from ingest.formats.compressed import decompressed_prefix
from ingest.formats.tiff import open_tiff
from storage.base import ByteSource
from storage.sources import CachedSource

logger = logging.getLogger(__name__)

#: EER: sum at most this many frames (a 40 s Falcon 4 movie has thousands).
MAX_EER_FRAMES = 200
#: TIFF: refuse first pages larger than this when decoded.
MAX_TIFF_PAGE_BYTES = 256 * 1024 * 1024
#: Reads for TIFF/EER pixel data go through a cache of this block size.
PIXEL_BLOCK_SIZE = 1024 * 1024


@dataclass(frozen=True)
class Thumbnail:
    """The PNG (or None) and, in words, what it shows or why there is none."""

    png: bytes | None
    reason: str
    width: int = 0
    height: int = 0


def make_thumbnail(source: ByteSource, result: FormatResult, max_size: int = 512) -> bytes | None:
    """PNG bytes with the long side at most ``max_size``, or None (the reason is logged)."""
    thumbnail = render_thumbnail(source, result, max_size=max_size)
    if thumbnail.png is None:
        logger.info("no thumbnail: %s", thumbnail.reason)
    return thumbnail.png


def render_thumbnail(source: ByteSource, result: FormatResult, max_size: int = 512) -> Thumbnail:
    """Like :func:`make_thumbnail`, but says why when there is no image."""
    plan = result.thumbnail_plan
    if plan is None:
        if result.errors:
            return Thumbnail(None, f"no preview: {result.errors[0]}")
        return Thumbnail(None, f"no image to preview in a {result.format.value} file")
    try:
        image, what = _load(source, plan)
    except Exception as exc:
        logger.warning("thumbnail failed", exc_info=True)
        return Thumbnail(None, f"could not read pixels: {exc or type(exc).__name__}")
    if image is None:
        return Thumbnail(None, what)
    png, width, height = to_png(image, max_size)
    return Thumbnail(png, what, width, height)


def _load(source: ByteSource, plan: ThumbnailPlan) -> tuple[np.ndarray | None, str]:
    if plan.kind == "raw_slice":
        return _raw_slice(source, plan), plan.description
    if plan.kind == "tiff_page":
        return _tiff_page(source)
    if plan.kind == "eer_frames":
        return _eer_sum(source, plan)
    return None, f"unknown thumbnail kind {plan.kind}"


def _raw_slice(source: ByteSource, plan: ThumbnailPlan) -> np.ndarray:
    """One MRC section, flipped so that y points up as MRC viewers (IMOD) show it."""
    if plan.compression:
        stream = decompressed_prefix(
            source, plan.compression, plan.offset + plan.length, max_input=source.size
        )
        data = stream[plan.offset : plan.offset + plan.length]
    else:
        data = source.read_at(plan.offset, plan.length)
    if len(data) < plan.length:
        raise ValueError(f"section cut off: {len(data)} of {plan.length} bytes")
    return np.flipud(decode_section(data, plan))


def decode_section(data: bytes, plan: ThumbnailPlan) -> np.ndarray:
    """Raw section bytes to a 2-D real array (complex modes become magnitudes)."""
    if plan.pixel_format == "packed4":
        packed = np.frombuffer(data, dtype=np.uint8).reshape(plan.height, -1)
        pixels = np.empty((plan.height, packed.shape[1] * 2), dtype=np.uint8)
        pixels[:, 0::2], pixels[:, 1::2] = packed & 0x0F, packed >> 4  # low nibble first
        return pixels[:, : plan.width]
    array = np.frombuffer(data, dtype=np.dtype(plan.dtype))
    if plan.pixel_format == "complex_int16":
        pairs = array.reshape(-1, 2).astype(np.float32)
        return np.hypot(pairs[:, 0], pairs[:, 1]).reshape(plan.height, plan.width)
    array = array.reshape(plan.height, plan.width)
    return np.abs(array) if np.iscomplexobj(array) else array


def _tiff_page(source: ByteSource) -> tuple[np.ndarray | None, str]:
    with open_tiff(CachedSource(source, block_size=PIXEL_BLOCK_SIZE, max_blocks=32)) as tif:
        page = tif.pages.first
        if page.dtype is None:
            return None, f"first page has an undecodable pixel type ({page.bitspersample} bits)"
        if page.size * page.dtype.itemsize > MAX_TIFF_PAGE_BYTES:
            return None, f"first page too large for a preview ({page.shape})"
        array = np.asarray(page.asarray())
    if array.ndim == 3:  # samples last (RGB): preview the luminance
        array = array.astype(np.float32).mean(axis=-1)
    return array.astype(np.uint8) if array.dtype == bool else array, "first page"


def _eer_sum(source: ByteSource, plan: ThumbnailPlan) -> tuple[np.ndarray | None, str]:
    try:
        import imagecodecs  # noqa: F401
    except ImportError:
        return None, "EER preview needs imagecodecs, which is not installed"
    wanted = min(plan.frames, MAX_EER_FRAMES) if plan.frames > 0 else MAX_EER_FRAMES
    total = np.zeros((plan.height, plan.width), dtype=np.uint32)
    count = 0
    for frame in eer.iter_frames(
        CachedSource(source, block_size=PIXEL_BLOCK_SIZE, max_blocks=32), wanted
    ):
        total += frame
        count += 1
    if count == 0:
        return None, "no EER frames found"
    of_total = f" of {plan.frames}" if plan.frames > 0 else ""
    return total, f"sum of the first {count}{of_total} frames"


def to_png(image: np.ndarray, max_size: int) -> tuple[bytes, int, int]:
    """Bin, clip contrast at the 1st/99th percentile, scale to 8 bits and encode."""
    binned = _bin(image, max_size)
    finite = binned[np.isfinite(binned)]
    low, high = np.percentile(finite, (1, 99)) if finite.size else (0.0, 0.0)
    if high <= low:
        scaled = np.zeros(binned.shape, dtype=np.uint8)
    else:
        scaled = np.clip((binned - low) * (255.0 / (high - low)), 0, 255)
        scaled = np.rint(np.nan_to_num(scaled, nan=0.0)).astype(np.uint8)
    picture = Image.fromarray(scaled, mode="L")
    picture.thumbnail((max_size, max_size), Image.Resampling.LANCZOS)
    out = io.BytesIO()
    picture.save(out, format="PNG", optimize=True)
    return out.getvalue(), picture.width, picture.height


def _bin(image: np.ndarray, max_size: int) -> np.ndarray:
    """Average integer blocks first: resampling 16 M pixels in Pillow is slow, binning is not."""
    factor = max(1, max(image.shape) // max_size)
    if factor == 1:
        return image.astype(np.float32)
    height, width = (image.shape[0] // factor) * factor, (image.shape[1] // factor) * factor
    if height == 0 or width == 0:
        return image.astype(np.float32)
    blocks = image[:height, :width].reshape(height // factor, factor, width // factor, factor)
    return blocks.mean(axis=(1, 3), dtype=np.float32)
