"""Writes to the schema registry: register, change (while unused), deprecate, load built-ins,
import published schemas from a file or an http(s) URL.

A schema version is immutable once a dataset references it: a change is a new version.
Registering the same name, version and document twice is a no-op, so that loading and
importing can be repeated safely.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import requests
from django.db import transaction

from metadata.models import Technique
from openem.errors import Conflict, ValidationFailed

from . import selectors
from .builtin import builtin_schemas
from .models import MetadataSchema, SchemaStatus
from .validation import check_schema

_NAME = re.compile(r"^[a-z0-9][a-z0-9._-]{0,99}$")
MAX_SCHEMA_BYTES = 20 * 1024 * 1024
DEFAULT_TIMEOUT = 10.0


def _check_name(name: str) -> None:
    if not _NAME.match(name or ""):
        raise ValidationFailed(
            f"{name!r} is not a schema name: use lower-case letters, digits, '.', '_' and '-' "
            "(at most 100 characters), e.g. oscem-spa"
        )


def _clean_techniques(techniques: Iterable[str]) -> list[str]:
    cleaned = list(dict.fromkeys(techniques))
    unknown = [t for t in cleaned if t not in Technique.values]
    if unknown:
        raise ValidationFailed(
            f"unknown technique {', '.join(map(repr, unknown))}: use {', '.join(Technique.values)}"
        )
    return cleaned


def _changed_version_hint(version: str) -> str:
    try:
        major, minor, patch = (int(p) for p in version.split("+")[0].split("-")[0].split("."))
    except ValueError:
        return "a new version"
    return f"a new version (e.g. {major}.{minor}.{patch + 1})"


@transaction.atomic
def schema_register(
    *,
    name: str,
    version: str,
    document: dict[str, Any],
    techniques: Iterable[str] = (),
    source_url: str = "",
    builtin: bool = False,
) -> tuple[MetadataSchema, bool]:
    """Register one version of a schema; ``(schema, created)``. The same document again is a
    no-op; a different document under an existing name and version is a Conflict."""
    _check_name(name)
    selectors.semver_key(version)
    cleaned = _clean_techniques(techniques)
    check_schema(document)
    existing = MetadataSchema.objects.select_for_update().filter(name=name, version=version).first()
    if existing is not None:
        if existing.document == document:
            return existing, False
        raise Conflict(
            f"schema {name} {version} is already registered with a different document; "
            f"register the change as {_changed_version_hint(version)}"
        )
    schema = MetadataSchema.objects.create(
        name=name,
        version=version,
        document=document,
        techniques=cleaned,
        source_url=source_url,
        builtin=builtin,
        status=SchemaStatus.ACTIVE,
    )
    return schema, True


@transaction.atomic
def schema_update_document(*, schema: MetadataSchema, document: dict[str, Any]) -> MetadataSchema:
    """Replace the document of a version that no dataset uses yet (a draft being refined)."""
    locked = MetadataSchema.objects.select_for_update().get(pk=schema.pk)
    if locked.document == document:
        return locked
    used = selectors.schema_usage_count(locked)
    if used:
        raise Conflict(
            f"schema {locked.name} {locked.version} is used by {used} dataset"
            f"{'s' if used != 1 else ''} and cannot change: register the change as "
            f"{_changed_version_hint(locked.version)}"
        )
    check_schema(document)
    locked.document = document
    locked.save(update_fields=["document"])
    return locked


def schema_set_status(*, schema: MetadataSchema, status: str) -> MetadataSchema:
    """Deprecate (or re-activate) a version. Datasets on a deprecated version move to the
    current one the next time they are validated."""
    if status not in SchemaStatus.values:
        raise ValidationFailed(f"status must be one of {', '.join(SchemaStatus.values)}")
    MetadataSchema.objects.filter(pk=schema.pk).update(status=status)
    schema.status = status
    return schema


def schema_load_builtins() -> list[tuple[MetadataSchema, str]]:
    """Register the project's built-in schemas; ``(schema, "created" | "unchanged" |
    "updated")`` each. Idempotent. A built-in file changed without a new version number
    replaces the stored document only while no dataset uses it (otherwise: Conflict)."""
    results = []
    for builtin in builtin_schemas():
        existing = selectors.schema_get(name=builtin.name, version=builtin.version)
        if existing is None:
            schema, _ = schema_register(
                name=builtin.name,
                version=builtin.version,
                document=builtin.document,
                techniques=builtin.techniques,
                builtin=True,
            )
            results.append((schema, "created"))
        elif existing.document == builtin.document:
            results.append((existing, "unchanged"))
        else:
            try:
                schema = schema_update_document(schema=existing, document=builtin.document)
            except Conflict as exc:
                raise Conflict(
                    f"{exc.message} (bump 'version' in metadata/builtin/manifest.json)"
                ) from None
            results.append((schema, "updated"))
    return results


# ---------------------------------------------------------------------------------------------
# Importing published schemas


def _read_limited(chunks: Iterable[bytes], source: str) -> bytes:
    data = bytearray()
    for chunk in chunks:
        data.extend(chunk)
        if len(data) > MAX_SCHEMA_BYTES:
            raise ValidationFailed(
                f"{source} is larger than {MAX_SCHEMA_BYTES // (1024 * 1024)} MB; "
                "that is not a metadata schema"
            )
    return bytes(data)


def _fetch_url(url: str, timeout: float) -> bytes:
    try:
        with requests.get(url, timeout=timeout, stream=True) as response:
            if response.status_code != 200:
                raise ValidationFailed(f"{url} answered HTTP {response.status_code}")
            return _read_limited(response.iter_content(64 * 1024), url)
    except requests.Timeout:
        raise ValidationFailed(f"{url} did not answer within {timeout:g} s") from None
    except requests.RequestException as exc:
        raise ValidationFailed(f"cannot fetch {url}: {exc.__class__.__name__}") from None


def _read_file(path: Path) -> bytes:
    if not path.exists():
        raise ValidationFailed(f"no such file: {path}")
    if not path.is_file():
        raise ValidationFailed(f"{path} is not a file")
    try:
        with path.open("rb") as handle:
            return _read_limited(iter(lambda: handle.read(64 * 1024), b""), str(path))
    except OSError as exc:
        raise ValidationFailed(f"cannot read {path}: {exc.strerror}") from None


def fetch_schema_document(
    source: str, *, timeout: float = DEFAULT_TIMEOUT
) -> tuple[dict[str, Any], str]:
    """``(document, source_url)`` from a file path or an http(s) URL; ValidationFailed with a
    clear message for anything that is not a JSON object."""
    scheme = urlparse(source).scheme.lower()
    if scheme in ("http", "https"):
        raw, source_url = _fetch_url(source, timeout), source
    elif scheme and len(scheme) > 1:  # a Windows drive letter is not a scheme
        raise ValidationFailed(f"only http(s) URLs and file paths can be imported, not {scheme}:")
    else:
        raw, source_url = _read_file(Path(source).expanduser()), ""
    try:
        document = json.loads(raw.decode("utf-8-sig"))
    except UnicodeDecodeError:
        raise ValidationFailed(f"{source} is not JSON: it is not UTF-8 text") from None
    except json.JSONDecodeError as exc:
        raise ValidationFailed(
            f"{source} is not JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})"
        ) from None
    if not isinstance(document, dict):
        raise ValidationFailed(f"{source} is JSON but not a JSON Schema object")
    declared_id = document.get("$id")
    if not source_url and isinstance(declared_id, str) and declared_id.startswith("http"):
        source_url = declared_id
    return document, source_url[:500]


def default_schema_name(source: str) -> str:
    """``.../oscem_schemas_spa.schema.json`` -> ``oscem_schemas_spa``."""
    stem = urlparse(source).path.rstrip("/").rsplit("/", 1)[-1] or "schema"
    for suffix in (".json", ".schema"):
        stem = stem.removesuffix(suffix)
    return re.sub(r"[^a-z0-9._-]+", "-", stem.lower()).strip("-._")[:100] or "schema"


def schema_import(
    *,
    source: str,
    name: str | None = None,
    version: str | None = None,
    techniques: Iterable[str] = (),
    timeout: float = DEFAULT_TIMEOUT,
) -> tuple[MetadataSchema, bool]:
    """Register a published JSON Schema (e.g. an official OSC-EM file) from a path or URL."""
    document, source_url = fetch_schema_document(source, timeout=timeout)
    check_schema(document)
    if version is None:
        declared = document.get("version")
        if not isinstance(declared, str) or not declared:
            raise ValidationFailed(
                "the schema does not declare its version: give one with --version (e.g. 1.0.2)"
            )
        version = declared
    return schema_register(
        name=name or default_schema_name(source),
        version=version,
        document=document,
        techniques=techniques,
        source_url=source_url,
        builtin=False,
    )
