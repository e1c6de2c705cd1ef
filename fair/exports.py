"""Export packages of a published version: a BagIt 1.0 bag (RFC 8493) and RO-Crate 1.2
metadata.

The bag is *holey*: a small ZIP of its tag files (``bagit.txt``, ``bag-info.txt``,
``manifest-sha256.txt`` from the stored checksums, ``fetch.txt`` of presigned URLs,
``tagmanifest-sha256.txt``) and ``data/ro-crate-metadata.json``; the payload is fetched
straight from the object store (``bagit.py`` or any BagIt tool then validates it), so no byte
of the data passes through the portal. Everything is streamed in keyset pages of the
version's file list: memory stays flat for 10^6 files.

The RO-Crate describes the version (name, description, licence, dates, identifiers), its
people (ORCID iDs), the instrument and facility, and its files (path, size, format, sha256)
up to ``ROCRATE_MAX_FILES``; beyond that the bag's manifest lists every file.

Callers check access first (:class:`fair.targets.Target` ``files_open``): private and
embargoed files never appear in a package for outsiders.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import zipfile
from collections.abc import Callable, Iterator
from operator import attrgetter
from typing import Any
from urllib.parse import quote

from django.conf import settings
from django.core import signing
from django.utils import timezone

import storage
from openem.site import site_url
from repository import bulk_downloads, citation, jsonld, selectors, versions
from repository.models import DatasetVersion, VersionFile

from .targets import Target

BAGIT_VERSION = "1.0"  # RFC 8493; bagit.py itself still writes 0.97
ROCRATE_VERSION = "1.2"
ROCRATE_MAX_FILES = 10_000
FETCH_LINK_SALT = "openem.fair.version-file"
PAGE = 2_000
CRATE_NAME = "ro-crate-metadata.json"
_FLUSH = 256 * 1024


class ChecksumsMissing(Exception):
    """Some files of the version have no stored SHA-256 yet (ingest still hashing)."""


# --- RO-Crate ------------------------------------------------------------------------------


def ro_crate_metadata(target: Target) -> dict[str, Any]:
    """The ``ro-crate-metadata.json`` document of the target (RO-Crate 1.2), made with the
    ``rocrate`` package. Files only when the asker may have them."""
    from rocrate.model.contextentity import ContextEntity
    from rocrate.model.person import Person
    from rocrate.rocrate import ROCrate

    record = target.record
    shown = target.shown
    crate = ROCrate(version=ROCRATE_VERSION)
    root = crate.root_dataset
    root["name"] = record.title
    root["description"] = jsonld._description(shown)
    published = record.published_at or target.dataset.created
    root["datePublished"] = published.isoformat()
    root["dateModified"] = record.modified.isoformat()
    root["identifier"] = target.cite_as
    root["url"] = target.landing_url
    root["keywords"] = list(record.keywords)
    if target.version is not None:
        root["version"] = str(target.version.number)
    licence = crate.add(
        ContextEntity(
            crate,
            citation.licence_url(record.licence),
            properties={"@type": "CreativeWork", "name": record.licence},
        )
    )
    root["license"] = licence
    facility = target.dataset.facility
    facility_id = (
        f"https://ror.org/{facility.ror_id}" if facility.ror_id else f"#facility-{facility.pk}"
    )
    organisation = crate.add(
        ContextEntity(
            crate,
            facility_id,
            properties={"@type": "Organization", "name": facility.name},
        )
    )
    root["publisher"] = organisation
    people = []
    for index, author in enumerate(record.authors()):
        identifier = author.orcid_url or f"#author-{index + 1}"
        properties: dict[str, Any] = {"name": author.name}
        if author.given_name:
            properties["givenName"] = author.given_name
        if author.family_name:
            properties["familyName"] = author.family_name
        if author.affiliation:
            properties["affiliation"] = author.affiliation
        people.append(crate.add(Person(crate, identifier, properties=properties)))
    if people:
        root["author"] = people
    instrument = target.dataset.instrument
    if instrument is not None:
        entity = crate.add(
            ContextEntity(
                crate,
                f"#instrument-{instrument.pk}",
                properties={
                    "@type": "IndividualProduct",
                    "name": f"{instrument.manufacturer} {instrument.model}".strip(),
                    "manufacturer": instrument.manufacturer,
                    "model": instrument.model,
                },
            )
        )
        root["instrument"] = entity
    if record.embargo_until and not shown.files_are_open():
        root["conditionsOfAccess"] = (
            f"Files under embargo until {record.embargo_until.isoformat()}; metadata open."
        )
    version = target.frozen
    if target.files_open and version is not None:
        rows = versions.version_files(version).only("path", "size", "format", "checksum_sha256")
        for row in rows[:ROCRATE_MAX_FILES]:
            properties = {
                "name": row.name if hasattr(row, "name") and row.name else row.path,
                "contentSize": str(row.size),
                "encodingFormat": _encoding(row.format),
            }
            if row.checksum_sha256:
                properties["sha256"] = row.checksum_sha256
            crate.add_file(dest_path=row.path, properties=properties)
        if version.file_count > ROCRATE_MAX_FILES:
            root["description"] = (
                f"{root['description']} (The crate lists the first {ROCRATE_MAX_FILES} of "
                f"{version.file_count} files; the bag's manifest lists every one.)"
            )
    document: dict[str, Any] = crate.metadata.generate()
    return document


def _encoding(file_format: str) -> str:
    from .signposting import FILE_MEDIA_TYPES, OCTET_STREAM

    return FILE_MEDIA_TYPES.get(file_format, OCTET_STREAM)


# --- BagIt ---------------------------------------------------------------------------------


def _encode_path(path: str) -> str:
    """RFC 8493 section 2.1.3: a file name in a manifest or fetch.txt percent-encodes CR, LF
    and %."""
    return path.replace("%", "%25").replace("\n", "%0A").replace("\r", "%0D")


def version_file_token(row: VersionFile, user: Any) -> str:
    return signing.dumps(
        [row.pk, user.pk if getattr(user, "is_authenticated", False) else None],
        salt=FETCH_LINK_SALT,
        compress=True,
    )


def version_file_token_open(token: str) -> tuple[int, int | None] | None:
    try:
        file_id, user_id = signing.loads(
            token, salt=FETCH_LINK_SALT, max_age=settings.OPENEM_PRESIGN_EXPIRY
        )
    except (signing.BadSignature, ValueError, TypeError):
        return None
    return int(file_id), (int(user_id) if user_id is not None else None)


def version_file_url(version: DatasetVersion, path: str, *, base: str | None = None) -> str:
    return (base or site_url()) + version.get_absolute_url() + "files/" + quote(path)


def fetch_url_maker(
    version: DatasetVersion, user: Any, *, base: str
) -> Callable[[VersionFile], str]:
    """Presigned GET URLs from the object store; on a store without them (local files) the
    portal's own URL of the file with a signed, expiring token for the asker."""
    store = storage.get_store()
    expiry = int(settings.OPENEM_PRESIGN_EXPIRY)

    def url_for(row: VersionFile) -> str:
        presigned = store.presign_get(row.storage_key, filename=row.name, expires=expiry)
        if presigned:
            return presigned
        token = version_file_token(row, user)
        return version_file_url(version, row.path, base=base) + "?token=" + token

    return url_for


def checksums_missing(version: DatasetVersion) -> int:
    return versions.version_files(version).filter(checksum_sha256="").count()


def bag_stream(target: Target, version: DatasetVersion) -> Iterator[bytes]:
    """The holey bag of ``version`` as a ZIP stream. Raises ChecksumsMissing first (before
    anything is sent) when a file has no stored SHA-256. Everything that needs the request
    (its base URL, the asker) is settled here, before the response streams."""
    missing = checksums_missing(version)
    if missing:
        raise ChecksumsMissing(
            f"{missing} files of version {version.number} have no SHA-256 yet; the bag can "
            "be made once ingest has hashed them"
        )
    now = timezone.now()
    expires = now + dt.timedelta(seconds=int(settings.OPENEM_PRESIGN_EXPIRY))
    crate = json.dumps(ro_crate_metadata(target), ensure_ascii=False, indent=1).encode()
    taken = versions.version_files(version).filter(path=CRATE_NAME).exists()
    payload_bytes = int(version.total_bytes) + (0 if taken else len(crate))
    payload_files = int(version.file_count) + (0 if taken else 1)
    bag_info = {
        "Bag-Software-Agent": "OpenEM portal (fair.exports)",
        "Bagging-Date": now.date().isoformat(),
        "Bag-Size": f"{payload_bytes} bytes",
        "Payload-Oxum": f"{payload_bytes}.{payload_files}",
        "External-Identifier": target.cite_as,
        "External-Description": f"{target.record.title} (version {version.number})",
        "Source-Organization": target.dataset.facility.name,
        "Organization-Address": target.dataset.facility.homepage or site_url() + "/",
        "Internal-Sender-Identifier": f"{target.dataset.pid} v{version.number}",
        "Fetch-URLs-Expire": expires.isoformat(timespec="seconds"),
    }
    return _bag_stream(
        version,
        root=f"{target.dataset.pid}-v{version.number}/",
        bag_info=bag_info,
        crate=None if taken else crate,
        url_for=fetch_url_maker(version, target.user, base=site_url()),
        now=now,
    )


def _bag_stream(
    version: DatasetVersion,
    *,
    root: str,
    bag_info: dict[str, str],
    crate: bytes | None,
    url_for: Callable[[VersionFile], str],
    now: dt.datetime,
) -> Iterator[bytes]:
    sink = bulk_downloads._Sink()
    tag_digests: dict[str, str] = {}

    def rows() -> Iterator[VersionFile]:
        files = versions.version_files(version).only(
            "pk", "path", "name", "size", "storage_key", "checksum_sha256"
        )
        return selectors.in_path_pages(files, chunk_size=PAGE, path_of=attrgetter("path"))

    with zipfile.ZipFile(
        sink,  # type: ignore[call-overload]  # a write-only stream is all zipfile needs
        mode="w",
        compression=zipfile.ZIP_DEFLATED,
        allowZip64=True,
    ) as archive:

        def member(name: str, lines: Iterator[str] | list[str], *, tag: bool) -> Iterator[bytes]:
            digest = hashlib.sha256()
            info = zipfile.ZipInfo(root + name, date_time=now.timetuple()[:6])
            info.compress_type = zipfile.ZIP_DEFLATED
            with archive.open(info, mode="w", force_zip64=True) as entry:
                for line in lines:
                    data = line.encode()
                    digest.update(data)
                    entry.write(data)
                    if len(sink.buffer) >= _FLUSH:
                        yield sink.take()
            if tag:
                tag_digests[name] = digest.hexdigest()
            yield sink.take()

        yield from member(
            "bagit.txt",
            [f"BagIt-Version: {BAGIT_VERSION}\n", "Tag-File-Character-Encoding: UTF-8\n"],
            tag=True,
        )
        yield from member(
            "bag-info.txt",
            [f"{key}: {' '.join(str(value).split())}\n" for key, value in bag_info.items()],
            tag=True,
        )
        manifest: Iterator[str] = (
            f"{row.checksum_sha256}  data/{_encode_path(row.path)}\n" for row in rows()
        )
        if crate is not None:
            crate_line = f"{hashlib.sha256(crate).hexdigest()}  data/{CRATE_NAME}\n"
            manifest = _chain([crate_line], manifest)
        yield from member("manifest-sha256.txt", manifest, tag=True)
        fetch = (f"{url_for(row)} {row.size} data/{_encode_path(row.path)}\n" for row in rows())
        yield from member("fetch.txt", fetch, tag=True)
        if crate is not None:
            yield from member(f"data/{CRATE_NAME}", [crate.decode()], tag=False)
        yield from member(
            "tagmanifest-sha256.txt",
            [f"{digest}  {name}\n" for name, digest in tag_digests.items()],
            tag=False,
        )
    if sink.buffer:
        yield sink.take()


def _chain(first: list[str], rest: Iterator[str]) -> Iterator[str]:
    yield from first
    yield from rest


def bag_filename(target: Target, version: DatasetVersion) -> str:
    return f"{target.dataset.pid}-v{version.number}.bag.zip"
