"""Grayscale PNG previews of micrographs, movies, maps and EER frames.

The format reader already located one representative section (a
:class:`~ingest.formats.base.ThumbnailPlan`), so an MRC preview costs one ranged read of that
section, never the file. Movies (EER, TIFF stacks) are the sum of their first frames, read one
frame at a time and binned as they arrive, because a single counting frame is a few electrons
per pixel and shows nothing. Contrast is clipped at the 1st/99th percentile, because a few
hot pixels or a carbon edge would otherwise leave the image black.
"""

from __future__ import annotations

import io
import logging
from dataclasses import dataclass
from typing import Any

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
#: TIFF movies: sum at most this many pages (EPU writes tens to hundreds of fractions).
MAX_TIFF_FRAMES = 60
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
        image, what = _load(source, plan, max_size)
    except Exception as exc:
        logger.warning("thumbnail failed", exc_info=True)
        return Thumbnail(None, f"could not read pixels: {exc or type(exc).__name__}")
    if image is None:
        return Thumbnail(None, what)
    png, width, height = to_png(image, max_size)
    return Thumbnail(png, what, width, height)


def _load(source: ByteSource, plan: ThumbnailPlan, max_size: int) -> tuple[np.ndarray | None, str]:
    if plan.kind == "raw_slice":
        return _raw_slice(source, plan), plan.description
    if plan.kind == "tiff_page":
        return _tiff_page(source, max_size)
    if plan.kind == "eer_frames":
        return _eer_sum(source, plan, max_size)
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


def _tiff_page(source: ByteSource, max_size: int) -> tuple[np.ndarray | None, str]:
    """A single image as it is; a stack of movie frames as the sum of its first pages."""
    with open_tiff(CachedSource(source, block_size=PIXEL_BLOCK_SIZE, max_blocks=32)) as tif:
        page = tif.pages.first
        if page.dtype is None:
            return None, f"first page has an undecodable pixel type ({page.bitspersample} bits)"
        if page.size * page.dtype.itemsize > MAX_TIFF_PAGE_BYTES:
            return None, f"first page too large for a preview ({page.shape})"
        if page.samplesperpixel == 1 and len(page.shape) == 2:
            return _tiff_sum(tif, max_size)
        array = np.asarray(page.asarray())
    if array.ndim == 3:  # samples last (RGB): preview the luminance
        array = array.astype(np.float32).mean(axis=-1)
    return array.astype(np.uint8) if array.dtype == bool else array, "first page"


def _tiff_sum(tif: Any, max_size: int) -> tuple[np.ndarray | None, str]:
    """Sum pages of the first page's shape, one at a time, each binned on arrival: a movie's
    single frame is a few counts per pixel, noise; the sum shows the specimen."""
    first = tif.pages.first
    shape, dtype = first.shape, first.dtype
    total = MovieSum(shape, max_size)
    pages = tif.pages
    pages.cache = False  # keep one decoded page at a time, not the whole movie
    index = 0
    while index < MAX_TIFF_FRAMES:
        try:
            page = first if index == 0 else pages[index]
        except IndexError:
            break
        if page.shape != shape or page.dtype != dtype:
            break  # a thumbnail or an integrated image of another shape ends the frames
        total.add(np.asarray(page.asarray()))
        index += 1
    if total.count == 1:
        return total.image, "first page"
    return total.image, f"sum of the first {total.count} pages"


class MovieSum:
    """Frames summed after binning, so memory is one frame plus a ``max_size`` square image,
    whatever the movie's length or frame size."""

    def __init__(self, shape: tuple[int, ...], max_size: int):
        height, width = int(shape[0]), int(shape[1])
        self.factor = max(1, max(height, width) // max_size)
        self.height, self.width = height // self.factor, width // self.factor
        self.total = np.zeros((self.height, self.width), dtype=np.float64)
        self.count = 0

    def add(self, frame: np.ndarray) -> None:
        factor = self.factor
        cut = frame[: self.height * factor, : self.width * factor]
        if cut.dtype == bool:
            cut = cut.view(np.uint8)
        if factor == 1:
            self.total += cut
        else:
            blocks = cut.reshape(self.height, factor, self.width, factor)
            self.total += blocks.sum(axis=(1, 3), dtype=np.uint32 if cut.itemsize < 4 else None)
        self.count += 1

    @property
    def image(self) -> np.ndarray:
        return self.total


def _eer_sum(
    source: ByteSource, plan: ThumbnailPlan, max_size: int
) -> tuple[np.ndarray | None, str]:
    try:
        import imagecodecs  # noqa: F401
    except ImportError:
        return None, "EER preview needs imagecodecs, which is not installed"
    wanted = min(plan.frames, MAX_EER_FRAMES) if plan.frames > 0 else MAX_EER_FRAMES
    total = MovieSum((plan.height, plan.width), max_size)
    for frame in eer.iter_frames(
        CachedSource(source, block_size=PIXEL_BLOCK_SIZE, max_blocks=32), wanted
    ):
        total.add(frame)
    if total.count == 0:
        return None, "no EER frames found"
    of_total = f" of {plan.frames}" if plan.frames > 0 else ""
    return total.image, f"sum of the first {total.count}{of_total} frames"


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
