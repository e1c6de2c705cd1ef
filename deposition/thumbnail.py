"""The entry thumbnail the archives show: a PNG of at least 400 x 400 pixels, from the data.

The format readers already know where one representative section of a file lies (a
micrograph, a movie's first frames, a volume's middle slice), so the picture costs a few ranged
reads of one stored file. Small images are enlarged: EMPIAR asks for 400 x 400 at least.
"""

from __future__ import annotations

import io
import logging
from dataclasses import dataclass

from PIL import Image

import storage
from ingest.formats import extract
from ingest.thumbnails import render_thumbnail
from repository.models import DataFile

logger = logging.getLogger(__name__)

MIN_SIZE = 400
TARGET_SIZE = 512


@dataclass(frozen=True)
class EntryThumbnail:
    png: bytes | None
    width: int
    height: int
    source: str  # which file and which part of it, or why there is none


def square_png(png: bytes, size: int = TARGET_SIZE) -> tuple[bytes, int, int]:
    """The centre square of an image, scaled to ``size`` x ``size`` (enlarged if small)."""
    picture = Image.open(io.BytesIO(png)).convert("L")
    side = min(picture.width, picture.height)
    left, top = (picture.width - side) // 2, (picture.height - side) // 2
    picture = picture.crop((left, top, left + side, top + side))
    picture = picture.resize((size, size), Image.Resampling.LANCZOS)
    out = io.BytesIO()
    picture.save(out, format="PNG", optimize=True)
    return out.getvalue(), size, size


def entry_thumbnail(datafile: DataFile | None) -> EntryThumbnail:
    """A square PNG of ``TARGET_SIZE`` pixels from one stored image file."""
    if datafile is None:
        return EntryThumbnail(None, 0, 0, "no image file to make a thumbnail from")
    store = storage.get_store()
    try:
        source = storage.ObjectSource(store, datafile.storage_key, size=datafile.size)
        result = extract(source, datafile.path)
        rendered = render_thumbnail(source, result, max_size=1024)
    except storage.StorageError as exc:
        return EntryThumbnail(None, 0, 0, f"{datafile.path}: {exc}")
    if rendered.png is None:
        return EntryThumbnail(None, 0, 0, f"{datafile.path}: {rendered.reason}")
    png, width, height = square_png(rendered.png)
    assert width >= MIN_SIZE and height >= MIN_SIZE
    return EntryThumbnail(png, width, height, f"{datafile.path} ({rendered.reason})")
