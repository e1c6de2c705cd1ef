"""``manage.py extract_metadata DIR --technique spa [--cs 2.7] [--json]``: the dataset-level
OSC-EM document that ingest's aggregation would produce for the files under DIR.

Like the OpenEM reference extractor run on a folder: every file is detected by its bytes (so a
sidecar named oddly still counts), EPU per-movie XML and SerialEM/Tomo5 mdoc files are parsed,
and their headers go through the same aggregation as a settled dataset, in path order.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from ingest.aggregate import SidecarAggregator
from ingest.formats import FileFormat, FormatResult, extract
from ingest.formats.epu import MAX_XML_BYTES
from ingest.formats.mdoc import MAX_MDOC_BYTES
from ingest.image_headers import image_header_document
from metadata.mapping import TECHNIQUES
from storage import FileSource

SIDECAR_FORMATS = (FileFormat.EPU_XML, FileFormat.MDOC)
#: Larger files cannot be sidecars ingest accepts (the readers refuse them): not even opened.
MAX_SIDECAR_BYTES = max(MAX_XML_BYTES, MAX_MDOC_BYTES)


def sidecars_under(folder: Path) -> Iterator[tuple[Path, FormatResult]]:
    """``(path, parsed result)`` of every EPU XML / mdoc file under ``folder``, by path."""
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        try:
            source = FileSource(path)
            if source.size > MAX_SIDECAR_BYTES:
                continue
            result = extract(source, path.name)
        except OSError:
            continue
        if result.format in SIDECAR_FORMATS:
            yield path, result


def extract_folder(
    folder: Path, *, technique: str, cs_mm: float | None
) -> tuple[dict[str, Any], dict[str, Any], list[str]]:
    """(OSC-EM document, summary, problems per unreadable sidecar)."""
    aggregator = SidecarAggregator(technique=technique, cs_mm=cs_mm)
    problems = []
    for path, result in sidecars_under(folder):
        if result.errors:
            problems.append(f"{path.relative_to(folder)}: {'; '.join(result.errors)}")
        aggregator.add(result)
    from_headers, _sources = image_header_document(_image_headers(folder), technique=technique)
    document = _merged(from_headers, aggregator.document())  # as the pipeline: sidecars win
    return document, aggregator.summary(), problems


IMAGE_FORMATS = (FileFormat.EER, FileFormat.MRC, FileFormat.TIFF)


def _image_headers(folder: Path) -> Iterator[tuple[str, str, dict[str, Any]]]:
    """The headers of the first image files per format, by path (as the pipeline reads them
    from its stored headers)."""
    taken: dict[str, int] = {}
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        if path.suffix.lower() not in (".eer", ".mrc", ".tif", ".tiff", ".map"):
            continue
        try:
            result = extract(FileSource(path), path.name)
        except OSError:
            continue
        fmt = str(result.format)
        if result.format in IMAGE_FORMATS and taken.get(fmt, 0) < 20 and not result.errors:
            taken[fmt] = taken.get(fmt, 0) + 1
            yield str(path.relative_to(folder)), fmt, result.header


def _merged(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merged(out[key], value)
        else:
            out[key] = value
    return out


def leaves(node: Any, prefix: str = "") -> Iterator[tuple[str, Any]]:
    """``("acquisition.pixel_size", "0.415 Å")`` for the readable listing."""
    if isinstance(node, dict):
        if set(node) >= {"value", "unit"}:
            yield prefix, f"{node['value']:.6g} {node['unit']}"
            return
        for key, value in node.items():
            yield from leaves(value, f"{prefix}.{key}" if prefix else key)
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from leaves(value, f"{prefix}[{index}]")
    else:
        yield prefix, node


class Command(BaseCommand):
    help = (
        "Print the dataset-level OSC-EM metadata that ingest would derive from the EPU XML "
        "and SerialEM/Tomo5 mdoc files under DIR."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("folder", metavar="DIR", help="the session folder to read")
        parser.add_argument(
            "--technique",
            required=True,
            choices=sorted(TECHNIQUES),
            help="the OSC-EM technique (and schema) of the session",
        )
        parser.add_argument(
            "--cs",
            type=float,
            default=None,
            metavar="MM",
            help="spherical aberration of the microscope in mm (files do not record it)",
        )
        parser.add_argument("--json", action="store_true", help="print the OSC-EM document only")

    def handle(self, *args: Any, **options: Any) -> None:
        folder = Path(options["folder"])
        if not folder.is_dir():
            raise CommandError(f"{folder} is not a folder")
        cs_mm = options["cs"]
        if cs_mm is not None and (not math.isfinite(cs_mm) or cs_mm < 0):
            raise CommandError(f"--cs must be a number of millimetres >= 0, not {cs_mm}")
        document, summary, problems = extract_folder(
            folder, technique=options["technique"], cs_mm=cs_mm
        )
        for problem in problems:
            self.stderr.write(f"skipped {problem}")
        for warning in summary["warnings"]:
            self.stderr.write(f"warning: {warning}")
        if not summary["files"]:
            self.stderr.write(f"no readable EPU XML or mdoc file under {folder}")
        if options["json"]:
            self.stdout.write(json.dumps(document, indent=2, ensure_ascii=False))
            return
        self.stdout.write(
            f"{summary['files']} sidecar files, {summary['images']} images, "
            f"acquired {summary['acquired_from']} .. {summary['acquired_until']}"
        )
        for path, value in leaves(document):
            self.stdout.write(f"  {path} = {value}")
