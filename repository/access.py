"""The one place that decides who may do what with a dataset.

Every surface (HTML pages, API, downloads, search, exports, feeds) asks this module, either per
object (``can_*``) or as a queryset filter (``datasets_*_for``), and both forms are derived from
the same rules so that they cannot disagree; what a user may see is also given as data
(:func:`visible_parts`), from which the search's counts over the facet cells write their SQL:

- Insiders of a dataset: site admins, its owner, members of its project, staff and curators of
  its facility. They see, list files and download everything, and edit metadata.
- Everyone else (including anonymous users) sees only *published* datasets:
  - public: metadata and files;
  - embargoed: metadata (so the entry can be found and cited); files only once the embargo
    date has passed (then automatically, whether or not the periodic release task has run);
  - private: nothing.
- Publishing (and deposition) is for curators of the dataset's facility and site admins.
- Creating datasets and upload sessions is for staff and curators of the facility, and admins.
- A request made with a facility-upload token (a service account's, for ``openem watch``) is
  confined to that token's facility: whatever its user may do elsewhere, it sees and uploads to
  that one facility's datasets only (:func:`confine_to_facility`; the token's permission in
  ``openem.api.authentication`` also limits it to the upload endpoints).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from django.db.models import Q, QuerySet
from django.utils import timezone

from openem.memo import memoized

from .models import (
    Dataset,
    DatasetStatus,
    DatasetVersion,
    Facility,
    FacilityMembership,
    FacilityRole,
    Project,
    ProjectMembership,
    VersionState,
    Visibility,
    files_open,
    files_open_q,
)

if TYPE_CHECKING:
    from django.contrib.auth.models import AbstractBaseUser, AnonymousUser

    AnyUser = AbstractBaseUser | AnonymousUser


class Action(StrEnum):
    VIEW = "view"  # landing page and metadata
    LIST_FILES = "list_files"
    DOWNLOAD = "download"
    EDIT = "edit"  # metadata
    PUBLISH = "publish"  # publish, set visibility/embargo, deposit


def _is_authenticated(user: Any) -> bool:
    return bool(user is not None and user.is_authenticated and user.is_active)


#: The attribute that marks a request's user as confined to one facility (set per request on
#: the user object the request was authenticated as, never stored).
_CONFINED_ATTRIBUTE = "openem_confined_facility_id"


def confine_to_facility(user: Any, facility_id: int) -> None:
    """From now on (this request), ``user`` acts only within facility ``facility_id``."""
    setattr(user, _CONFINED_ATTRIBUTE, int(facility_id))


def confined_facility_id(user: Any) -> int | None:
    """The one facility this request's user is confined to, or None."""
    value = getattr(user, _CONFINED_ATTRIBUTE, None)
    return int(value) if value is not None else None


def _outside_confinement(user: Any, facility_id: int) -> bool:
    confined = confined_facility_id(user)
    return confined is not None and confined != facility_id


def _confined(user: Any, queryset: QuerySet[Any], field: str = "facility_id") -> QuerySet[Any]:
    confined = confined_facility_id(user)
    return queryset if confined is None else queryset.filter(**{field: confined})


def is_site_admin(user: Any) -> bool:
    return _is_authenticated(user) and bool(user.is_superuser)


def is_signed_in(user: Any) -> bool:
    """Signed in with an active account: the insider rules apply. Anyone else (anonymous, or
    an account that was deactivated) sees what anonymous visitors see."""
    return _is_authenticated(user)


def is_facility_member(user: Any) -> bool:
    """Staff or curator of some facility: the people who upload (the API's throttling gives
    them a budget of their own)."""
    return FacilityMembership.objects.filter(user_id=user.pk).exists()


def insider_facility_ids(user: Any) -> QuerySet[FacilityMembership, int]:
    """The facilities where ``user`` is staff or curator, an insider of all their datasets
    (ids, as a subquery)."""
    return FacilityMembership.objects.filter(user_id=user.pk).values_list("facility_id", flat=True)


def insider_project_ids(user: Any) -> QuerySet[ProjectMembership, int]:
    """The projects ``user`` is a member of (ids, as a subquery)."""
    return ProjectMembership.objects.filter(user_id=user.pk).values_list("project_id", flat=True)


def personal_insider_q(user: Any, *, project_ids: Iterable[int] | None = None) -> Q:
    """Datasets ``user`` is an insider of in person, whatever the facility: their own and
    those of the projects they are a member of. ``project_ids``: those projects when the
    caller has read them already (a literal list keeps both branches of the OR indexable;
    the default subquery does not)."""
    projects = insider_project_ids(user) if project_ids is None else list(project_ids)
    return Q(owner_id=user.pk) | Q(project_id__in=projects)


def _insider_q(user: Any) -> Q:
    """Datasets this user is an insider of (owner, project member, facility staff/curator)."""
    return personal_insider_q(user) | Q(facility_id__in=insider_facility_ids(user))


#: What everyone may see (landing page and metadata): published datasets, public or embargoed.
PUBLIC_STATUS = DatasetStatus.PUBLISHED
PUBLIC_VISIBILITIES = (Visibility.EMBARGOED, Visibility.PUBLIC)
#: The same as (status, visibility) pairs: the facet cells everyone may count.
PUBLIC_PAIRS: tuple[tuple[str, str], ...] = tuple(
    (PUBLIC_STATUS.value, visibility.value) for visibility in PUBLIC_VISIBILITIES
)


def _public_metadata_q() -> Q:
    return Q(status=PUBLIC_STATUS, visibility__in=PUBLIC_VISIBILITIES)


@dataclass(frozen=True)
class VisibleParts:
    """The datasets a user may see (landing page and metadata) as data, in parts: whole
    (status, visibility) pairs everyone sees; for a signed-in user also every dataset of
    the facilities where they are staff or curator, and those they are an insider of in
    person (their own, their projects'); a site admin sees everything. The parts may
    overlap. :func:`datasets_visible_to` filters by them (:meth:`q`); the facet cells of
    ``repository.search`` count them in SQL, from these same parts."""

    everything: bool
    #: The insider facilities (ids, a subquery), or None (not signed in).
    facility_ids: QuerySet[FacilityMembership, int] | None = None
    #: The datasets seen in person, or None (not signed in).
    personal: Q | None = None

    @property
    def public(self) -> tuple[tuple[str, str], ...]:
        """The (status, visibility) pairs everyone sees."""
        return PUBLIC_PAIRS

    def public_q(self) -> Q:
        """The datasets of :attr:`public`."""
        return _public_metadata_q()

    def q(self) -> Q:
        """The parts as one filter (none for a site admin)."""
        if self.everything:
            return Q()
        rule = self.public_q()
        if self.personal is not None and self.facility_ids is not None:
            rule |= self.personal | Q(facility_id__in=self.facility_ids)
        return rule


def visible_parts(user: Any, *, project_ids: Iterable[int] | None = None) -> VisibleParts:
    """What ``user`` may see, in parts (``project_ids``: as for :func:`personal_insider_q`).
    A facility-upload token's confinement is not in the parts: :func:`datasets_visible_to`
    applies it, and a confined count reads the facility's datasets."""
    if is_site_admin(user):
        return VisibleParts(everything=True)
    if not _is_authenticated(user):
        return VisibleParts(everything=False)
    return VisibleParts(
        everything=False,
        facility_ids=insider_facility_ids(user),
        personal=personal_insider_q(user, project_ids=project_ids),
    )


def files_open_to_everyone(dataset: Dataset, today: dt.date | None = None) -> bool:
    """Whether a dataset's files are open to anyone: published, and public or with an
    embargo that has ended (``models.files_open``). Anyone is then served its working copy,
    unless a draft changed the files (:func:`can` checks that too)."""
    return dataset.status == DatasetStatus.PUBLISHED and dataset.files_are_open(today)


def _open_files_q(today: dt.date) -> Q:
    """:func:`files_open_to_everyone`, with no draft changing the files, as a filter."""
    return (
        Q(status=DatasetStatus.PUBLISHED)
        & files_open_q(today)
        & ~Q(pk__in=_drafts_with_changed_files().values("dataset_id"))
    )


def _drafts_with_changed_files() -> QuerySet[DatasetVersion]:
    """Open drafts whose working copy differs from the latest published version: outsiders are
    served that version's frozen files (``/datasets/<pid>/v/<n>/``), not the working copy."""
    return DatasetVersion.objects.filter(state=VersionState.DRAFT, files_changed=True)


def datasets_visible_to(user: Any, queryset: QuerySet[Dataset] | None = None) -> QuerySet[Dataset]:
    """Datasets whose landing page and metadata ``user`` may see."""
    queryset = Dataset.objects.all() if queryset is None else queryset
    queryset = _confined(user, queryset)
    parts = visible_parts(user)
    return queryset if parts.everything else queryset.filter(parts.q())


def datasets_with_files_for(
    user: Any, queryset: QuerySet[Dataset] | None = None, *, today: dt.date | None = None
) -> QuerySet[Dataset]:
    """Datasets whose files ``user`` may list and download."""
    queryset = Dataset.objects.all() if queryset is None else queryset
    today = today or timezone.localdate()
    # A withdrawn dataset's files are gone from every surface, for everyone.
    queryset = _confined(user, queryset.exclude(status=DatasetStatus.WITHDRAWN))
    if is_site_admin(user):
        return queryset
    if not _is_authenticated(user):
        return queryset.filter(_open_files_q(today))
    return queryset.filter(_open_files_q(today) | _insider_q(user))


def projects_visible_to(user: Any) -> QuerySet[Project]:
    """Projects a user may know of: those with a dataset the user may see, and, for the
    authenticated, their own projects (as PI or member) and all projects of their facilities.
    Proposal titles can be confidential before publication, so a project with only private
    datasets stays hidden from outsiders."""
    found = _confined(user, Project.objects.select_related("facility", "principal_investigator"))
    if is_site_admin(user):
        return found.order_by("title", "pk")
    rule = Q(pk__in=datasets_visible_to(user).filter(project__isnull=False).values("project"))
    if _is_authenticated(user):
        rule |= (
            Q(principal_investigator_id=user.pk)
            | Q(pk__in=ProjectMembership.objects.filter(user_id=user.pk).values("project_id"))
            | Q(
                facility_id__in=FacilityMembership.objects.filter(user_id=user.pk).values(
                    "facility_id"
                )
            )
        )
    return found.filter(rule).order_by("title", "pk")


def is_insider(user: Any, dataset: Dataset) -> bool:
    if not _is_authenticated(user) or _outside_confinement(user, dataset.facility_id):
        return False
    if user.is_superuser or dataset.owner_id == user.pk:
        return True
    if FacilityMembership.objects.filter(user_id=user.pk, facility_id=dataset.facility_id).exists():
        return True
    return bool(
        dataset.project_id
        and ProjectMembership.objects.filter(
            user_id=user.pk, project_id=dataset.project_id
        ).exists()
    )


def sees_personal_data(user: Any) -> Callable[[Dataset], bool]:
    """Whether ``user`` may see the personal contact data (e-mail addresses, telephone
    numbers) of a dataset's people: insiders only. Returns a check for many datasets that
    asks the database twice, not per dataset (an API page of 50 datasets)."""
    if not _is_authenticated(user):
        return lambda dataset: False
    if confined_facility_id(user) is not None:
        return lambda dataset: is_insider(user, dataset)
    if user.is_superuser:
        return lambda dataset: True
    facilities = set(insider_facility_ids(user))
    projects = set(insider_project_ids(user))

    def check(dataset: Dataset) -> bool:
        return (
            dataset.owner_id == user.pk
            or dataset.facility_id in facilities
            or (dataset.project_id is not None and dataset.project_id in projects)
        )

    return check


def is_curator_of(user: Any, facility_id: int) -> bool:
    if not _is_authenticated(user) or _outside_confinement(user, facility_id):
        return False
    return (
        bool(user.is_superuser)
        or FacilityMembership.objects.filter(
            user_id=user.pk, facility_id=facility_id, role=FacilityRole.CURATOR
        ).exists()
    )


def facilities_curated_by(user: Any) -> QuerySet[FacilityMembership, int]:
    """The ids of the facilities where ``user`` is a curator (empty for anonymous users)."""
    if not _is_authenticated(user):
        return FacilityMembership.objects.none().values_list("facility_id", flat=True)
    return FacilityMembership.objects.filter(
        user_id=user.pk, role=FacilityRole.CURATOR
    ).values_list("facility_id", flat=True)


def can(user: Any, action: Action | str, dataset: Dataset, *, today: dt.date | None = None) -> bool:
    """Whether ``user`` may perform ``action`` on ``dataset``."""
    action = Action(action)
    if _outside_confinement(user, dataset.facility_id):
        return False  # not even public datasets: a confined token reads its facility only
    if action is Action.VIEW:
        if (dataset.status, dataset.visibility) in PUBLIC_PAIRS:
            return True
        return is_insider(user, dataset)
    if action in (Action.LIST_FILES, Action.DOWNLOAD):
        if dataset.status == DatasetStatus.WITHDRAWN:
            return False  # a tombstone: the files are gone from every surface, for everyone
        if files_open_to_everyone(dataset, today) and not memoized(
            ("draft_files_changed", dataset.pk),
            lambda: _drafts_with_changed_files().filter(dataset_id=dataset.pk).exists(),
        ):
            return True
        return is_insider(user, dataset)
    if action is Action.EDIT:
        return is_insider(user, dataset)
    if action is Action.PUBLISH:
        return is_curator_of(user, dataset.facility_id)
    raise AssertionError(f"unhandled action {action}")


def can_view(user: Any, dataset: Dataset) -> bool:
    return can(user, Action.VIEW, dataset)


def can_download(user: Any, dataset: Dataset) -> bool:
    return can(user, Action.DOWNLOAD, dataset)


def can_edit(user: Any, dataset: Dataset) -> bool:
    return can(user, Action.EDIT, dataset)


def can_publish(user: Any, dataset: Dataset) -> bool:
    return can(user, Action.PUBLISH, dataset)


def facilities_for_upload(user: Any) -> QuerySet[Facility]:
    """Facilities where ``user`` may create datasets and upload sessions (staff, curators)."""
    if not _is_authenticated(user):
        return Facility.objects.none()
    found = _confined(user, Facility.objects.all(), "pk")
    if is_site_admin(user):
        return found
    return found.filter(memberships__user_id=user.pk).distinct()


def can_create_dataset(user: Any, facility: Facility) -> bool:
    return facilities_for_upload(user).filter(pk=facility.pk).exists()


def download_is_audited(dataset: Dataset, today: dt.date | None = None) -> bool:
    """Downloads of non-public files are recorded in the audit trail."""
    return not files_open_to_everyone(dataset, today)


# --- People and roles (accounts/: invitations, removal, who has access) ----------------------
# Curators of a facility (and site admins) manage its staff and curators, and the members of
# its projects; a project's principal investigator manages that project's members.


def can_manage_facility_people(user: Any, facility: Facility) -> bool:
    return is_curator_of(user, facility.pk)


def can_manage_project_members(user: Any, project: Project) -> bool:
    if not _is_authenticated(user):
        return False
    return project.principal_investigator_id == user.pk or is_curator_of(user, project.facility_id)


def facilities_managed_by(user: Any) -> QuerySet[Facility]:
    if is_site_admin(user):
        return Facility.objects.all()
    if not _is_authenticated(user):
        return Facility.objects.none()
    return Facility.objects.filter(
        memberships__user_id=user.pk, memberships__role=FacilityRole.CURATOR
    ).distinct()


def projects_managed_by(user: Any) -> QuerySet[Project]:
    if is_site_admin(user):
        return Project.objects.all()
    if not _is_authenticated(user):
        return Project.objects.none()
    return Project.objects.filter(
        Q(principal_investigator_id=user.pk)
        | Q(facility_id__in=facilities_managed_by(user).values("pk"))
    )


def can_list_version_files(user: Any, dataset: Dataset, version: DatasetVersion) -> bool:
    """Whether ``user`` may list and download a published version's frozen files: never once
    the version or the dataset is withdrawn; insiders always; others when the files of the
    version, as it was published (its visibility and embargo), are open."""
    if version.state != VersionState.PUBLISHED or dataset.status == DatasetStatus.WITHDRAWN:
        return False
    if is_insider(user, dataset):
        return True
    if dataset.status != DatasetStatus.PUBLISHED:
        return False
    return files_open(version.visibility, version.embargo_until)
