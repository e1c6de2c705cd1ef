"""The citation facts of one published state of a dataset, read the same way by every FAIR
surface (DataCite, OAI-PMH, signposting, content negotiation, exports).

A ``Record`` is built from a dataset (the concept: its current published metadata) or from one
of its versions (the frozen copy of that metadata), so the mappings never ask which of the two
they were given. No HTTP and no access decisions here: callers check access first.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any, cast

from django.db import connection

from openem.site import site_url
from repository import citation, selectors
from repository.models import DataFile, Dataset, Facility

from . import identifiers

#: Media types of the formats the portal recognises (ingest.formats.base.FileFormat values);
#: the EM formats have no registered type, DataCite takes the format's name then.
FORMAT_MEDIA_TYPES = {
    "mrc": "MRC (application/octet-stream)",
    "mrcs": "MRC stack (application/octet-stream)",
    "mrc.gz": "MRC, gzip-compressed (application/gzip)",
    "mrc.bz2": "MRC, bzip2-compressed (application/x-bzip2)",
    "tiff": "image/tiff",
    "eer": "EER (image/tiff)",
    "epu_xml": "EPU metadata (application/xml)",
    "mdoc": "SerialEM mdoc (text/plain)",
    "gain_ref": "Gain reference (application/octet-stream)",
}


@dataclass(frozen=True)
class FileFacts:
    files: int
    bytes: int
    formats: tuple[str, ...]


@dataclass(frozen=True)
class Record:
    dataset: Dataset
    version: Any | None  # repository.models.DatasetVersion once versions exist
    title: str
    description: str
    licence: str
    keywords: tuple[str, ...]
    metadata: dict[str, Any]
    emdb_ids: tuple[str, ...]
    empiar_id: str
    publication_dois: tuple[str, ...]
    visibility: str
    embargo_until: dt.date | None
    published_at: dt.datetime | None
    doi: str = ""
    concept_doi: str = ""
    withdrawn: bool = False
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def number(self) -> int | None:
        return getattr(self.version, "number", None)

    @property
    def url(self) -> str:
        """The landing page of this record (the version's page for a version)."""
        path = self.dataset.get_absolute_url()
        if self.version is not None:
            path += f"v/{self.number}/"  # /datasets/<pid>/v/<n>/, as the issue sets it
        return site_url() + path

    @property
    def modified(self) -> dt.datetime:
        moments = [self.dataset.modified]
        for name in ("published_at", "withdrawn_at"):
            moment = getattr(self.version, name, None)
            if moment is not None:
                moments.append(moment)
        return max(moments)

    @property
    def year(self) -> int:
        return (self.published_at or self.dataset.created).year

    def authors(self) -> list[citation.Author]:
        # citation.authors reads only ``metadata``: the frozen copy of a version is read alike.
        return citation.authors(cast(Dataset, _MetadataHolder(self.metadata)))


class _MetadataHolder:
    """What ``citation.authors`` reads: an object with ``metadata``."""

    def __init__(self, metadata: dict[str, Any]) -> None:
        self.metadata = metadata


def record_for(
    dataset: Dataset, version: Any | None = None, *, doi: str = "", concept_doi: str = ""
) -> Record:
    """The record of a dataset (``version=None``) or of one of its versions. ``doi`` and
    ``concept_doi`` default to what the version or dataset holds (``doi`` fields, when the
    publishing app gives them one)."""
    source: Any = version if version is not None else dataset
    return Record(
        dataset=dataset,
        version=version,
        title=getattr(source, "title", "") or dataset.title,
        description=getattr(source, "description", "") or dataset.description,
        licence=getattr(source, "licence", "") or dataset.licence,
        keywords=tuple(_strings(getattr(source, "keywords", None) or dataset.keywords)),
        metadata=dict(getattr(source, "metadata", None) or dataset.metadata or {}),
        emdb_ids=tuple(_strings(getattr(source, "emdb_ids", None) or dataset.emdb_ids)),
        empiar_id=getattr(source, "empiar_id", "") or dataset.empiar_id,
        publication_dois=tuple(
            _strings(getattr(source, "publication_dois", None) or dataset.publication_dois)
        ),
        visibility=getattr(source, "visibility", "") or dataset.visibility,
        embargo_until=getattr(source, "embargo_until", None) or dataset.embargo_until,
        published_at=getattr(source, "published_at", None) or dataset.published_at,
        doi=doi or str(getattr(source, "doi", "") or "") or _registered_doi(dataset, version),
        concept_doi=concept_doi
        or str(getattr(dataset, "concept_doi", "") or "")
        or _registered_doi(dataset, None),
        withdrawn=getattr(version, "state", "") == "withdrawn",
    )


def _registered_doi(dataset: Dataset, version: Any | None) -> str:
    """The DOI the DOI provider has registered (findable, or hidden after a withdrawal)."""
    return identifiers.registered_doi(dataset, version)


def registered_version_dois(dataset: Dataset) -> list[str]:
    """The DOIs the publishing app has registered for the dataset's versions, v1 first: what
    the concept record ``HasVersion`` (so a harvester of the concept finds every version)."""
    from repository.versions import versions_published

    return [
        doi
        for doi in (_registered_doi(dataset, version) for version in versions_published(dataset))
        if doi
    ]


def _strings(values: Any) -> list[str]:
    return [str(v).strip() for v in values or [] if str(v).strip()]


_FORMATS_SQL = """
WITH RECURSIVE formats(format) AS (
    (SELECT format FROM repository_datafile WHERE dataset_id = %(id)s ORDER BY format LIMIT 1)
    UNION ALL
    SELECT (SELECT f.format FROM repository_datafile f
            WHERE f.dataset_id = %(id)s AND f.format > formats.format
            ORDER BY f.format LIMIT 1)
    FROM formats WHERE formats.format IS NOT NULL
)
SELECT format FROM formats WHERE format IS NOT NULL
"""


def file_facts(record: Record) -> FileFacts:
    """Count, bytes and formats of the record's files. A version holds its counts; the formats
    of a dataset are found by a skip scan of the (dataset, format, path) index, one probe per
    format, so a dataset of 10^6 files costs what one of ten costs."""
    if record.version is not None and hasattr(record.version, "file_count"):
        files, size = int(record.version.file_count), int(record.version.total_bytes)
        formats = list(
            record.version.files.order_by().values_list("format", flat=True).distinct()[:50]
        )
    else:
        summary = selectors.file_summary(record.dataset)
        files, size = summary.files, summary.bytes
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute(_FORMATS_SQL, {"id": record.dataset.pk})
                formats = [row[0] for row in cursor.fetchall()]
        else:
            formats = list(
                DataFile.objects.filter(dataset=record.dataset)
                .order_by()
                .values_list("format", flat=True)
                .distinct()
            )
    return FileFacts(files, size, tuple(sorted(f for f in formats if f)))


def facility_ror_by_name() -> dict[str, str]:
    """Facility names (lower case) with a ROR id: an author's affiliation that names a facility
    gets its ROR id."""
    return {
        name.casefold(): ror
        for name, ror in Facility.objects.exclude(ror_id="").values_list("name", "ror_id")
    }
