"""``manage.py inspect_files PATH [PATH ...] [--json]``: what ingest would make of local files.

Facility staff run it on a session folder before uploading; it is also how the portal's format
readers are checked from outside. Each file is read like a stored object (ranged reads through
:class:`storage.FileSource`), checksummed in one streaming pass, and never written.
A bad file is reported, not fatal: the exit status is non-zero only for usage errors.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from ingest.checksum import hash_file
from ingest.formats import extract
from metadata.mapping import MappingError, load_mapping
from storage import FileSource


def expand(paths: list[str]) -> list[Path]:
    """The files named, folders walked recursively (sorted); a missing path is a usage error."""
    missing = [raw for raw in paths if not Path(raw).exists()]
    if missing:
        raise CommandError(f"no such file or directory: {', '.join(missing)}")
    files: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            files.extend(sorted(p for p in path.rglob("*") if p.is_file()))
        else:
            files.append(path)
    return files


def sidecar_units(header: dict[str, Any]) -> dict[str, str]:
    """Units of a sidecar header's plain numbers, from its mapping table (EPU XML and mdoc
    headers hold values already normalised to the table's units)."""
    source, version = header.get("sidecar"), header.get("mapping")
    if not isinstance(source, str) or not isinstance(version, str):
        return {}
    try:
        table = load_mapping(version, source)
    except MappingError:
        return {}
    return {rule.name: rule.unit for rule in table.fields if rule.unit and rule.name in header}


def inspect_file(path: Path, *, md5: bool = False) -> dict[str, Any]:
    """One file's report: format, size, checksums, header (values with units), problems."""
    report: dict[str, Any] = {"path": str(path), "format": None, "size": None, "sha256": None}
    if md5:
        report["md5"] = None
    try:
        source = FileSource(path)
        result = extract(source, path.name)
        digests = hash_file(path, md5=md5)
    except OSError as exc:
        report.update(
            header={}, warnings=[], errors=[f"cannot read the file: {exc.strerror or exc}"]
        )
        return report
    report.update(format=result.format.value, size=digests.size, sha256=digests.sha256)
    if md5:
        report["md5"] = digests.md5
    report["header"] = result.header
    units = sidecar_units(result.header)
    if units:
        report["units"] = units
    report["warnings"] = list(result.warnings)
    report["errors"] = list(result.errors)
    if digests.size != source.size:
        report["errors"].append(
            f"the file changed while it was read ({source.size} then {digests.size} bytes)"
        )
    return report


def inspect_files(paths: list[Path], *, md5: bool = False) -> Iterator[dict[str, Any]]:
    for path in paths:
        yield inspect_file(path, md5=md5)


# --- Readable output --------------------------------------------------------------------------


def _value(node: Any) -> str:
    if isinstance(node, dict) and "value" in node:
        unit = node.get("unit")
        return (
            f"{node['value']:.4g} {unit}"
            if isinstance(node["value"], float) and unit
            else str(node["value"])
        )
    return "?" if node is None else f"{node:.4g}" if isinstance(node, float) else str(node)


def summary(report: dict[str, Any]) -> str:
    """A few words on what the file holds (dimensions, pixel size, frames, tilts)."""
    header = report.get("header") or {}
    fmt = report.get("format") or ""
    units = report.get("units") or {}
    if header.get("container") == "mrc" and "nx" in header:
        pixel = (header.get("voxel_size") or {}).get("x")
        text = f"{header['nx']}x{header['ny']}x{header['nz']} {header.get('dtype', '')}"
        return text + (f", pixel {_value(pixel)}" if pixel else "")
    if fmt == "tiff" and "width" in header:
        return f"{header['width']}x{header['height']} {header.get('dtype', '')}, {header.get('pages', '?')} pages"
    if fmt == "eer" and "width" in header:
        return f"{header['width']}x{header['height']}, {header.get('frames', '?')} frames"
    if fmt in ("epu_xml", "mdoc"):
        parts = []
        for name, template in (
            ("voltage", "{}"),
            ("pixel_size", "pixel {}"),
            ("tilt_count", "{} tilts"),
        ):
            if header.get(name) is not None:
                unit = f" {units[name]}" if name in units else ""
                parts.append(template.format(_value(header[name]) + unit))
        return ", ".join(parts)
    return str(header.get("detected_as", ""))


def human_size(size: int | None) -> str:
    if size is None:
        return "?"
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if value < 1024 or unit == "TiB":
            return f"{int(value)} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return str(size)


class Command(BaseCommand):
    help = (
        "Inspect local files as ingest would: detected format, size, SHA-256, header values "
        "with units, warnings and errors. Folders are walked. Exit status 0 even for bad files."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("paths", nargs="+", metavar="PATH", help="files or folders")
        parser.add_argument("--json", action="store_true", help="a JSON list, one object per file")
        parser.add_argument("--md5", action="store_true", help="also compute MD5 (same read pass)")

    def handle(self, *args: Any, **options: Any) -> None:
        files = expand(options["paths"])
        if options["json"]:
            reports = list(inspect_files(files, md5=options["md5"]))
            self.stdout.write(json.dumps(reports, indent=2, ensure_ascii=False))
            return
        bad = warned = 0
        self.stdout.write(f"{'FORMAT':<8} {'SIZE':>10}  {'SHA-256':<16}  PATH / CONTENT")
        for report in inspect_files(files, md5=options["md5"]):
            sha = (report["sha256"] or "?")[:16]
            self.stdout.write(
                f"{report['format'] or '?':<8} {human_size(report['size']):>10}  {sha:<16}  "
                f"{report['path']}\n{'':<38}{summary(report)}"
            )
            for error in report["errors"]:
                self.stdout.write(self.style.ERROR(f"{'':<38}error: {error}"))
            for warning in report["warnings"]:
                self.stdout.write(self.style.WARNING(f"{'':<38}warning: {warning}"))
            bad += bool(report["errors"])
            warned += bool(report["warnings"])
        self.stdout.write(f"{len(files)} files, {bad} with errors, {warned} with warnings")
