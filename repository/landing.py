"""What a dataset's landing page shows and offers, built from the data (no HTTP here).

- Citation text (and BibTeX), authors with ORCID links, cross-references (EMDB, EMPIAR, DOIs).
- The schema.org ``Dataset`` description embedded as JSON-LD, for search engines and FAIR
  harvesters (Google Dataset Search, DataCite, OpenAIRE read it).
- The metadata as grouped tables with units and where each value came from (extracted from
  the files' headers and sidecars, or entered by a person).
- The file browser: folders and one page of files of a folder, paginated by key (the
  ``(dataset, directory, name)`` index), never by OFFSET, so that page 5,000 of a folder of
  10^6 files costs what page 1 costs.
- Whole-dataset or folder downloads: the URL list for ``wget``/``curl`` (presigned, with
  expiry) and the streamed ZIP (no temporary file), only under ``OPENEM_ZIP_MAX_BYTES``.

Callers check access first (``repository.access``); nothing here decides who may see what.
"""

from __future__ import annotations

import datetime as dt
import json
import zipfile
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.core import signing
from django.core.cache import cache
from django.db import connection
from django.db.models import Count, Q, QuerySet, Sum
from django.utils import timezone

import storage
from metadata import display, oscem, privacy
from metadata.oscem import Person as Author
from openem.site import site_url

from . import access
from .models import DataFile, Dataset, FileState, Technique, Visibility
from .paths import starts_with

SITE_NAME = "OpenEM data portal"
FILE_PAGE_SIZE = 50
MAX_FILE_PAGE_SIZE = 500
#: The folder list of a dataset is found by a skip scan of the browse index, one index probe
#: per folder; datasets with more folders than this show a note instead of the rest.
MAX_FOLDERS = 20_000
GALLERY_SIZE = 12
#: The gallery looks for thumbnails among this many ready files (cheap, whatever the size).
GALLERY_CANDIDATES = 2_000
DOWNLOADABLE_STATES = (FileState.STORED, FileState.PROCESSING, FileState.READY, FileState.FAILED)
SIGNED_DOWNLOAD_SALT = "openem.repository.signed-download"
ZIP_CHUNK = 1024 * 1024
SUMMARY_CACHE_SECONDS = 300
#: A browser ZIP of more files than this is refused in favour of the manifest, URL list or CLI.
ZIP_MAX_FILES = 10_000
#: Datasets up to this many files are counted while their page is made; bigger ones after.
INLINE_SUMMARY_MAX_FILES = 50_000

OSCEM_GROUPS = (
    ("instrument", "Instrument"),
    ("acquisition", "Acquisition"),
    ("sample", "Sample"),
    ("organizational", "People and funding"),
    ("processing", "Processing"),
)
TECHNIQUE_TERMS: dict[str, str] = {
    Technique.SPA: "single-particle cryo-electron microscopy",
    Technique.TOMOGRAPHY: "cryo-electron tomography",
    Technique.SUBTOMO: "subtomogram averaging",
    Technique.CELLULAR_TOMO: "cellular cryo-electron tomography",
    Technique.ENV_TOMO: "environmental cryo-electron tomography",
    Technique.MICROED: "microcrystal electron diffraction",
    Technique.OTHER: "electron microscopy",
}


# ---------------------------------------------------------------------------------------------
# People, citation, cross-references


def authors(dataset: Dataset) -> list[Author]:
    """Authors from the metadata (``organizational.authors``) that have a name, in their order."""
    return oscem.named_people(dataset.metadata or {})


def citation_year(dataset: Dataset) -> int:
    return (dataset.published_at or dataset.created).year


def citation_text(dataset: Dataset, *, url: str) -> str:
    """A citation in the common data-citation shape (DataCite / FORCE11):
    Creators (Year). Title [Data set]. Publisher. Identifier."""
    people = authors(dataset)
    if people:
        names = [a.cited_name for a in people]
        creators = ", ".join(names[:-1]) + (", & " if len(names) > 2 else " & ") + names[-1]
        creators = names[0] if len(names) == 1 else creators
    else:
        creators = dataset.facility.name
    title = dataset.title.rstrip(".")
    return (
        f"{creators} ({citation_year(dataset)}). {title} [Data set]. "
        f"{SITE_NAME}, {dataset.facility.name}. {dataset.pid}. {url}"
    )


def bibtex(dataset: Dataset, *, url: str) -> str:
    people = authors(dataset)
    author_field = (
        " and ".join(f"{a.family_name}, {a.given_name}".strip(", ") for a in people)
        or f"{{{dataset.facility.name}}}"
    )

    def esc(text: str) -> str:
        return text.replace("{", "\\{").replace("}", "\\}")

    return (
        f"@misc{{{dataset.pid},\n"
        f"  author = {{{esc(author_field)}}},\n"
        f"  title = {{{{{esc(dataset.title)}}}}},\n"
        f"  year = {{{citation_year(dataset)}}},\n"
        f"  publisher = {{{SITE_NAME}, {esc(dataset.facility.name)}}},\n"
        f"  howpublished = {{\\url{{{url}}}}},\n"
        f"  note = {{Dataset {dataset.pid}}}\n"
        "}\n"
    )


@dataclass(frozen=True)
class CrossReference:
    kind: str
    identifier: str
    url: str


def cross_references(dataset: Dataset) -> list[CrossReference]:
    refs = [
        CrossReference("EMDB", emdb, f"https://www.ebi.ac.uk/emdb/{emdb}")
        for emdb in dataset.emdb_ids or []
    ]
    if dataset.empiar_id:
        refs.append(
            CrossReference(
                "EMPIAR", dataset.empiar_id, f"https://www.ebi.ac.uk/empiar/{dataset.empiar_id}/"
            )
        )
    refs.extend(
        CrossReference("DOI", doi, f"https://doi.org/{doi}")
        for doi in dataset.publication_dois or []
    )
    return refs


LICENCE_URLS = {
    "CC-BY-4.0": "https://creativecommons.org/licenses/by/4.0/",
    "CC0-1.0": "https://creativecommons.org/publicdomain/zero/1.0/",
    "CC-BY-SA-4.0": "https://creativecommons.org/licenses/by-sa/4.0/",
    "CC-BY-NC-4.0": "https://creativecommons.org/licenses/by-nc/4.0/",
}


def licence_url(licence: str) -> str:
    return LICENCE_URLS.get(licence) or f"https://spdx.org/licenses/{licence}.html"


# ---------------------------------------------------------------------------------------------
# schema.org JSON-LD


@dataclass(frozen=True)
class Distribution:
    name: str
    url: str
    encoding_format: str
    description: str = ""


def json_ld(
    dataset: Dataset,
    *,
    url: str,
    summary: FileSummary | None,
    distributions: Sequence[Distribution] = (),
) -> dict[str, Any]:
    """The schema.org ``Dataset`` description (https://schema.org/Dataset, as profiled by
    Google Dataset Search and Bioschemas)."""
    people = authors(dataset)
    creators: list[dict[str, Any]] = [
        {
            "@type": "Person",
            "name": a.name,
            "givenName": a.given_name,
            "familyName": a.family_name,
            **({"@id": a.orcid_url, "identifier": a.orcid_url} if a.orcid else {}),
            **(
                {"affiliation": {"@type": "Organization", "name": a.affiliation}}
                if a.affiliation
                else {}
            ),
        }
        for a in people
    ] or [_facility_org(dataset)]
    identifiers = [
        url,
        dataset.pid,
        *(f"https://doi.org/{d}" for d in dataset.publication_dois or []),
    ]
    technique = dataset.get_technique_display()
    document: dict[str, Any] = {
        "@context": "https://schema.org/",
        "@type": "Dataset",
        "@id": url,
        "url": url,
        "name": dataset.title,
        "description": _description(dataset),
        "identifier": identifiers,
        "creator": creators,
        "publisher": _facility_org(dataset),
        "provider": {"@type": "Organization", "name": SITE_NAME},
        "license": licence_url(dataset.licence),
        "keywords": list(dataset.keywords or []),
        "measurementTechnique": [
            technique,
            TECHNIQUE_TERMS.get(dataset.technique, "electron microscopy"),
        ],
        "dateCreated": dataset.created.date().isoformat(),
        "dateModified": dataset.modified.isoformat(),
        "isAccessibleForFree": True,
        "includedInDataCatalog": {
            "@type": "DataCatalog",
            "name": SITE_NAME,
            "url": site_url() + "/",
        },
        "size": f"{summary.files} files, {summary.bytes} bytes" if summary else "",
        "citation": [f"https://doi.org/{d}" for d in dataset.publication_dois or []],
        "sameAs": [ref.url for ref in cross_references(dataset) if ref.kind != "DOI"],
    }
    if dataset.published_at:
        document["datePublished"] = dataset.published_at.date().isoformat()
    if dataset.visibility == Visibility.EMBARGOED and dataset.embargo_until:
        document["conditionsOfAccess"] = (
            f"Files under embargo until {dataset.embargo_until.isoformat()}; metadata open."
        )
    instrument = dataset.instrument
    if instrument is not None:
        document["instrument"] = {  # not core schema.org, but Bioschemas-style and harmless
            "@type": "Thing",
            "name": f"{instrument.manufacturer} {instrument.model}",
        }
    if distributions:
        document["distribution"] = [
            {
                "@type": "DataDownload",
                "name": d.name,
                "contentUrl": d.url,
                "encodingFormat": d.encoding_format,
                **({"description": d.description} if d.description else {}),
            }
            for d in distributions
        ]
    return {key: value for key, value in document.items() if value not in ([], "", None)}


def _facility_org(dataset: Dataset) -> dict[str, Any]:
    facility = dataset.facility
    org: dict[str, Any] = {"@type": "Organization", "name": facility.name}
    if facility.ror_id:
        org["@id"] = f"https://ror.org/{facility.ror_id}"
    if facility.homepage:
        org["url"] = facility.homepage
    return org


def _description(dataset: Dataset) -> str:
    text = dataset.description.strip()
    if len(text) >= 50:
        return text[:5000]
    # Google asks for 50+ characters: complete a short description with the facts.
    facts = f"{dataset.get_technique_display()} data from {dataset.facility.name}"
    if dataset.instrument is not None:
        facts += f", {dataset.instrument.manufacturer} {dataset.instrument.model}"
    return f"{text} {facts}.".strip() if text else f"{dataset.title}. {facts}."


def json_ld_script(document: dict[str, Any]) -> str:
    """The JSON for a ``<script type="application/ld+json">``: ``<``, ``>`` and ``&`` escaped
    so that no text of the dataset can close the script element."""
    text = json.dumps(document, ensure_ascii=False, indent=1, sort_keys=False)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


# ---------------------------------------------------------------------------------------------
# Metadata tables


@dataclass(frozen=True)
class MetadataRow:
    path: str
    label: str
    value: str
    unit: str
    source: str  # "extracted" | "entered"


@dataclass
class MetadataGroup:
    key: str
    title: str
    rows: list[MetadataRow] = field(default_factory=list)

    @property
    def extracted_count(self) -> int:
        return sum(1 for row in self.rows if row.source == "extracted")


#: Contact details of people stay with those who work on the dataset (metadata.privacy).
PERSONAL_KEYS = privacy.PERSONAL_KEYS


def metadata_groups(
    dataset: Dataset, *, labels: dict[str, str] | None = None, personal: bool = False
) -> list[MetadataGroup]:
    """The OSC-EM document as tables per top-level section (instrument, acquisition, ...).

    A value is *extracted* when the ingest derived it (the ``_derived`` copy holds the same
    value), otherwise *entered* by a person. Quantities show their value and unit as stored.
    """
    metadata = dataset.metadata or {}
    derived = metadata.get("_derived") or {}
    labels = labels or {}
    known = dict(OSCEM_GROUPS)
    order = [key for key, _ in OSCEM_GROUPS] + sorted(
        k for k in metadata if k not in known and not str(k).startswith("_")
    )
    groups = []
    for key in order:
        section = metadata.get(key)
        if section in (None, {}, []):
            continue
        group = MetadataGroup(key, known.get(key) or _humanize(key))
        for path, value in _leaves(section, key):
            shown, unit = _display(value)
            if shown == "" or (not personal and path.rsplit(".", 1)[-1] in PERSONAL_KEYS):
                continue
            extracted = _at(derived, path) == value
            group.rows.append(
                MetadataRow(
                    path=path,
                    label=_label(path, labels),
                    value=shown,
                    unit=unit,
                    source="extracted" if extracted else "entered",
                )
            )
        if group.rows:
            groups.append(group)
    return groups


def schema_labels(dataset: Dataset) -> dict[str, str]:
    """Field titles from the dataset's metadata schema, by field path (``a.b[].c``)."""
    try:
        from metadata.fields import schema_fields
        from metadata.selectors import schema_for_dataset
    except ImportError:  # the metadata app's registry is optional for the landing page
        return {}
    schema = schema_for_dataset(dataset)
    if schema is None:
        return {}
    return {node.path: node.label for node in schema_fields(schema.document).walk() if node.path}


def _is_quantity(value: Any) -> bool:
    return isinstance(value, dict) and "value" in value and "unit" in value


def _leaves(value: Any, path: str) -> Iterator[tuple[str, Any]]:
    if _is_quantity(value):
        yield path, value
    elif isinstance(value, dict):
        for key, child in value.items():
            yield from _leaves(child, f"{path}.{key}")
    elif isinstance(value, list):
        if all(not isinstance(item, dict | list) for item in value):
            yield path, value
        else:
            for index, item in enumerate(value):
                yield from _leaves(item, f"{path}[{index}]")
    else:
        yield path, value


def _at(document: Any, path: str) -> Any:
    node = document
    for part in path.replace("[", ".[").split("."):
        if not part:
            continue
        if part.startswith("["):
            index = int(part[1:-1])
            if not isinstance(node, list) or index >= len(node):
                return None
            node = node[index]
        else:
            if not isinstance(node, dict):
                return None
            node = node.get(part)
    return node


def _display(value: Any) -> tuple[str, str]:
    """Rounded and with units as people write them: the one helper the form uses too."""
    return display.value_and_unit(value)


def _label(path: str, labels: dict[str, str]) -> str:
    field_path = "".join("[]" if part.startswith("[") else part for part in _split_keep_index(path))
    parts = path.split(".")[1:]
    label = labels.get(field_path)
    if label:
        parent = parts[-2] if len(parts) > 1 else ""
        if parent and _humanize(parent.split("[")[0]) not in label:
            return f"{_humanize(parent)} · {label}"
        return label
    return " · ".join(_humanize(p) for p in parts) or _humanize(path)


def _split_keep_index(path: str) -> list[str]:
    out: list[str] = []
    buffer = ""
    for char in path:
        if char == "[":
            out.append(buffer)
            buffer = "["
        elif char == "]":
            out.append(buffer + "]")
            buffer = ""
        else:
            buffer += char
    out.append(buffer)
    return [p for p in out if p]


def _humanize(key: str) -> str:
    """``authors[0]`` -> ``Authors #1`` (people count from one)."""
    name, _, index = key.partition("[")
    text = name.replace("_", " ").strip().capitalize()
    if index:
        number = f"#{int(index.rstrip(']')) + 1}"
        return f"{text} {number}".strip()
    return text


def header_rows(header: dict[str, Any], limit: int = 400) -> tuple[list[MetadataRow], bool]:
    """A file's extracted header as rows (path, value, unit); True when cut at ``limit``."""
    rows: list[MetadataRow] = []
    for path, value in _leaves(header, ""):
        shown, unit = _display(value)
        rows.append(MetadataRow(path.lstrip("."), path.lstrip("."), shown, unit, "extracted"))
        if len(rows) >= limit:
            return rows, True
    return rows, False


# ---------------------------------------------------------------------------------------------
# File summary, gallery and browser


@dataclass(frozen=True)
class FileSummary:
    files: int
    bytes: int
    ready: int
    failed: int
    pending: int
    downloadable_files: int  # whose bytes are stored (not merely registered)
    downloadable_bytes: int


def _summary_key(dataset: Dataset) -> str:
    return f"openem:landing:summary:{dataset.pk}:{dataset.status}"


def file_summary(dataset: Dataset) -> FileSummary:
    """Counts for the landing page, read from the (dataset, state) index that includes the
    size. A published dataset's files no longer change, so its summary is also cached for a
    few minutes; one still being uploaded is counted afresh."""
    key = _summary_key(dataset)
    if dataset.status == "published":
        cached = cache.get(key)
        if cached is not None:
            return FileSummary(**cached)
    stored = ~Q(state=FileState.REGISTERED)
    # Counting the state, not the id: the id is not in the index, reading it means the heap.
    rows = DataFile.objects.filter(dataset=dataset).aggregate(
        files=Count("state"),
        bytes=Sum("size"),
        ready=Count("state", filter=Q(state=FileState.READY)),
        failed=Count("state", filter=Q(state=FileState.FAILED)),
        downloadable_files=Count("state", filter=stored),
        downloadable_bytes=Sum("size", filter=stored),
    )
    figures = {name: value or 0 for name, value in rows.items()}
    summary = FileSummary(
        **figures, pending=figures["files"] - figures["ready"] - figures["failed"]
    )
    if dataset.status == "published":
        cache.set(key, summary.__dict__, SUMMARY_CACHE_SECONDS)
    return summary


def file_summary_if_cheap(dataset: Dataset) -> FileSummary | None:
    """The summary when it costs little: cached, or a dataset of at most
    ``INLINE_SUMMARY_MAX_FILES`` files. None for a big dataset not counted lately: its page
    then loads the counts in a second request instead of making the first one wait."""
    if dataset.status == "published":
        cached = cache.get(_summary_key(dataset))
        if cached is not None:
            return FileSummary(**cached)
    first = DataFile.objects.filter(dataset=dataset).values("state")[: INLINE_SUMMARY_MAX_FILES + 1]
    if first.count() <= INLINE_SUMMARY_MAX_FILES:
        return file_summary(dataset)
    return None


def _with_thumbnails(dataset_id: int, limit: int) -> QuerySet[DataFile]:
    """Up to ``limit`` files with a thumbnail, looked for among a bounded number of files."""
    candidates = DataFile.objects.filter(dataset_id=dataset_id, state=FileState.READY).values("pk")[
        :GALLERY_CANDIDATES
    ]
    return (
        DataFile.objects.filter(pk__in=candidates)
        .exclude(thumbnail_key="")
        .only("pk", "dataset_id", "name", "path", "format", "thumbnail_key", "header")
        .order_by("path")[:limit]
    )


def gallery(dataset: Dataset, limit: int = GALLERY_SIZE) -> list[DataFile]:
    return list(_with_thumbnails(dataset.pk, limit))


def previews_for(user: Any, datasets: Sequence[Dataset]) -> dict[int, DataFile]:
    """One preview per dataset of a result page, for those whose files ``user`` may list
    (an embargoed dataset's previews wait for its files): one query for the access rule and
    one for the previews (a UNION of one short, bounded lookup per dataset on PostgreSQL;
    a query each on SQLite, which cannot order the parts of a UNION)."""
    ids = [dataset.pk for dataset in datasets]
    if not ids:
        return {}
    open_ids = list(
        access.datasets_with_files_for(user, Dataset.objects.filter(pk__in=ids)).values_list(
            "pk", flat=True
        )
    )
    branches = [_with_thumbnails(dataset_id, 1) for dataset_id in open_ids]
    if not branches:
        return {}
    if connection.features.supports_slicing_ordering_in_compound and len(branches) > 1:
        found: Iterable[DataFile] = branches[0].union(*branches[1:], all=True)
    else:
        found = [row for branch in branches for row in branch]
    return {datafile.dataset_id: datafile for datafile in found}


@dataclass(frozen=True)
class Crumb:
    name: str
    directory: str


@dataclass
class FilePage:
    directory: str
    files: list[DataFile]
    folders: list[str]
    folders_truncated: bool
    after: str | None  # cursor of the next page (name of the last file shown)
    before: str | None  # cursor of the previous page (name of the first file shown)
    first_page: bool

    @property
    def crumbs(self) -> list[Crumb]:
        crumbs = [Crumb("All files", "")]
        parts = self.directory.split("/") if self.directory else []
        for index, part in enumerate(parts):
            crumbs.append(Crumb(part, "/".join(parts[: index + 1])))
        return crumbs

    @property
    def parent(self) -> str | None:
        if not self.directory:
            return None
        return self.directory.rpartition("/")[0]

    def folder_path(self, name: str) -> str:
        return f"{self.directory}/{name}" if self.directory else name


def normalise_directory(raw: str | None) -> str:
    return "/".join(part for part in (raw or "").split("/") if part not in ("", ".", ".."))


def file_page(
    dataset: Dataset,
    *,
    directory: str = "",
    after: str | None = None,
    before: str | None = None,
    limit: int = FILE_PAGE_SIZE,
) -> FilePage:
    """One page of a folder: its subfolders (first page only) and up to ``limit`` files.

    Keyset pagination on ``name`` within ``(dataset, directory)``: the index answers any page
    with one range scan of ``limit + 1`` entries.
    """
    limit = max(1, min(limit, MAX_FILE_PAGE_SIZE))
    files_qs = DataFile.objects.filter(dataset=dataset, directory=directory).only(
        "pk",
        "dataset_id",
        "name",
        "path",
        "directory",
        "size",
        "format",
        "state",
        "error",
        "checksum_sha256",
        "thumbnail_key",
    )
    if before is not None:
        rows = list(files_qs.filter(name__lt=before).order_by("-name")[: limit + 1])
        has_more_before = len(rows) > limit
        rows = list(reversed(rows[:limit]))
        next_cursor = rows[-1].name if rows else None
        previous_cursor = rows[0].name if rows and has_more_before else None
        first = not has_more_before
    else:
        if after is not None:
            files_qs = files_qs.filter(name__gt=after)
        rows = list(files_qs.order_by("name")[: limit + 1])
        has_more = len(rows) > limit
        rows = rows[:limit]
        next_cursor = rows[-1].name if rows and has_more else None
        previous_cursor = rows[0].name if rows and after is not None else None
        first = after is None
    folders, truncated = subfolders(dataset, directory) if first else ([], False)
    return FilePage(
        directory=directory,
        files=rows,
        folders=folders,
        folders_truncated=truncated,
        after=next_cursor,
        before=previous_cursor,
        first_page=first,
    )


_DIRECTORIES_SQL = """
WITH RECURSIVE folders(directory, step) AS (
    SELECT MIN(directory), 1 FROM {table} WHERE dataset_id = %s
    UNION ALL
    SELECT (SELECT f.directory FROM {table} f
            WHERE f.dataset_id = %s AND f.directory > folders.directory
            ORDER BY f.directory LIMIT 1),
           folders.step + 1
    FROM folders
    WHERE folders.directory IS NOT NULL AND folders.step < %s
)
SELECT directory FROM folders WHERE directory IS NOT NULL
"""


def all_directories(dataset: Dataset, *, limit: int = MAX_FOLDERS) -> tuple[list[str], bool]:
    """Every distinct folder of the dataset, by a skip scan of the browse index (one probe per
    folder, whatever the number of files); True when cut at ``limit``."""
    remembered: dict[int, tuple[list[str], bool]] = dataset.__dict__.setdefault(
        "_openem_directories", {}
    )  # one scan per request, however many parts of the page ask
    if limit not in remembered:
        table = connection.ops.quote_name(DataFile._meta.db_table)
        with connection.cursor() as cursor:
            cursor.execute(
                _DIRECTORIES_SQL.format(table=table), [dataset.pk, dataset.pk, limit + 1]
            )
            directories = [row[0] for row in cursor.fetchall()]
        remembered[limit] = (directories[:limit], len(directories) > limit)
    return remembered[limit]


def subfolders(dataset: Dataset, directory: str) -> tuple[list[str], bool]:
    """Names of the folders directly inside ``directory`` (including folders that hold only
    folders), sorted."""
    directories, truncated = all_directories(dataset)
    prefix = f"{directory}/" if directory else ""
    children = {
        d[len(prefix) :].split("/", 1)[0]
        for d in directories
        if d and d.startswith(prefix) and d != directory
    }
    return sorted(children), truncated


def directory_exists(dataset: Dataset, directory: str) -> bool:
    if not directory:
        return True
    if DataFile.objects.filter(dataset=dataset, directory=directory).exists():
        return True
    directories, _ = all_directories(dataset)
    return any(d.startswith(directory + "/") for d in directories)


# ---------------------------------------------------------------------------------------------
# Whole-dataset and folder downloads


def folder_q(dataset: Dataset, directory: str) -> Q:
    """Files of ``directory`` and of the folders below it. The folders are listed by name
    from the skip scan, so the (dataset, directory, name) index finds their files whatever
    the database's collation (a prefix LIKE could not use it)."""
    directories, truncated = all_directories(dataset)
    if truncated:
        return Q(directory=directory) | starts_with("directory", directory + "/")
    prefix = directory + "/"
    return Q(directory__in=[d for d in directories if d == directory or d.startswith(prefix)])


def bulk_files(dataset: Dataset, *, directory: str = "") -> Any:
    """The downloadable files of the dataset or of one folder (and below), in path order."""
    files = DataFile.objects.filter(dataset=dataset, state__in=DOWNLOADABLE_STATES)
    if directory:
        files = files.filter(folder_q(dataset, directory))
    return files.order_by("path")


@dataclass(frozen=True)
class BulkSize:
    files: int
    bytes: int
    zip_limit: int
    capped: bool = False  # more files than a ZIP may hold: the figures are a lower bound

    @property
    def zip_allowed(self) -> bool:
        return not self.capped and self.files > 0 and 0 < self.bytes <= self.zip_limit

    @property
    def zip_max_files(self) -> int:
        return ZIP_MAX_FILES


def bulk_size(dataset: Dataset, *, directory: str = "") -> BulkSize:
    """Files and bytes a whole-dataset or folder download would hold. A folder is counted
    up to ``ZIP_MAX_FILES + 1`` files only, so that its page stays cheap whatever its size."""
    limit = settings.OPENEM_ZIP_MAX_BYTES
    if not directory:
        summary = file_summary(dataset)
        files, size = summary.downloadable_files, summary.downloadable_bytes
        return BulkSize(files, size, limit, capped=files > ZIP_MAX_FILES)
    folder = DataFile.objects.filter(dataset=dataset).filter(folder_q(dataset, directory))
    # Counted on the browse index alone (no row is read) up to one file past the limit.
    counted = folder.order_by().values("name")[: ZIP_MAX_FILES + 1].count()
    if counted > ZIP_MAX_FILES:
        return BulkSize(counted, 0, limit, capped=True)
    totals = folder.filter(state__in=DOWNLOADABLE_STATES).aggregate(
        files=Count("pk"), bytes=Sum("size")
    )
    return BulkSize(totals["files"] or 0, totals["bytes"] or 0, limit)


class _Sink:
    """A write-only stream for ``zipfile``: it collects what the archive writes, and the
    generator hands it on; being unseekable makes zipfile write data descriptors."""

    def __init__(self) -> None:
        self.buffer = bytearray()

    def write(self, data: bytes) -> int:
        self.buffer += data
        return len(data)

    def flush(self) -> None:
        return None

    def take(self) -> bytes:
        data = bytes(self.buffer)
        self.buffer.clear()
        return data


def zip_stream(files: Iterable[DataFile], *, root: str = "") -> Iterator[bytes]:
    """A ZIP of ``files`` (stored, not compressed: EM data does not compress) as a stream of
    blocks; memory stays at one block whatever the size, and nothing touches the disk.
    Paths inside the archive are relative to ``root``."""
    store = storage.get_store()
    sink = _Sink()
    prefix = f"{root}/" if root else ""
    with zipfile.ZipFile(
        sink,  # type: ignore[call-overload]  # a write-only stream is all zipfile needs here
        mode="w",
        compression=zipfile.ZIP_STORED,
        allowZip64=True,
    ) as archive:
        for datafile in files:
            name = (
                datafile.path[len(prefix) :]
                if prefix and datafile.path.startswith(prefix)
                else datafile.path
            )
            info = zipfile.ZipInfo(name, date_time=_zip_time(datafile.created))
            info.compress_type = zipfile.ZIP_STORED
            info.file_size = datafile.size
            with archive.open(
                info, mode="w", force_zip64=datafile.size >= zipfile.ZIP64_LIMIT
            ) as entry:
                for chunk in store.iter_chunks(datafile.storage_key, ZIP_CHUNK):
                    entry.write(chunk)
                    if len(sink.buffer) >= ZIP_CHUNK:
                        yield sink.take()
            if sink.buffer:
                yield sink.take()
    if sink.buffer:
        yield sink.take()


def _zip_time(moment: dt.datetime) -> tuple[int, int, int, int, int, int]:
    local = timezone.localtime(moment)
    year = min(max(local.year, 1980), 2107)
    return (year, local.month, local.day, local.hour, local.minute, local.second)


def signed_download_token(*, datafile: DataFile, user: Any) -> str:
    """A bearer token for one file and one user (for local storage, where there are no
    presigned URLs); :func:`signed_download_open` checks its age and the user's access again."""
    user_id = user.pk if getattr(user, "is_authenticated", False) else None
    return signing.dumps(
        {"f": datafile.pk, "u": user_id}, salt=SIGNED_DOWNLOAD_SALT, compress=False
    )


def signed_download_open(token: str) -> tuple[int, int | None] | None:
    """(file id, user id or None) of a valid, unexpired token; None otherwise."""
    try:
        payload = signing.loads(
            token, salt=SIGNED_DOWNLOAD_SALT, max_age=settings.OPENEM_PRESIGN_EXPIRY
        )
    except signing.BadSignature:
        return None
    if not isinstance(payload, dict) or not isinstance(payload.get("f"), int):
        return None
    user_id = payload.get("u")
    return payload["f"], user_id if isinstance(user_id, int) else None


@dataclass(frozen=True)
class UrlListFormat:
    name: str
    filename_suffix: str
    help: str


URL_LIST_FORMATS = {
    "wget": UrlListFormat("wget", "urls.txt", "wget --content-disposition -i {file}"),
    "curl": UrlListFormat("curl", "curl.txt", "curl --parallel --create-dirs -K {file}"),
}


def url_list_stream(
    files: Iterable[DataFile],
    *,
    url_for: Any,
    list_format: str,
    expires_at: dt.datetime,
    root: str = "",
) -> Iterator[bytes]:
    """One URL per file (``wget -i``), or a curl config that also keeps the folder layout.

    ``url_for(datafile)`` gives the presigned (S3) or signed (local) URL; they expire at
    ``expires_at``, which the curl config states in a comment (wget lists cannot hold one).
    """
    prefix = f"{root}/" if root else ""
    buffer: list[str] = []
    if list_format == "curl":
        buffer.append(
            f"# {SITE_NAME}: presigned download links, valid until {expires_at:%Y-%m-%d %H:%M} UTC.\n"
            "# Run: curl --parallel --create-dirs -K this-file\n"
        )
    for datafile in files:
        url = url_for(datafile)
        if list_format == "curl":
            relative = datafile.path[len(prefix) :] if prefix else datafile.path
            buffer.append(f'url = "{_curl_quote(url)}"\noutput = "{_curl_quote(relative)}"\n')
        else:
            buffer.append(url + "\n")
        if len(buffer) >= 500:
            yield "".join(buffer).encode()
            buffer.clear()
    if buffer:
        yield "".join(buffer).encode()


def _curl_quote(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', '\\"')
