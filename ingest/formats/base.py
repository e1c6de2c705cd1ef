"""What every format reader returns, and the small pieces they share.

Readers are pure functions of a :class:`~storage.base.ByteSource`: they never write, never
download a whole object and never let an exception escape (see :func:`guarded`), because one
odd file must not stop the ingest of a dataset of ten thousand.
"""

from __future__ import annotations

import functools
import logging
import math
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import Any

from storage.base import StorageError

logger = logging.getLogger(__name__)

#: Bytes fetched in one request for detection and headers: an MRC header plus the first FEI
#: record, a TIFF header plus a first IFD written near the start, an EER metadata block.
HEAD_BYTES = 64 * 1024


class FileFormat(StrEnum):
    """File formats the portal recognises; the Django model stores these values."""

    MRC = "mrc"
    MRCS = "mrcs"
    MRC_GZ = "mrc.gz"
    MRC_BZ2 = "mrc.bz2"
    TIFF = "tiff"
    EER = "eer"
    EPU_XML = "epu_xml"
    MDOC = "mdoc"
    GAIN_REF = "gain_ref"
    OTHER = "other"


class FormatError(Exception):
    """A problem with the file's content; ``str()`` is shown to the depositor as is."""


def quantity(value: Any, unit: str) -> dict[str, Any] | None:
    """``{"value": x, "unit": unit}``, or None when the value is missing or not finite.

    Units travel with values so that exports never have to guess whether a number is in
    metres or Angstrom.
    """
    if value is None:
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    if not math.isfinite(number):
        return None
    return {"value": number, "unit": unit}


def finite_or_none(value: Any) -> float | None:
    """A plain float for JSON, None for NaN/inf (which JSON cannot carry)."""
    number = float(value)
    return number if math.isfinite(number) else None


def extension_of(name_hint: str) -> str:
    """The lower-case last suffix of a file name (``"a/b.MRCS"`` -> ``".mrcs"``)."""
    base = name_hint.replace("\\", "/").rsplit("/", 1)[-1].lower()
    return "." + base.rsplit(".", 1)[1] if "." in base else ""


def is_gain_name(name_hint: str) -> bool:
    """Gain references are recognised by name: structurally they are ordinary MRC/TIFF."""
    base = name_hint.replace("\\", "/").rsplit("/", 1)[-1].lower()
    return "gain" in base


@dataclass(frozen=True)
class ThumbnailPlan:
    """Where a representative image lives, so a thumbnail costs one ranged read.

    ``kind`` is ``raw_slice`` (MRC: ``offset``/``length`` of one section), ``tiff_page`` or
    ``eer_frames`` (sum the first ``frames`` frames; 0 when the count is unknown).
    """

    kind: str
    width: int
    height: int
    offset: int = 0
    length: int = 0
    dtype: str = ""
    pixel_format: str = "plain"  # plain | complex_int16 | packed4
    compression: str | None = None  # gzip | bzip2 for compressed maps
    frames: int = 1
    description: str = ""


@dataclass
class FormatResult:
    """What a reader found: a JSON-serialisable header, and problems in plain words."""

    format: FileFormat
    header: dict[str, Any] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    thumbnail_plan: ThumbnailPlan | None = None

    @property
    def ok(self) -> bool:
        return not self.errors

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": self.format.value,
            "header": self.header,
            "warnings": list(self.warnings),
            "errors": list(self.errors),
            "thumbnail_plan": asdict(self.thumbnail_plan) if self.thumbnail_plan else None,
        }


Reader = Callable[..., FormatResult]


def guarded(label: str, fallback: FileFormat) -> Callable[[Reader], Reader]:
    """Turn any exception inside a reader into an error message on the result.

    Expected problems raise :class:`FormatError` with a message for people; anything else is a
    bug or an unforeseen file, logged with its traceback but reported as one sentence.
    """

    def decorate(reader: Reader) -> Reader:
        @functools.wraps(reader)
        def wrapper(*args: Any, **kwargs: Any) -> FormatResult:
            try:
                return reader(*args, **kwargs)
            except FormatError as exc:
                return FormatResult(format=fallback, errors=[f"{label}: {exc}"])
            except StorageError:
                raise  # not the file's fault: the caller retries or reports the storage problem
            except Exception as exc:
                logger.warning("%s failed", label, exc_info=True)
                detail = str(exc) or type(exc).__name__
                return FormatResult(format=fallback, errors=[f"could not read {label}: {detail}"])

        return wrapper

    return decorate
