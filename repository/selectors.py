"""Reads with rules. Access filtering always comes from ``repository.access``.

The landing page's reads are here too: the file summary, the gallery and result previews, and
the file browser (folders and one page of files of a folder, paginated by key on the
``(dataset, directory, name)`` index, never by OFFSET, so that page 5,000 of a folder of
10^6 files costs what page 1 costs)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from django.core.cache import cache
from django.db import connection
from django.db.models import Count, Q, QuerySet, Sum

from . import access
from .models import DataFile, Dataset, DatasetStatus, Facility, FileState, Instrument


def recent_datasets(*, user: Any, limit: int = 6) -> QuerySet[Dataset]:
    return (
        access.datasets_visible_to(user)
        .filter(status=DatasetStatus.PUBLISHED)
        .select_related("facility", "instrument")
        .order_by("-published_at", "-created")[:limit]
    )


def portal_counts(*, user: Any) -> dict[str, int]:
    """Headline numbers for the home page, over what ``user`` may see."""
    visible = access.datasets_visible_to(user)
    files = DataFile.objects.filter(dataset__in=visible.values("pk"))
    totals = files.aggregate(files=Count("pk"), bytes=Sum("size"))
    return {
        "datasets": visible.count(),
        "files": totals["files"] or 0,
        "bytes": totals["bytes"] or 0,
        "facilities": Facility.objects.count(),
        "instruments": Instrument.objects.count(),
    }


def _impossible_pid(pid: str) -> bool:
    """No dataset has such an identifier (and PostgreSQL refuses NUL in a query)."""
    return "\x00" in pid or len(pid) > 200


def dataset_for_user(*, user: Any, pid: str) -> Dataset | None:
    if _impossible_pid(pid):
        return None
    return (
        access.datasets_visible_to(user)
        .select_related("facility", "instrument", "project", "owner")
        .filter(pid=pid)
        .first()
    )


def dataset_tombstone(*, pid: str) -> Dataset | None:
    """A withdrawn dataset that was published (public or embargoed): its identifier answers
    410 with the citation metadata, to anyone."""
    return (
        Dataset.objects.select_related("facility", "instrument", "project", "owner")
        .filter(pid=pid, status=DatasetStatus.WITHDRAWN, versions__isnull=False)
        .exclude(visibility="private")
        .distinct()
        .first()
    )


def dataset_file_page(*, dataset: Dataset, directory: str = "", limit: int = 100) -> list[DataFile]:
    """One page of a folder of the file browser (uses the (dataset, directory, name) index)."""
    return list(
        DataFile.objects.filter(dataset=dataset, directory=directory).order_by("name")[:limit]
    )


def dataset_file_progress(*, dataset: Dataset) -> dict[str, int]:
    """Files and bytes per state: the ingest progress the UI and API show."""
    rows = (
        DataFile.objects.filter(dataset=dataset)
        .values("state")
        .annotate(n=Count("pk"), b=Sum("size"))
    )
    progress = {f"{state}_files": 0 for state in FileState.values} | {
        f"{state}_bytes": 0 for state in FileState.values
    }
    for row in rows:
        progress[f"{row['state']}_files"] = row["n"]
        progress[f"{row['state']}_bytes"] = row["b"] or 0
    progress["total_files"] = sum(progress[f"{s}_files"] for s in FileState.values)
    progress["total_bytes"] = sum(progress[f"{s}_bytes"] for s in FileState.values)
    return progress


def facilities_with_counts() -> QuerySet[Facility]:
    return Facility.objects.annotate(
        public_datasets=Count("datasets", filter=Q(datasets__status=DatasetStatus.PUBLISHED))
    )


def in_path_pages(
    rows: QuerySet[Any, Any], *, chunk_size: int, path_of: Callable[[Any], str]
) -> Iterator[Any]:
    """Every row of ``rows`` (one dataset's files, ordered by path), read in keyset pages
    along the (dataset, path) index: the first row after one query, memory flat, and no
    transaction held open while a slow client reads. (Not ``.iterator()``: outside a
    transaction Django declares its cursor WITH HOLD, and PostgreSQL then materialises every
    row before the first, 1.5 s for 10^6 files.) ``path_of`` reads a row's path."""
    page = list(rows[:chunk_size])
    while page:
        yield from page
        if len(page) < chunk_size:
            return
        page = list(rows.filter(path__gt=path_of(page[-1]))[:chunk_size])


# --- the landing page: file summary, gallery, file browser ----------------------------------

FILE_PAGE_SIZE = 50
MAX_FILE_PAGE_SIZE = 500
#: The folder list of a dataset is found by a skip scan of the browse index, one index probe
#: per folder; datasets with more folders than this show a note instead of the rest.
MAX_FOLDERS = 20_000
GALLERY_SIZE = 12
#: The gallery looks for thumbnails among this many ready files (cheap, whatever the size).
GALLERY_CANDIDATES = 2_000
SUMMARY_CACHE_SECONDS = 300
#: Datasets up to this many files are counted while their page is made; bigger ones after.
INLINE_SUMMARY_MAX_FILES = 50_000


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
