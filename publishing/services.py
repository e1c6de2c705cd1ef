"""DOI registration with DataCite: every write of the publishing app.

The repository's dataset events (``publishing.receivers``) call the ``doi_on_*`` hooks inside
its transactions; each hook only writes rows (what DataCite should hold) and enqueues
``publishing.register_doi`` on commit, so publishing never waits for DataCite and a DataCite fault never undoes a publication. The task
(:func:`doi_sync`) sends the metadata and records the outcome on the row: ``findable`` (or
``draft`` / ``registered``), ``pending`` with the reason while faults last (the task retries with
backoff, then the periodic task every 10 minutes), or ``failed`` with DataCite's reason when it
refused the request; curators see the state on the landing page and may retry.

DOIs: a dataset's concept DOI is ``<prefix>/<pid>`` (its URL is ``/datasets/<pid>/``, always the
latest version) and version n's is ``<prefix>/<pid>.v<n>`` (URL ``/datasets/<pid>/v/<n>/``). The
concept record ``HasVersion`` each version; each version ``IsVersionOf`` the concept and links
its neighbours (``IsNewVersionOf`` / ``IsPreviousVersionOf``).
"""

from __future__ import annotations

import copy
import datetime as dt
import logging
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from fair.checks import doi_blockers
from fair.datacite import datacite_attributes
from openem.errors import Conflict, NotAllowed
from openem.locks import single_run
from openem.site import site_url
from repository import access
from repository import versions as repository_versions
from repository.models import (
    AuditAction,
    Dataset,
    DatasetStatus,
    DatasetVersion,
    VersionState,
    Visibility,
)

from .datacite_client import (
    EVENTS,
    DataCiteClient,
    DataCiteRefused,
    DataCiteUnavailable,
    DoiRecord,
)
from .models import DoiRegistration, DoiState, DoiTarget
from .selectors import doi_enabled, doi_registration, dois_to_retry

logger = logging.getLogger(__name__)

#: A pending registration is retried by the periodic task once its last attempt is this old.
RETRY_AFTER_SECONDS = 300


def doi_name(dataset: Dataset, version: DatasetVersion | None = None) -> str:
    suffix = dataset.pid if version is None else f"{dataset.pid}.v{version.number}"
    return f"{settings.OPENEM_DATACITE_PREFIX}/{suffix}"


# --- hooks called on the repository's dataset events (inside its transactions) ------------------


def doi_on_create(*, dataset: Dataset) -> DoiRegistration | None:
    """Reserve the concept DOI as a draft at DataCite (it can go in a paper before the data
    are published)."""
    if not doi_enabled():
        return None
    return _ensure(dataset, None, DoiTarget.DRAFT)


def doi_on_publish(*, dataset: Dataset, version: DatasetVersion) -> list[DoiRegistration]:
    """A version was published: make it and the concept findable, and tell the previous
    version of its successor."""
    if not doi_enabled():
        return []
    touched = [
        _ensure(dataset, None, DoiTarget.FINDABLE),
        _ensure(dataset, version, DoiTarget.FINDABLE),
    ]
    previous = (
        DoiRegistration.objects.filter(dataset=dataset, version__number__lt=version.number)
        .order_by("-version__number")
        .first()
    )
    if previous is not None:
        _bump(previous)
        touched.append(previous)
    return touched


def doi_on_withdraw(*, dataset: Dataset, version: DatasetVersion) -> list[DoiRegistration]:
    """A version was withdrawn: hide its DOI (state registered: it still resolves, to the
    tombstone) and, when the whole dataset went, the concept DOI too."""
    if not doi_enabled():
        return []
    touched = []
    registration = doi_registration(dataset, version)
    if registration is not None:
        _bump(registration, target=DoiTarget.REGISTERED)
        touched.append(registration)
    concept = doi_registration(dataset)
    if concept is not None:
        withdrawn = dataset.status == DatasetStatus.WITHDRAWN
        _bump(concept, target=DoiTarget.REGISTERED if withdrawn else None)
        touched.append(concept)
    return touched


def doi_on_change(*, dataset: Dataset) -> list[DoiRegistration]:
    """Visibility or embargo changed (or an embargo was released): send the metadata again;
    a published dataset made private hides its DOIs."""
    if not doi_enabled():
        return []
    touched = []
    hide = dataset.visibility == Visibility.PRIVATE
    concept = doi_registration(dataset)
    latest = repository_versions.version_latest_published(dataset)
    for registration in (concept, doi_registration(dataset, latest) if latest else None):
        if registration is None or (registration.remote_state == "" and hide):
            continue
        if registration.target == DoiTarget.DRAFT:
            _bump(registration)
        else:
            _bump(registration, target=DoiTarget.REGISTERED if hide else DoiTarget.FINDABLE)
        touched.append(registration)
    return touched


@transaction.atomic
def doi_backfill(*, dataset: Dataset) -> int:
    """Give a dataset published before DOIs were configured its concept DOI and one per
    published (or withdrawn) version; returns how many registrations were created."""
    if not doi_enabled():
        return 0
    created = 0
    for version in repository_versions.versions_published(dataset):
        if doi_registration(dataset, version) is None:
            withdrawn = version.state == VersionState.WITHDRAWN
            target = DoiTarget.REGISTERED if withdrawn else DoiTarget.FINDABLE
            _ensure(dataset, version, target)
            created += 1
    concept = doi_registration(dataset)
    if concept is None or created:
        if dataset.status == DatasetStatus.WITHDRAWN:
            target = DoiTarget.REGISTERED
        elif repository_versions.version_latest_published(dataset) is not None:
            target = DoiTarget.FINDABLE
        else:
            target = DoiTarget.DRAFT
        if concept is None:
            created += 1
        _ensure(dataset, None, target)
    return created


def _ensure(dataset: Dataset, version: DatasetVersion | None, target: str) -> DoiRegistration:
    registration = doi_registration(dataset, version)
    if registration is None:
        registration = DoiRegistration.objects.create(
            dataset=dataset, version=version, doi=doi_name(dataset, version), target=target
        )
        _enqueue(registration)
        return registration
    _bump(registration, target=target)
    return registration


def _bump(registration: DoiRegistration, *, target: str | None = None) -> None:
    """What DataCite should hold changed: a new generation, pending until it is sent."""
    changes: dict[str, Any] = {"generation": F("generation") + 1, "state": DoiState.PENDING}
    if target is not None:
        changes["target"] = target
    DoiRegistration.objects.filter(pk=registration.pk).update(**changes)
    registration.refresh_from_db()
    _enqueue(registration)


def _enqueue(registration: DoiRegistration) -> None:
    from .tasks import register_doi

    registration_id = registration.pk
    transaction.on_commit(lambda: register_doi.delay(registration_id))


# --- curators ---------------------------------------------------------------------------------


@transaction.atomic
def doi_retry(*, actor: Any, registration: DoiRegistration) -> DoiRegistration:
    """A curator asks for a pending or failed registration to be sent again now."""
    from repository.audit import audit_record

    dataset = registration.dataset
    if not access.can_publish(actor, dataset):
        raise NotAllowed("only curators of the dataset's facility may retry a DOI registration")
    locked = DoiRegistration.objects.select_for_update().get(pk=registration.pk)
    if locked.state not in (DoiState.PENDING, DoiState.FAILED):
        raise Conflict(f"{locked.doi} is {locked.state} at DataCite; there is nothing to retry")
    DoiRegistration.objects.filter(pk=locked.pk).update(state=DoiState.PENDING, attempts=0)
    locked.refresh_from_db()
    audit_record(
        actor=actor,
        action=AuditAction.DOI,
        target=locked,
        dataset=dataset,
        details={
            "doi": locked.doi,
            "action": "retry",
            "state_before": registration.state,
            "last_error": registration.last_error[:500],
        },
    )
    _enqueue(locked)
    return locked


# --- the work (in the task) -------------------------------------------------------------------


def doi_attributes(registration: DoiRegistration) -> dict[str, Any]:
    """The DataCite attributes of a registration, with the version links."""
    dataset = registration.dataset
    if registration.version is None:
        shown = repository_versions.version_latest_published(dataset) or (
            repository_versions.dataset_versions(dataset)
            .filter(state=VersionState.WITHDRAWN)
            .order_by("-number")
            .first()
        )
        version_dois = list(
            DoiRegistration.objects.filter(dataset=dataset, version__isnull=False)
            .order_by("version__number")
            .values_list("doi", flat=True)
        )
        attributes = datacite_attributes(
            dataset, _with_current_access(dataset, shown), doi=registration.doi,
            concept_doi=registration.doi,
            version_dois=version_dois,
        )  # fmt: skip
        # The concept resolves to the landing page, which always shows the latest version.
        url = site_url() + dataset.get_absolute_url()
        attributes["url"] = url
        attributes["identifiers"] = [
            {**i, "identifier": url} if i.get("identifierType") == "URL" else i
            for i in attributes.get("identifiers", [])
        ]
        attributes.pop("version", None)
        return attributes
    version = registration.version
    neighbours = DoiRegistration.objects.filter(dataset=dataset, version__isnull=False)
    previous = (
        neighbours.filter(version__number__lt=version.number).order_by("-version__number").first()
    )
    following = (
        neighbours.filter(version__number__gt=version.number).order_by("version__number").first()
    )
    concept = doi_registration(dataset)
    if repository_versions.version_is_latest(version):
        version = _with_current_access(dataset, version)
    return datacite_attributes(
        dataset,
        version,
        doi=registration.doi,
        concept_doi=concept.doi if concept is not None else "",
        previous_doi=previous.doi if previous is not None else "",
        next_doi=following.doi if following is not None else "",
    )


def _with_current_access(dataset: Dataset, version: DatasetVersion | None) -> Any:
    """The latest version with the dataset's visibility and embargo date as they are now
    (a curator may extend an embargo after publication; access follows the dataset)."""
    if version is None:
        return None
    shown = copy.copy(version)
    shown.visibility, shown.embargo_until = dataset.visibility, dataset.embargo_until
    return shown


def doi_sync(registration_id: int) -> str:
    """Send one registration to DataCite. Safe to run twice or late: a registration whose
    generation was sent already is left alone. Raises DataCiteUnavailable (the caller retries)
    after recording the reason; a refusal is recorded as ``failed``."""
    registration = DoiRegistration.objects.filter(pk=registration_id).first()
    if registration is None:
        return "gone"
    if not doi_enabled():
        return "not configured"
    if registration.synced_generation >= registration.generation and registration.state in (
        DoiState.DRAFT,
        DoiState.FINDABLE,
        DoiState.REGISTERED,
    ):
        return "up to date"
    with single_run(f"doi:{registration_id}") as mine:
        if not mine:
            return "busy"  # the run holding it re-checks the generation when it ends
        return _sync_locked(registration_id)


def _sync_locked(registration_id: int) -> str:
    registration = (
        DoiRegistration.objects.select_related(
            "dataset__facility", "dataset__instrument", "version"
        )
        .filter(pk=registration_id)
        .first()
    )
    if registration is None:
        return "gone"
    generation, target = registration.generation, registration.target
    if target != DoiTarget.DRAFT:
        blockers = doi_blockers(registration.dataset, registration.version)
        if blockers:  # DataCite would refuse it: say what to fix, send nothing
            reason = "DataCite would refuse this record: " + "; ".join(
                f"{problem.path}: {problem.message}" for problem in blockers
            )
            DoiRegistration.objects.filter(pk=registration_id).update(
                state=DoiState.FAILED, last_error=reason[:2000], last_attempt_at=timezone.now()
            )
            logger.warning("DOI %s not sent: %s", registration.doi, reason)
            return DoiState.FAILED
    attributes = doi_attributes(registration)
    DoiRegistration.objects.filter(pk=registration_id).update(
        attempts=F("attempts") + 1, last_attempt_at=timezone.now()
    )
    client = DataCiteClient.from_settings()
    try:
        record = _push(client, registration, attributes, target)
    except DataCiteRefused as exc:
        DoiRegistration.objects.filter(pk=registration_id).update(
            state=DoiState.FAILED, last_error=str(exc)[:2000]
        )
        logger.warning("DOI %s refused: %s", registration.doi, exc)
        return DoiState.FAILED
    except DataCiteUnavailable as exc:
        DoiRegistration.objects.filter(pk=registration_id).update(
            state=DoiState.PENDING, last_error=str(exc)[:2000]
        )
        logger.warning("DOI %s pending: %s", registration.doi, exc)
        raise
    finally:
        client.close()
    remote = record.state if record.state in DoiTarget.values else target
    with transaction.atomic():
        row = DoiRegistration.objects.select_for_update().get(pk=registration_id)
        row.remote_state = remote
        row.synced_generation = generation
        row.last_error = ""
        row.attempts = 0
        if remote == DoiTarget.FINDABLE and row.registered_at is None:
            row.registered_at = timezone.now()
        changed_meanwhile = row.generation != generation
        row.state = DoiState.PENDING if changed_meanwhile else remote
        row.save()
        if changed_meanwhile:
            _enqueue(row)
    return str(row.state)


def _push(
    client: DataCiteClient, registration: DoiRegistration, attributes: dict[str, Any], target: str
) -> DoiRecord:
    remote = registration.remote_state
    if not remote:
        try:
            return client.create(registration.doi, attributes, target=target)
        except DataCiteRefused as exc:
            # Created by an attempt whose answer was lost (a timeout): carry on with an update.
            if exc.status != 422 or "taken" not in str(exc).lower():
                raise
        existing = client.get(registration.doi)
        remote = existing.state if existing is not None else DoiTarget.DRAFT
    return client.update(registration.doi, attributes, event=_event(remote, target))


def _event(remote: str, target: str) -> str | None:
    """The DataCite event that takes a DOI from ``remote`` to ``target``."""
    if target == DoiTarget.REGISTERED:
        if remote == DoiTarget.FINDABLE:
            return "hide"
        return None if remote == DoiTarget.REGISTERED else "register"
    if target == DoiTarget.FINDABLE:
        return None if remote == DoiTarget.FINDABLE else EVENTS[target]
    return None  # draft: metadata only


def dois_retry_pending(*, older_than_seconds: int = RETRY_AFTER_SECONDS) -> int:
    """Enqueue the registrations still pending whose last attempt is old enough (the periodic
    task): faults that outlasted a task's retries heal without anyone watching."""
    if not doi_enabled():
        return 0
    cutoff = timezone.now() - dt.timedelta(seconds=older_than_seconds)
    due = dois_to_retry().filter(Q(last_attempt_at__isnull=True) | Q(last_attempt_at__lt=cutoff))
    due = due.filter(updated_at__lt=cutoff)
    from .tasks import register_doi

    count = 0
    for registration_id in due.values_list("pk", flat=True)[:1000]:
        register_doi.delay(registration_id)
        count += 1
    return count
