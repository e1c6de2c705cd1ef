"""Which published state of a dataset a FAIR surface describes, and whether the asker may see
its files: one resolution for signposting, content negotiation, the metadata exports and the
export packages, following the landing pages' own rules.

- ``/datasets/<pid>/``: insiders see the working copy; everyone else sees the latest published
  version (while a draft of the next one is open, never the draft).
- ``/datasets/<pid>/v/<n>/``: that version once published; a withdrawn one is gone (410), a
  draft exists only for insiders.

Access decisions come from ``repository.access`` (through ``repository.selectors``); nothing
here decides anything of its own.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Any

from repository import access, selectors, versions
from repository.models import Dataset, DatasetStatus, DatasetVersion, VersionState

from . import identifiers
from .records import Record, record_for


@dataclass(frozen=True)
class Refusal:
    """Why a surface answers without the resource: 404 (unknown or not visible), 410
    (withdrawn: a tombstone), 403 (files not open to the asker)."""

    status: int
    message: str


NOT_FOUND = Refusal(404, "There is no dataset with this identifier that you may see.")


@dataclass
class Target:
    dataset: Dataset
    version: DatasetVersion | None  # None: the working copy (insiders of /datasets/<pid>/)
    user: Any
    explicit: bool  # addressed as /v/<n>/ (links then stay on that version)

    @property
    def landing_url(self) -> str:
        return identifiers.landing_url(self.dataset, self.version if self.explicit else None)

    @property
    def base_path(self) -> str:
        """Where this target's exports live: ``/datasets/<pid>/`` or ``.../v/<n>/``."""
        path = self.dataset.get_absolute_url()
        return path + f"v/{self.version.number}/" if self.explicit and self.version else path

    @cached_property
    def cite_as(self) -> str:
        return identifiers.cite_as(self.dataset, self.version if self.explicit else None)

    @cached_property
    def doi(self) -> str:
        return identifiers.doi_of(self.dataset, self.version if self.explicit else None)

    @cached_property
    def shown(self) -> Dataset:
        """A Dataset carrying what this target shows (the version's frozen metadata)."""
        if self.version is None:
            return self.dataset
        return versions.version_as_dataset(self.version)

    @cached_property
    def record(self) -> Record:
        return record_for(self.dataset, self.version, doi=self.doi)

    @cached_property
    def frozen(self) -> DatasetVersion | None:
        """The published version whose frozen files the exports list: this version, or for
        the working copy the latest published one (None: never published)."""
        if self.version is not None:
            return self.version if self.version.state == VersionState.PUBLISHED else None
        return versions.version_latest_published(self.dataset)

    @cached_property
    def is_insider(self) -> bool:
        return access.is_insider(self.user, self.dataset)

    @cached_property
    def files_open(self) -> bool:
        """Whether the asker may list and download this target's files."""
        if self.dataset.status == DatasetStatus.WITHDRAWN:
            return False
        if self.version is None:
            return access.can(self.user, access.Action.DOWNLOAD, self.dataset)
        return self.is_insider or self.shown.files_are_open()

    def files_refusal(self) -> Refusal:
        until = self.shown.embargo_until
        if until and not self.shown.files_are_open():
            return Refusal(403, f"The files are under embargo until {until:%Y-%m-%d}.")
        return Refusal(403, "The files of this dataset are not open to you.")


def resolve(user: Any, pid: str, number: int | None = None) -> Target | Refusal:
    """The target ``user`` addresses with ``/datasets/<pid>/`` (``number=None``) or
    ``/datasets/<pid>/v/<number>/``, or why not."""
    dataset = selectors.dataset_for_user(user=user, pid=pid)
    if dataset is None:
        withdrawn = selectors.dataset_tombstone(pid=pid)
        if withdrawn is not None and (
            number is None
            or versions.dataset_versions(withdrawn)
            .filter(number=number)
            .exclude(state=VersionState.DRAFT)
            .exists()
        ):
            return Refusal(410, f"{pid} was withdrawn; its landing page keeps the citation.")
        return NOT_FOUND
    if number is None:
        version = None
        if not access.is_insider(user, dataset):
            latest = versions.version_latest_published(dataset)
            if latest is not None and versions.version_draft(dataset) is not None:
                version = latest
        return Target(dataset, version, user, explicit=False)
    found = versions.version_get(dataset, number)
    if found is None or (
        found.state == VersionState.DRAFT and not access.is_insider(user, dataset)
    ):
        return Refusal(404, f"{pid} has no version {number} that you may see.")
    if found.state == VersionState.WITHDRAWN:
        return Refusal(
            410, f"Version {number} of {pid} was withdrawn: {found.withdrawal_reason}".strip()
        )
    if found.state == VersionState.DRAFT:
        return Refusal(404, f"Version {number} of {pid} is a draft, not published yet.")
    return Target(dataset, found, user, explicit=True)
