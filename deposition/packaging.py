"""Deposition packages: the archive's layout as a prefix in object storage.

EMPIAR: ``data/<image set directories>/<files>`` (the files of the image sets, with the mdoc,
EPU XML and gain references next to them), the deposition JSON and the entry thumbnail.
EMDB: the primary map and half maps under the names the header gives them
(``emd_NNNN.map``), the header XML, the mmCIF ``em_*`` categories and an image of the map.
Both end with ``manifest.json`` (path, size and SHA-256 of every file) and ``manifest-sha256.txt``
(``sha256sum -c`` format), and ``TRANSFER.txt`` with the archive's upload routes.

Data files are copied inside the object store by :meth:`ObjectStore.copy` (server-side on
S3): no byte of data passes through the web server or the worker. Their checksums are the ones
ingest computed (and fixity re-checks); the copy's size is checked against the record.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.utils import timezone

import storage
from deposition import vocab
from deposition.documents import BuiltDocument, build_document
from deposition.thumbnail import entry_thumbnail
from repository.models import DataFile

COPY_WORKERS = 8
MANIFEST = "manifest.json"
MANIFEST_SHA256 = "manifest-sha256.txt"
INSTRUCTIONS = "TRANSFER.txt"
EMPIAR_ASPERA_HOST = "emp_dep@hx-fasp-1.ebi.ac.uk"
EMPIAR_GLOBUS_ENDPOINT = "d50a0618-6d04-11e5-ba46-22000b92c6ec"


class PackagingError(Exception):
    """The package cannot be made; ``str()`` says why, for the curator."""


@dataclass
class ManifestEntry:
    path: str
    size: int
    sha256: str
    source: str

    def to_dict(self) -> dict[str, Any]:
        return {"path": self.path, "size": self.size, "sha256": self.sha256, "source": self.source}


@dataclass
class PackageResult:
    prefix: str
    files: int
    bytes: int
    manifest_key: str
    document_key: str
    thumbnail_key: str = ""
    instructions_key: str = ""
    entries: list[ManifestEntry] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        return {
            "prefix": self.prefix,
            "files": self.files,
            "bytes": self.bytes,
            "manifest_key": self.manifest_key,
            "document_key": self.document_key,
            "thumbnail_key": self.thumbnail_key,
            "instructions_key": self.instructions_key,
            "created": timezone.now().isoformat(),
        }


def package_namespace(deposition: Any) -> str:
    """Every packaging run of ``deposition`` writes below a prefix starting with this."""
    return storage.object_key("depositions", deposition.dataset.pid, deposition.target) + (
        f"/{deposition.pk}-"
    )


def package_prefix(deposition: Any, started: dt.datetime) -> str:
    """A new prefix per packaging run (named by when its job was claimed): a package, once
    written, never changes."""
    return package_namespace(deposition) + started.strftime("%Y%m%dT%H%M%S%f")


def discard_partial_runs(deposition: Any, *, keep: str) -> int:
    """Delete what packaging runs that never finished left behind: a worker killed mid-copy
    leaves copies of data files (terabytes, for a large session) and no manifest, which every
    finished run writes last. ``keep`` (the running job's prefix) is never touched; finished
    packages stay. Two listings, so that keys are streamed rather than held; returns the number
    of objects deleted."""
    store = storage.get_store()
    namespace = package_namespace(deposition)

    def run_of(key: str) -> str:
        return namespace + key[len(namespace) :].split("/", 1)[0]

    finished = {run_of(key) for key in store.list_keys(namespace) if key.endswith(f"/{MANIFEST}")}
    finished.add(keep)
    return store.delete_keys(
        key for key in store.list_keys(namespace) if run_of(key) not in finished
    )


def package_key(prefix: str, relative_path: str) -> str:
    """``prefix`` + a package-relative path, every component checked like any object key."""
    return storage.object_key(*prefix.split("/"), *relative_path.split("/"))


class _Writer:
    def __init__(self, prefix: str):
        self.prefix = prefix
        self.store = storage.get_store()
        self.entries: list[ManifestEntry] = []

    def put(self, relative: str, data: bytes, source: str, content_type: str = "") -> str:
        key = package_key(self.prefix, relative)
        self.store.put(key, data, content_type=content_type)
        self.entries.append(
            ManifestEntry(relative, len(data), hashlib.sha256(data).hexdigest(), source)
        )
        return key

    def copy_files(self, files: Iterator[tuple[dict[str, Any], str]]) -> None:
        """Copy ``(DataFile values, package path)`` pairs, a few at a time."""

        def copy(item: tuple[dict[str, Any], str]) -> ManifestEntry:
            row, relative = item
            if not row["checksum_sha256"]:
                raise PackagingError(f"{row['path']} has no checksum yet: wait for its ingest")
            size = self.store.copy(row["storage_key"], package_key(self.prefix, relative))
            if size != row["size"]:
                raise PackagingError(
                    f"{row['path']}: the stored object has {size} bytes, the record {row['size']}"
                )
            return ManifestEntry(relative, size, row["checksum_sha256"], f"file {row['path']}")

        with ThreadPoolExecutor(max_workers=COPY_WORKERS) as pool:
            self.entries.extend(pool.map(copy, files))

    def finish(self, header: dict[str, Any]) -> tuple[str, int, int]:
        entries = sorted(self.entries, key=lambda e: e.path)
        total = sum(e.size for e in entries)
        manifest = {
            **header,
            "files": len(entries),
            "bytes": total,
            "entries": [e.to_dict() for e in entries],
        }
        key = package_key(self.prefix, MANIFEST)
        self.store.put(
            key,
            json.dumps(manifest, indent=1, ensure_ascii=False).encode("utf-8"),
            content_type="application/json",
        )
        lines = "".join(f"{e.sha256}  {e.path}\n" for e in entries)
        self.store.put(
            package_key(self.prefix, MANIFEST_SHA256),
            lines.encode("utf-8"),
            content_type="text/plain",
        )
        return key, len(entries), total


def _rows(ids: list[int]) -> Iterator[dict[str, Any]]:
    for start in range(0, len(ids), 1000):
        chunk = ids[start : start + 1000]
        rows = (
            DataFile.objects.filter(pk__in=chunk)
            .order_by("path")
            .values("id", "path", "storage_key", "size", "checksum_sha256")
        )
        yield from (dict(row) for row in rows)


def _empiar(writer: _Writer, deposition: Any, built: BuiltDocument) -> tuple[str, str]:
    assert built.empiar is not None
    ids = [i for group in built.empiar.grouping.imagesets for i in group.file_ids]
    ids += built.empiar.grouping.sidecar_ids
    writer.copy_files((row, f"data/{row['path']}") for row in _rows(sorted(set(ids))))
    document_key = writer.put(
        f"{deposition.dataset.pid}-empiar.json",
        built.content,
        "deposition JSON",
        "application/json",
    )
    thumbnail_key = ""
    if built.empiar.thumbnail_file_id:
        picture = entry_thumbnail(DataFile.objects.get(pk=built.empiar.thumbnail_file_id))
        if picture.png:
            thumbnail_key = writer.put(
                "entry_thumbnail.png",
                picture.png,
                f"entry thumbnail from {picture.source}",
                "image/png",
            )
    return document_key, thumbnail_key


def _emdb(writer: _Writer, deposition: Any, built: BuiltDocument) -> tuple[str, str]:
    facts = built.facts
    assert facts is not None and facts.primary_map is not None
    maps = [facts.primary_map, *facts.half_maps]
    rows = {row["id"]: row for row in _rows([m.datafile_id for m in maps])}
    writer.copy_files((rows[m.datafile_id], m.archive_name) for m in maps)
    document_key = writer.put(built.filename, built.content, "EMDB header XML", "application/xml")
    mmcif = build_document(deposition.dataset, "mmcif")
    writer.put(
        f"emd_{facts.entry_digits}.cif",
        mmcif.content,
        "PDBx/mmCIF em_* categories",
        "chemical/x-mmcif",
    )
    picture = entry_thumbnail(DataFile.objects.get(pk=facts.primary_map.datafile_id))
    thumbnail_key = ""
    if picture.png:
        thumbnail_key = writer.put(
            f"emd_{facts.entry_digits}.png",
            picture.png,
            f"map image from {picture.source}",
            "image/png",
        )
    return document_key, thumbnail_key


def build_package(deposition: Any, built: BuiltDocument, *, prefix: str) -> PackageResult:
    """Write the package of a *valid* document below ``prefix``; raises
    :class:`PackagingError` otherwise."""
    if not built.valid:
        raise PackagingError("the document does not validate: fix the report's errors first")
    writer = _Writer(prefix)
    if deposition.target == "empiar":
        document_key, thumbnail_key = _empiar(writer, deposition, built)
    else:
        document_key, thumbnail_key = _emdb(writer, deposition, built)
    instructions = transfer_instructions(deposition, prefix=prefix).encode("utf-8")
    instructions_key = writer.put(INSTRUCTIONS, instructions, "transfer instructions", "text/plain")
    manifest_key, files, total = writer.finish(
        {
            "deposition": deposition.pk,
            "dataset": deposition.dataset.pid,
            "target": deposition.target,
            "document_sha256": built.sha256,
            "created": timezone.now().isoformat(),
        }
    )
    return PackageResult(
        prefix=prefix,
        files=files,
        bytes=total,
        manifest_key=manifest_key,
        document_key=document_key,
        thumbnail_key=thumbnail_key,
        instructions_key=instructions_key,
        entries=writer.entries,
    )


def _fetch_step(prefix: str) -> str:
    config = settings.OPENEM_STORAGE
    if config["backend"] == "s3":
        endpoint = f" --endpoint-url {config['endpoint_url']}" if config.get("endpoint_url") else ""
        return (
            "1. Fetch the package from the portal's object storage (the facility's credentials):\n"
            f"     aws s3 sync{endpoint} s3://{config['bucket']}/{prefix}/ ./package/\n"
            "   then check it:  cd package && sha256sum -c manifest-sha256.txt\n"
        )
    return (
        "1. The package is on the portal's storage volume:\n"
        f"     {config['root']}/{prefix}/\n"
        "   check it there:  sha256sum -c manifest-sha256.txt\n"
    )


def transfer_instructions(deposition: Any, *, prefix: str = "") -> str:
    """How the package reaches the archive (Aspera, Globus), as plain text."""
    prefix = prefix or deposition.package_prefix or "<package prefix>"
    dataset = deposition.dataset
    lines = [
        f"OpenEM deposition package for dataset {dataset.pid} ({dataset.title})",
        f"Archive: {deposition.get_target_display()}",
        "",
        _fetch_step(prefix),
    ]
    if deposition.target == "empiar":
        directory = deposition.remote_directory or "<ENTRY_DIRECTORY>"
        lines += [
            "2. Create the EMPIAR entry (the portal's 'Create EMPIAR entry' action, or "
            "empiar-depositor) to obtain the entry's upload directory"
            + (f": {directory}" if deposition.remote_directory else "")
            + ".",
            "3. Upload the data folder with Aspera (password: the EMPIAR transfer password, in "
            "the environment variable ASPERA_SCP_PASS):",
            f"     ascp -QT -l 200M -P 33001 -L- -k3 ./package/data "
            f"{EMPIAR_ASPERA_HOST}:upload/{directory}/",
            "   or with Globus (to EMPIAR's endpoint):",
            f"     globus transfer --recursive <your endpoint>:<path>/package/data "
            f"{EMPIAR_GLOBUS_ENDPOINT}:upload/{directory}/data",
            "4. Upload entry_thumbnail.png with the entry (the portal does it when it creates "
            "the entry), then submit the entry (the portal's 'Submit to EMPIAR' action).",
            "5. Record the accession code (EMPIAR-NNNNN) on the portal's deposition page.",
        ]
    else:
        lines += [
            "2. Start an EMDB deposition in OneDep (https://deposit.wwpdb.org/deposition/) and "
            f"upload the primary map, the half maps and the image of the package; the header "
            f"XML (schema {vocab.EMDB_SCHEMA_VERSION}) and the mmCIF em_* categories hold the "
            "metadata to enter.",
            "   Maps larger than the web upload allows go by Globus or Aspera on the route "
            "EMDB gives for the deposition.",
            "3. Record the accession code (EMD-NNNNN) on the portal's deposition page.",
        ]
    return "\n".join(lines) + "\n"
