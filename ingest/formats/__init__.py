"""Binary format readers for ingest: detect a file's format and read its header.

``extract(source, name_hint)`` is the one entry point: it detects the format from the bytes
(the name is only a hint), runs the matching reader and always returns a
:class:`FormatResult`; whatever goes wrong becomes a sentence in ``result.errors``.
"""

from __future__ import annotations

import importlib
import logging

from ingest.formats import eer, mrc, tiff
from ingest.formats.base import HEAD_BYTES, FileFormat, FormatResult, ThumbnailPlan, quantity
from ingest.formats.detect import Detection, detect, detect_format
from storage import StorageError
from storage.base import ByteSource
from storage.sources import BytesSource, CachedSource

__all__ = [
    "Detection",
    "FileFormat",
    "FormatResult",
    "ThumbnailPlan",
    "detect",
    "detect_format",
    "extract",
    "quantity",
]

logger = logging.getLogger(__name__)

#: Files up to this size are fetched whole in one request and parsed from memory.
WHOLE_FILE_BYTES = 1024 * 1024


def _view(source: ByteSource) -> CachedSource:
    """One request for small files; a block cache (first block = header) for large ones."""
    if 0 < source.size <= WHOLE_FILE_BYTES:
        return CachedSource(BytesSource(source.read_at(0, source.size)))
    return CachedSource(source, block_size=HEAD_BYTES)


def extract(source: ByteSource, name_hint: str = "") -> FormatResult:
    """Detect and read ``source``; never writes, reads only headers, and raises nothing but
    storage errors (a file's own problems become ``errors`` on the result)."""
    try:
        return _extract(_view(source), name_hint)
    except StorageError:
        raise  # a missing object or an unreachable server is not a property of the file
    except Exception as exc:
        logger.warning("format extraction failed for %s", name_hint, exc_info=True)
        return FormatResult(
            format=FileFormat.OTHER, errors=[f"could not read file: {exc or type(exc).__name__}"]
        )


def _extract(view: CachedSource, name_hint: str) -> FormatResult:
    detection = detect(view, name_hint)
    if detection.container == "mrc":
        if detection.codec:
            result = mrc.extract_compressed(view, detection.codec, name_hint)
        else:
            result = mrc.extract(view, name_hint)
    elif detection.container == "tiff":
        result = tiff.extract(view, name_hint)
    elif detection.container == "eer":
        result = eer.extract(view, name_hint)
    elif detection.format in (FileFormat.EPU_XML, FileFormat.MDOC):
        result = _delegate(view, name_hint, detection)
    else:
        result = FormatResult(format=FileFormat.OTHER, header={"container": detection.container})
        if detection.problem:
            result.errors.append(detection.problem)
    result.header.setdefault("file_size", view.size)
    result.header["detected_as"] = detection.reason
    return result


def _delegate(view: CachedSource, name_hint: str, detection: Detection) -> FormatResult:
    """EPU XML and mdoc parsing live in their own modules (``epu.py``, ``mdoc.py``): use their
    ``extract(source, name_hint)`` when present, else report the detection alone."""
    module_name = "epu" if detection.format == FileFormat.EPU_XML else "mdoc"
    try:
        module = importlib.import_module(f"ingest.formats.{module_name}")
    except ImportError:
        module = None
    reader = getattr(module, "extract", None)
    if callable(reader):
        result = reader(view, name_hint)
        if isinstance(result, FormatResult):
            return result
    return FormatResult(format=detection.format, header={"container": detection.container})
