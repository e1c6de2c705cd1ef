"""Validation of EMDB header XML against the EMDB XSD, obtained from a configured path or URL.

EMDB does not publish its schema as a package, so the portal reads it from
``OPENEM_EMDB_XSD`` (and the relaxed variant from ``OPENEM_EMDB_XSD_RELAXED``): a file path, or
an http(s) URL fetched once and kept under ``<OPENEM_DATA_DIR>/cache/emdb/``. Parsed schemas
are cached per process (keyed by the file's modification time, so a replaced file is read
again). A schema of another version than the one the builder writes is refused: EMDB's minor
versions are not compatible with each other.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from urllib.parse import urlparse

import requests
from django.conf import settings
from lxml import etree

from deposition import vocab
from deposition.report import Issue, Severity

logger = logging.getLogger(__name__)

XS = "{http://www.w3.org/2001/XMLSchema}"
MAX_XSD_BYTES = 20 * 1024 * 1024
MAX_ERRORS = 50


class SchemaUnavailable(Exception):
    """The configured XSD cannot be read; ``str()`` says where it was looked for."""


@dataclass(frozen=True)
class XsdSource:
    label: str  # "xsd" (the current schema) or "xsd-relaxed"
    location: str


def configured_sources() -> list[XsdSource]:
    sources = [XsdSource("xsd", settings.OPENEM_EMDB_XSD)]
    if settings.OPENEM_EMDB_XSD_RELAXED:
        sources.append(XsdSource("xsd-relaxed", settings.OPENEM_EMDB_XSD_RELAXED))
    return sources


def _cache_dir() -> Path:
    return Path(settings.DATA_DIR) / "cache" / "emdb"


def local_path(location: str) -> Path:
    """The XSD as a local file: the path itself, or the URL's download in the cache."""
    parsed = urlparse(location)
    if parsed.scheme in ("http", "https"):
        target = _cache_dir() / (hashlib.sha256(location.encode()).hexdigest()[:32] + ".xsd")
        if not target.is_file():
            _download(location, target)
        return target
    path = Path(parsed.path if parsed.scheme == "file" else location)
    if not path.is_file():
        raise SchemaUnavailable(f"the EMDB schema file {path} does not exist (OPENEM_EMDB_XSD)")
    return path


def _download(url: str, target: Path) -> None:
    try:
        response = requests.get(url, timeout=(10, 60), stream=True)
        response.raise_for_status()
        data = response.raw.read(MAX_XSD_BYTES + 1, decode_content=True)
    except requests.RequestException as exc:
        raise SchemaUnavailable(f"the EMDB schema could not be fetched from {url}: {exc}") from exc
    if len(data) > MAX_XSD_BYTES:
        raise SchemaUnavailable(f"{url} is larger than {MAX_XSD_BYTES} bytes: not an XSD")
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_suffix(".partial")
    partial.write_bytes(data)
    partial.replace(target)
    logger.info("cached the EMDB schema from %s in %s", url, target)


@lru_cache(maxsize=8)
def _parsed(path: str, mtime_ns: int) -> tuple[etree.XMLSchema, str | None]:
    parser = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=False)
    try:
        document = etree.parse(path, parser)
        schema = etree.XMLSchema(document)
    except (etree.XMLSyntaxError, etree.XMLSchemaParseError) as exc:
        raise SchemaUnavailable(f"{path} is not a usable XML schema: {exc}") from exc
    version = None
    for element in document.getroot().iter(f"{XS}attribute"):
        if element.get("name") == "version" and element.get("default"):
            version = element.get("default")
            break
    return schema, version


def load_schema(location: str) -> tuple[etree.XMLSchema, str | None]:
    """The parsed XSD at ``location`` and the header version it declares."""
    path = local_path(location)
    return _parsed(str(path), path.stat().st_mtime_ns)


def _xml_path(element_path: str | None, line: int) -> str:
    return element_path or f"line {line}"


def validate_emdb_xml(xml: bytes) -> list[Issue]:
    """Problems of ``xml`` against every configured EMDB XSD (none: valid against all)."""
    issues: list[Issue] = []
    try:
        parser = etree.XMLParser(resolve_entities=False, no_network=True)
        document = etree.fromstring(xml, parser).getroottree()
    except etree.XMLSyntaxError as exc:
        return [Issue(path="/", message=f"not well-formed XML: {exc}", source="xsd")]
    for source in configured_sources():
        try:
            schema, version = load_schema(source.location)
        except SchemaUnavailable as exc:
            issues.append(
                Issue(
                    path="/emd",
                    message=f"cannot validate: {exc}",
                    source=source.label,
                )
            )
            continue
        if version != vocab.EMDB_SCHEMA_VERSION:
            issues.append(
                Issue(
                    path="/emd/@version",
                    message=f"the configured EMDB schema {source.location} is version {version}; "
                    f"the portal writes {vocab.EMDB_SCHEMA_VERSION} (minor versions are not "
                    "compatible): configure the 3.0.11.3 schema",
                    source=source.label,
                )
            )
            continue
        if schema.validate(document):
            continue
        seen = {(issue.path, issue.message) for issue in issues}
        for error in list(schema.error_log)[:MAX_ERRORS]:
            path = _xml_path(error.path, error.line)
            if (path, error.message) in seen:
                continue  # the relaxed schema repeating what the current one said
            issues.append(
                Issue(
                    path=path,
                    message=error.message,
                    severity=Severity.ERROR,
                    source=source.label,
                )
            )
    return issues
