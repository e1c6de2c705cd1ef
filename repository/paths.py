"""Sanitising the relative paths users upload (kept as data, never used in storage keys)."""

from __future__ import annotations

import unicodedata

from django.db.models import Q
from django.db.models.functions import Left
from django.db.models.lookups import Exact

from openem.errors import ValidationFailed

MAX_PATH_LENGTH = 1024
MAX_NAME_LENGTH = 255
#: Device names Windows will not create a file for, with any extension (``nul.txt`` too).
WINDOWS_RESERVED = frozenset(
    {"CON", "PRN", "AUX", "NUL"} | {f"{port}{n}" for port in ("COM", "LPT") for n in range(1, 10)}
)


def sanitise_relative_path(raw: str) -> str:
    """Return a clean POSIX relative path, or raise ValidationFailed saying what is wrong.

    Backslashes become slashes and ``./`` segments go; absolute paths, ``..``, control
    characters, empty names and over-long paths are refused rather than silently rewritten,
    so that two different uploaded names can never collapse into one. Names Windows cannot
    hold (a trailing dot or space, a device name such as ``CON`` or ``nul.txt``) are refused
    too: a dataset's files must download onto the microscope PCs' system as well.
    """
    if not isinstance(raw, str) or not raw.strip():
        raise ValidationFailed("the file path is empty")
    path = unicodedata.normalize("NFC", raw.replace("\\", "/"))
    if any(unicodedata.category(ch) in {"Cc", "Cf", "Cs", "Zl", "Zp"} for ch in path):
        raise ValidationFailed(f"the file path {raw!r} contains control characters")
    if path.startswith("/") or (len(path) > 1 and path[1] == ":"):
        raise ValidationFailed(
            f"the file path {raw!r} is absolute; give a path relative to the session folder"
        )
    parts = [part for part in path.split("/") if part not in ("", ".")]
    if not parts:
        raise ValidationFailed(f"the file path {raw!r} names no file")
    if ".." in parts:
        raise ValidationFailed(f"the file path {raw!r} leaves the session folder ('..')")
    for part in parts:
        if len(part.encode()) > MAX_NAME_LENGTH:
            raise ValidationFailed(
                f"the name {part[:40]!r}... is longer than {MAX_NAME_LENGTH} bytes"
            )
        if part != part.strip():
            raise ValidationFailed(f"the name {part!r} starts or ends with a space")
        if part.endswith("."):
            raise ValidationFailed(f"the name {part!r} ends with a dot (Windows drops it)")
        if part.split(".")[0].upper() in WINDOWS_RESERVED:
            raise ValidationFailed(f"the name {part!r} is a device name reserved on Windows")
    clean = "/".join(parts)
    if len(clean) > MAX_PATH_LENGTH:
        raise ValidationFailed(f"the file path is longer than {MAX_PATH_LENGTH} characters")
    return clean


def split_path(clean: str) -> tuple[str, str]:
    """(directory, name) of a sanitised path; directory is '' at the top level."""
    directory, _, name = clean.rpartition("/")
    return directory, name


def starts_with(field: str, prefix: str) -> Q:
    """Rows whose ``field`` begins with ``prefix``, case-sensitively on every database: SQLite's
    LIKE (Django's ``__startswith`` there) ignores ASCII case, so ``a/`` would also find
    ``A/x``. The LIKE stays for the databases whose indexes it can use."""
    return Q(**{f"{field}__startswith": prefix}) & Q(Exact(Left(field, len(prefix)), prefix))
