"""Every URL the portal serves, tried by every persona on every visibility state, against
``repository.access``.

The URLconf is walked (``django.urls.get_resolver()``, through every include). Each URL name
is either in :data:`SCOPED` (what object it names and which ``access.Action`` it needs: an
explicit, reviewed table) or in :data:`NOT_SCOPED` (deliberately not about one dataset, with
the reason); the admin site's names follow one rule of their own. A name in neither table
fails :func:`test_every_url_is_classified`, so a new URL cannot go untested.

For each scoped URL, a concrete URL is made for the dataset of each visibility state (and its
file, version, frozen file, deposition, DOI registration, upload session), requested as each
persona (a session for pages, an API token under ``/api/``), and the answer is compared with
what ``repository.access`` says for that persona, state and action (the expectation is
computed from ``access.can`` and friends, never written out here):

- allowed: the success status and a body that really holds the dataset's data (its title,
  identifier, file bytes, a ZIP of its files...);
- not visible: 404, without the title or the bytes;
- visible but not allowed: 401 (API, anonymous), 403, or a redirect to the login page;
- views that ask for a signed-in user first: anonymous requests are sent to log in (pages)
  or get 401 (API), whatever the dataset.

The search and list surfaces (home, search page, API list, OAI-PMH, sitemap, statistics) must
not list a dataset the persona may not see (:func:`test_listing_surfaces`).

One world (facility, project, personas, one dataset per visibility state with stored bytes and
a published version) is made once for the module, inside a transaction that is rolled back at
the end; each test runs in a savepoint of it, so a write by one test is gone for the next.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import re
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from django.conf import settings
from django.contrib.auth.models import AnonymousUser
from django.db import transaction
from django.shortcuts import resolve_url
from django.test import Client, override_settings
from django.urls import URLPattern, URLResolver, get_resolver, reverse
from django.utils import timezone
from rest_framework.test import APIClient

import storage
from deposition import services as deposition_services
from deposition.models import Deposition, DepositionState, DepositionTarget
from fair import exports
from ingest.models import UploadSession
from publishing.models import DoiRegistration, DoiState
from repository import access, bulk_downloads, tokens, versions
from repository.access import Action
from repository.models import (
    Dataset,
    DatasetStatus,
    DatasetVersion,
    FacilityRole,
    FileState,
    TokenScope,
    VersionFile,
    Visibility,
)
from tests.factories import (
    CITABLE_METADATA,
    DataFileFactory,
    DatasetFactory,
    FacilityFactory,
    FacilityMembershipFactory,
    InstrumentFactory,
    ProjectFactory,
    ProjectMembershipFactory,
    UserFactory,
)
from tests.support.personas import PERSONAS

# The visibility states of the persona matrix (tests/repository/test_access.py).
TODAY = timezone.localdate()
STATES: dict[str, tuple[str, dt.date | None]] = {
    "private": (Visibility.PRIVATE, None),
    "embargoed_before_date": (Visibility.EMBARGOED, TODAY + dt.timedelta(days=30)),
    "embargoed_after_date": (Visibility.EMBARGOED, TODAY - dt.timedelta(days=1)),
    "public": (Visibility.PUBLIC, None),
    # Uploaded and described, never published (tests/repository/test_access.py's unpublished
    # case): insiders only, whatever its visibility says; it has no version yet.
    "unpublished": (Visibility.PUBLIC, None),
}
UNPUBLISHED = "unpublished"
#: The kinds of URL that name a published version: none for a dataset never published.
VERSION_KINDS = {"version", "version_file", "version_file_id", "version_file_token"}

#: Not an ``access.Action``: listing and downloading a published version's frozen files
#: (``access.can_list_version_files``).
VERSION_FILES = "version_files"
#: Not an ``access.Action``: an upload session of the dataset (``access.can_create_dataset``
#: for the dataset's facility: its staff, curators and site admins; refused sessions are 404).
UPLOAD = "upload"


# --- the reviewed table ---------------------------------------------------------------------


@dataclass(frozen=True)
class Op:
    """One way of using a URL: what it names, what it needs, and what proves a success."""

    kind: str  # which arguments the URL takes (see Subject.kwargs)
    action: str  # an access.Action, VERSION_FILES or UPLOAD
    method: str = "GET"
    ok: tuple[int, ...] = (200,)  # the answer when allowed
    proof: str | None = "title"  # what the allowed answer's body holds (see _proves)
    data: dict[str, Any] | None = None
    signed_in: bool = False  # the view asks for a signed-in user before anything else
    # "standard": 404 when not visible, 401/403 when visible; "forbidden": 403 for both (a
    # signed link, which stands for the person it was made for).
    refusal: str = "standard"
    accept: str | None = None  # an Accept header: a machine form of a landing page
    frozen: bool = False  # made of the latest published version (none if never published)
    ok_unpublished: tuple[int, ...] | None = None  # the answer when allowed, if it differs
    proof_unpublished: str | None = None  # what proves it then, if it differs

    @property
    def label(self) -> str:
        """The method, and what tells this use from the URL's others (in test ids)."""
        extra = [self.kind] if self.kind == "version_file_token" else []
        extra += [self.accept.split("/")[1]] if self.accept else []
        return "-".join([self.method, *extra])


V, L, D, E, P = Action.VIEW, Action.LIST_FILES, Action.DOWNLOAD, Action.EDIT, Action.PUBLISH
EMPTY: dict[str, Any] = {}
JSON_LD, LINKSET_JSON = "application/ld+json", "application/linkset+json"
# Writes by curators that get past access and then meet the dataset's state: the domain's
# own answer (a conflict, a validation error) says access let them through.
CONFLICT = (409,)

SCOPED: dict[str, tuple[Op, ...]] = {
    # landing pages, file browser, single files, bulk downloads (repository/urls.py)
    "dataset-detail": (
        Op("dataset", V),
        # content negotiation on the landing URL (fair/negotiation.py)
        Op("dataset", V, accept=JSON_LD),
        Op("dataset", V, proof="pid", accept=LINKSET_JSON),
    ),
    "dataset-version": (
        Op("version", V),
        Op("version", V, accept=JSON_LD),
        Op("version", V, proof="pid", accept=LINKSET_JSON),
    ),
    "dataset-citation": (Op("dataset", V),),
    "dataset-summary": (Op("dataset", V, proof="count"),),
    "dataset-files": (Op("dataset", L, proof="folder"),),
    "datafile-detail": (Op("file", L, proof="name"),),
    "datafile-download": (Op("file", D, proof="bytes"),),
    "datafile-thumbnail": (Op("file", L, proof="thumbnail"),),
    "dataset-manifest": (Op("dataset", D, proof="checksum"),),
    "dataset-urls": (Op("dataset", D, proof="name"),),
    "dataset-zip": (Op("dataset", D, proof="zip"),),
    "signed-download": (Op("signed", D, proof="bytes", refusal="forbidden"),),
    "dataset-metadata-edit": (Op("dataset", E),),
    # the API (repository/api/urls.py, stats/api_urls.py)
    "api:dataset-detail": (Op("dataset", V, proof="pid"),),
    "api:dataset-publish": (
        Op(
            "dataset",
            P,
            "POST",
            CONFLICT,  # published already, with no open draft
            "pid",
            {"visibility": "public"},
            signed_in=True,
            ok_unpublished=(200,),  # published now
        ),
    ),
    "api:dataset-visibility": (
        Op("dataset", P, "POST", (200,), "pid", {"visibility": "public"}, signed_in=True),
    ),
    "api:dataset-manifest": (Op("dataset", L, proof="checksum"),),
    "api:datafile-list": (Op("dataset", L, proof="name"),),
    "api:datafile-detail": (Op("file", L, proof="name"),),
    "api:datafile-download": (Op("file", D, proof="bytes"),),
    "api:version-list": (
        Op("dataset", V, proof="pid", proof_unpublished="no-versions"),
        Op("dataset", P, "POST", (201,), "pid", EMPTY, signed_in=True, ok_unpublished=CONFLICT),
    ),
    "api:version-detail": (Op("version", V, proof="pid"),),
    "api:version-withdraw": (
        Op("version", P, "POST", (200,), "pid", {"reason": "matrix"}, signed_in=True),
    ),
    "api:version-files": (Op("version", VERSION_FILES, proof="name"),),
    "api:version-file-download": (Op("version_file_id", VERSION_FILES, proof="bytes"),),
    "api:dataset-usage": (Op("dataset", V, proof="pid"),),
    # upload sessions of the dataset (ingest/urls.py, ingest/api_urls.py)
    "ingest:session": (Op("upload", UPLOAD, signed_in=True),),
    "ingest:session-status": (Op("upload", UPLOAD, proof="bytes-count", signed_in=True),),
    "api:upload-detail": (Op("upload", UPLOAD, proof="pid", signed_in=True),),
    "api:upload-status": (Op("upload", UPLOAD, proof=None, signed_in=True),),
    "api:upload-files": (
        Op("upload", UPLOAD, proof="name", signed_in=True),
        Op("upload", UPLOAD, "POST", (400,), None, EMPTY, signed_in=True),
    ),
    "api:upload-complete": (Op("upload", UPLOAD, "POST", (200,), "pid", EMPTY, signed_in=True),),
    "api:upload-multipart": (
        Op("upload_file", UPLOAD, "POST", CONFLICT, None, EMPTY, signed_in=True),
        Op("upload_file", UPLOAD, "DELETE", (400,), None, signed_in=True),
    ),
    "api:upload-multipart-parts": (
        Op("upload_file", UPLOAD, "GET", (400,), None, signed_in=True),
        Op("upload_file", UPLOAD, "POST", (400,), None, EMPTY, signed_in=True),
    ),
    "api:upload-multipart-complete": (
        Op("upload_file", UPLOAD, "POST", (400,), None, EMPTY, signed_in=True),
    ),
    "api:upload-content": (
        Op("upload_file", UPLOAD, "GET", (200,), "size", signed_in=True),
        Op("upload_file", UPLOAD, "PUT", (400,), None, EMPTY, signed_in=True),
    ),
    # deposition pages and API (deposition/urls.py): curators of the facility
    "deposition-index": (Op("dataset", P, ok=(302,), proof="redirect", signed_in=True),),
    "deposition-prepare": (Op("deposition", P, signed_in=True),),
    "deposition-document": (Op("deposition", P, signed_in=True),),
    "deposition-manifest": (Op("deposition", P, proof="package", signed_in=True),),
    "deposition-thumbnail": (Op("deposition", P, proof="thumbnail", signed_in=True),),
    "deposition-instructions": (Op("deposition", P, signed_in=True),),
    "deposition-action": (
        Op("deposition_action", P, "POST", (302,), "redirect", EMPTY, signed_in=True),
    ),
    "deposition-api-list": (Op("dataset", P, proof="pid", signed_in=True),),
    # EMPIAR's API, as a dry run (the default): the requests it would send, nothing sent
    "deposition-api-empiar-entry": (
        Op("dataset", P, "POST", (200,), "pid", EMPTY, signed_in=True),
    ),
    "deposition-api-empiar-submit": (
        Op("dataset", P, "POST", (200,), "pid", EMPTY, signed_in=True),
    ),
    "deposition-api-detail": (Op("deposition", P, proof="pid", signed_in=True),),
    "deposition-api-validate": (Op("deposition", P, "POST", (200,), "pid", EMPTY, signed_in=True),),
    "deposition-api-package": (Op("deposition", P, "POST", (202,), "pid", EMPTY, signed_in=True),),
    "deposition-api-submitted": (
        Op("deposition", P, "POST", (200,), "pid", EMPTY, signed_in=True),
    ),
    "deposition-api-accession": (Op("deposition", P, "POST", (400,), None, EMPTY, signed_in=True),),
    "deposition-api-reject": (Op("deposition", P, "POST", (400,), None, EMPTY, signed_in=True),),
    "deposition-api-document": (Op("deposition", P, signed_in=True),),
    "deposition-api-manifest": (Op("deposition", P, proof="package", signed_in=True),),
    # FAIR surfaces (fair/urls.py): metadata exports, linksets, bags, frozen files
    **{
        f"dataset-{key}": (Op("dataset", V),)
        for key in ("datacite-xml", "datacite-json", "json-ld", "csl-json", "bibliography")
    },
    "dataset-ro-crate": (Op("dataset", V),),
    **{
        f"version-{key}": (Op("version", V),)
        for key in (
            "datacite-xml",
            "datacite-json",
            "json-ld",
            "bibtex",
            "csl-json",
            "bibliography",
            "ro-crate",
        )
    },
    "dataset-linkset": (Op("dataset", V, proof="pid"),),
    "dataset-linkset-json": (Op("dataset", V, proof="pid"),),
    "version-linkset": (Op("version", V, proof="pid"),),
    "version-linkset-json": (Op("version", V, proof="pid"),),
    "dataset-bag": (Op("dataset", D, proof="bag", frozen=True),),
    "version-bag": (Op("version", VERSION_FILES, proof="bag"),),
    "version-file": (
        Op("version_file", VERSION_FILES, proof="bytes"),
        # a bag's fetch.txt link, which stands for the person the bag was made for
        Op("version_file_token", VERSION_FILES, proof="bytes"),
    ),
    # a dataset's plots (stats/urls.py): the dose histogram of its EER movie
    "dataset-plot": (Op("plot", V, proof="svg"),),
    # DOI registration retry (publishing/urls.py)
    "doi-retry": (Op("doi", P, "POST", (302,), "redirect", EMPTY, signed_in=True),),
}

#: URL names deliberately not about one dataset, and why. The list surfaces among them are
#: checked by test_listing_surfaces.
NOT_SCOPED: dict[str, str] = {
    "home": "portal home; lists recent datasets (listing check)",
    "dataset-list": "search page (listing check)",
    "robots-txt": "static crawler rules",
    "sitemap-index": "sitemap index (listing check)",
    "sitemap-section": "sitemap pages (listing check)",
    "oai-pmh": "OAI-PMH harvesting (listing check: ListRecords, ListIdentifiers, GetRecord)",
    "stats": "coverage dashboard (listing check: no unseen dataset named)",
    "stats-json": "dashboard numbers (listing check)",
    "stats-csv": "dashboard tables (listing check)",
    "stats-chart": "dashboard charts (aggregates, no dataset named)",
    "health": "service health",
    "metrics": "Prometheus figures (bearer token of its own; counts, no dataset named)",
    "login": "sign-in page",
    "logout": "sign-out",
    "profile": "the signed-in person's own profile and tokens",
    "account_login": "allauth's name for the sign-in page",
    "account_logout": "allauth's name for sign-out",
    "account_signup": "says local sign-up is closed",
    "account_inactive": "allauth page",
    "account_reauthenticate": "allauth page",
    "socialaccount_login_cancelled": "allauth page",
    "socialaccount_login_error": "allauth page",
    "socialaccount_signup": "allauth sign-up step",
    "socialaccount_connections": "the person's own linked identities",
    "openid_connect_login": "OIDC provider redirect",
    "openid_connect_callback": "OIDC provider callback",
    "accounts:identities": "the person's own sign-in methods",
    "accounts:people": "people and access overview (facility and project scoped)",
    "accounts:invitation": "an invitation, by its secret",
    "ingest:session-new": "facility scoped: new upload session form",
    "ingest:session-list": "the uploader's sessions (facilities_for_upload)",
    "api:root": "API version",
    "api:dataset-list": "API search (listing check)",
    "api:facility-list": "facilities are public",
    "api:facility-detail": "facilities are public",
    "api:instrument-list": "instruments are public",
    "api:instrument-detail": "instruments are public",
    "api:project-list": "projects_visible_to (tests/repository/test_access.py)",
    "api:token-list": "the person's own tokens",
    "api:token-detail": "the person's own tokens",
    "api:upload-list": "the uploader's sessions; creating one is facility scoped",
    "api:schema-list": "metadata schemas are public",
    "api:schema-detail": "metadata schemas are public",
    "api:schema-document": "metadata schemas are public",
    "api:stats-report": "usage report (listing check)",
    "api:facility-access-request-decision": "facility scoped (tests/accounts)",
    "api:invitation-detail": "an invitation (tests/accounts)",
    "api-schema": "OpenAPI schema",
    "api-docs": "Swagger UI",
    "api-redoc": "ReDoc",
}

#: People and access pages and API of the facility and the project (accounts/): who may
#: manage them (``access.can_manage_facility_people``, ``can_manage_project_members``) or
#: know of the project (``access.projects_visible_to``); test_people_access.
PEOPLE: dict[str, tuple[Op, ...]] = {
    "accounts:facility-people": (Op("facility", "manage", signed_in=True, proof="facility"),),
    "accounts:project-people": (Op("project", "manage", signed_in=True, proof="project"),),
    "api:project-detail": (Op("project", "know", proof="project"),),
    "api:facility-people": (Op("facility", "manage", signed_in=True, proof="staff"),),
    "api:facility-person": (
        Op("facility_person", "manage", "PATCH", (400,), None, EMPTY, signed_in=True),
    ),
    "api:facility-invitations": (Op("facility", "manage", signed_in=True, proof=None),),
    "api:facility-access-requests": (Op("facility", "manage", signed_in=True, proof=None),),
    "api:project-members": (Op("project", "manage", signed_in=True, proof="member"),),
    "api:project-member": (Op("project_member", "manage", "DELETE", (204,), None, signed_in=True),),
    "api:project-invitations": (Op("project", "manage", signed_in=True, proof=None),),
}

#: The admin site (``/admin/``): its own rule, for every name and unnamed route under it
#: (test_admin_site_is_for_site_admins).
ADMIN_NAMESPACE = "admin"


# --- walking the URLconf --------------------------------------------------------------------


@dataclass(frozen=True)
class Route:
    name: str | None  # with its namespaces ("api:dataset-detail"); None: unnamed
    route: str  # the whole pattern, for messages and unnamed routes

    @property
    def key(self) -> str:
        return self.name or self.route


def walk(patterns: Any = None, prefix: str = "", namespace: str = "") -> Iterator[Route]:
    for pattern in get_resolver().url_patterns if patterns is None else patterns:
        if isinstance(pattern, URLResolver):
            inner = namespace
            if pattern.namespace:
                inner = f"{namespace}:{pattern.namespace}" if namespace else pattern.namespace
            yield from walk(pattern.url_patterns, prefix + str(pattern.pattern), inner)
        elif isinstance(pattern, URLPattern):
            name = pattern.name and (f"{namespace}:{pattern.name}" if namespace else pattern.name)
            yield Route(name or None, prefix + str(pattern.pattern))


ROUTES = list(walk())
ADMIN_ROUTES = [r for r in ROUTES if r.route.startswith("admin/")]
IS_API = {r.key: r.route.startswith("api/") for r in ROUTES}


def unclassified(routes: list[Route]) -> list[str]:
    return [
        f"{r.key} ({r.route})"
        for r in routes
        if r.key not in SCOPED
        and r.key not in PEOPLE
        and r.key not in NOT_SCOPED
        and not r.route.startswith("admin/")
    ]


def test_a_new_url_is_not_classified() -> None:
    new = Route("dataset-new-export", "datasets/<str:pid>/new.json")
    assert unclassified([*ROUTES, new]) == ["dataset-new-export (datasets/<str:pid>/new.json)"]
    assert unclassified([Route(None, "datasets/<str:pid>/unnamed")]) == [
        "datasets/<str:pid>/unnamed (datasets/<str:pid>/unnamed)"
    ]


def test_every_url_is_classified() -> None:
    unknown = unclassified(ROUTES)
    assert not unknown, (
        "URL patterns the access matrix does not know: classify each in "
        "tests/security/test_url_access_matrix.py, in SCOPED (the object it names and the "
        "access.Action it needs) or in NOT_SCOPED (why it is not about one dataset): "
        + ", ".join(unknown)
    )
    keys = {r.key for r in ROUTES}
    tables = (SCOPED, PEOPLE, NOT_SCOPED)
    stale = sorted(name for table in tables for name in table if name not in keys)
    assert not stale, f"classified URL names the URLconf no longer has: {stale}"
    assert len({name for table in tables for name in table}) == sum(map(len, tables))
    for route in ROUTES:
        if route.route.startswith("admin/"):
            assert route.name is None or route.name.startswith(f"{ADMIN_NAMESPACE}:"), route


# --- the world ------------------------------------------------------------------------------

THUMBNAIL = b"\x89PNG\r\n\x1a\n matrix thumbnail"


@dataclass
class Subject:
    """The dataset of one visibility state, and everything of it a URL can name."""

    state: str
    dataset: Dataset
    datafile: Any
    content: bytes
    version: DatasetVersion | None  # None: never published
    version_file: VersionFile | None
    deposition: Deposition
    package: bytes
    doi: DoiRegistration
    session: UploadSession

    def kwargs(self, kind: str, user: Any) -> dict[str, Any]:
        pid = self.dataset.pid
        if kind in VERSION_KINDS:
            assert self.version is not None and self.version_file is not None
            found = {"pid": pid, "number": self.version.number}
            if kind == "version_file_id":
                return {**found, "file_id": self.version_file.pk}
            return {**found, "path": self.datafile.path} if kind != "version" else found
        return {
            "dataset": {"pid": pid},
            "file": {"pid": pid, "file_id": self.datafile.pk},
            "deposition": {"pid": pid, "target": self.deposition.target},
            "deposition_action": {
                "pid": pid,
                "target": self.deposition.target,
                "action": "validate",
            },
            "doi": {"pid": pid, "registration_id": self.doi.pk},
            "plot": {"pid": pid, "key": "dose", "extension": "svg"},
            "upload": {"session_id": self.session.pk},
            "upload_file": {"session_id": self.session.pk, "file_id": self.datafile.pk},
            "signed": {
                "token": bulk_downloads.signed_download_token(datafile=self.datafile, user=user),
                "name": self.datafile.name,
            },
        }[kind]


@dataclass
class Matrix:
    users: dict[str, Any]
    subjects: dict[str, Subject]
    facility: Any
    project: Any
    page_clients: dict[str, Client] = field(default_factory=dict)
    api_clients: dict[str, APIClient] = field(default_factory=dict)

    def client(self, persona: str, api: bool) -> Client:
        return self.api_clients[persona] if api else self.page_clients[persona]


def _personas() -> tuple[Any, Any, Any, dict[str, Any]]:
    """The personas of tests/conftest.py's ``world``, around the same facility and project."""
    facility = FacilityFactory(name="Cryo-EM Facility Basel", slug="basel")
    other = FacilityFactory(name="ScopeM Zurich", slug="scopem")
    project = ProjectFactory(
        facility=facility, principal_investigator=UserFactory(username="pi"), title="Ribosomes"
    )
    member = UserFactory(username="member")
    ProjectMembershipFactory(user=member, project=project)
    staff = UserFactory(username="staff")
    FacilityMembershipFactory(user=staff, facility=facility, role=FacilityRole.STAFF)
    curator = UserFactory(username="curator")
    FacilityMembershipFactory(user=curator, facility=facility, role=FacilityRole.CURATOR)
    other_staff = UserFactory(username="other_staff")
    FacilityMembershipFactory(user=other_staff, facility=other, role=FacilityRole.CURATOR)
    users = {
        "anonymous": AnonymousUser(),
        "stranger": UserFactory(username="stranger"),
        "member": member,
        "other_staff": other_staff,
        "staff": staff,
        "curator": curator,
        "admin": UserFactory(username="admin", is_superuser=True, is_staff=True),
    }
    assert set(users) == set(PERSONAS)
    return facility, InstrumentFactory(facility=facility), project, users


def _subject(state: str, facility: Any, project: Any, curator: Any) -> Subject:
    visibility, embargo = STATES[state]
    dataset = DatasetFactory(
        title=f"Matrix {state} dataset",
        facility=facility,
        project=project,
        # The uploader has no role of their own: every right comes from a membership.
        owner=UserFactory(username=f"uploader-{state}"),
        visibility=visibility,
        embargo_until=embargo,
        status=DatasetStatus.READY if state == UNPUBLISHED else DatasetStatus.PUBLISHED,
        metadata=CITABLE_METADATA,
    )
    content = f"EER frames of {dataset.pid}\n".encode() * 20
    session = UploadSession.objects.create(dataset=dataset, created_by=curator)
    datafile = DataFileFactory(
        dataset=dataset,
        path=f"Images-Disc1/movie_{state}.eer",
        storage_key=f"datasets/{dataset.pid}/files/movie",
        size=len(content),
        checksum_sha256=hashlib.sha256(content).hexdigest(),
        state=FileState.READY,
        format="eer",
        header={"acquisition": {"dose": 1.25}},
        thumbnail_key=f"datasets/{dataset.pid}/thumbnails/movie.png",
        upload_session=session,
    )
    store = storage.get_store()
    store.put(datafile.storage_key, content)
    store.put(datafile.thumbnail_key, THUMBNAIL)
    version = None
    if state != UNPUBLISHED:
        version = versions.version_publish(actor=curator, dataset=dataset)
        # version_publish froze the dataset as it is; the visibility of this state stays.
        Dataset.objects.filter(pk=dataset.pk).update(published_at=timezone.now())
        dataset.refresh_from_db()
    package = f'{{"dataset": "{dataset.pid}", "files": 1}}'.encode()
    store.put(f"deposits/{dataset.pid}/manifest.json", package)
    store.put(f"deposits/{dataset.pid}/thumbnail.png", THUMBNAIL)
    # Checked as a curator would, then packaged (the package task's result, by hand).
    deposition = deposition_services.deposition_validate(
        actor=curator, dataset=dataset, target=DepositionTarget.EMPIAR
    )
    Deposition.objects.filter(pk=deposition.pk).update(
        state=DepositionState.PACKAGED,
        package_prefix=f"deposits/{dataset.pid}/",
        package={
            "manifest_key": f"deposits/{dataset.pid}/manifest.json",
            "thumbnail_key": f"deposits/{dataset.pid}/thumbnail.png",
        },
    )
    deposition.refresh_from_db()
    # The version's DOI; the concept DOI (version None) of a dataset never published.
    doi = DoiRegistration.objects.create(
        dataset=dataset, version=version, doi=f"10.5072/matrix-{dataset.pid}", state=DoiState.FAILED
    )
    return Subject(
        state=state,
        dataset=dataset,
        datafile=datafile,
        content=content,
        version=version,
        version_file=versions.version_files(version).get() if version else None,
        deposition=deposition,
        package=package,
        doi=doi,
        session=session,
    )


@pytest.fixture(scope="module")
def matrix(
    django_db_setup: Any, django_db_blocker: Any, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Matrix]:
    """The world, once for the module, in a transaction rolled back at its end."""
    root = tmp_path_factory.mktemp("matrix-objects")
    with (
        django_db_blocker.unblock(),
        override_settings(
            OPENEM_STORAGE={"backend": "local", "root": str(root)},
            PASSWORD_HASHERS=["django.contrib.auth.hashers.MD5PasswordHasher"],
        ),
    ):
        storage.reset_store_cache()
        with transaction.atomic():
            facility, _instrument, project, users = _personas()
            subjects = {
                state: _subject(state, facility, project, users["curator"]) for state in STATES
            }
            world = Matrix(users=users, subjects=subjects, facility=facility, project=project)
            for persona, user in users.items():
                page, api = Client(), APIClient()
                if persona != "anonymous":
                    page.force_login(user)
                    _token, secret = tokens.token_create(
                        user=user, name="matrix", scope=TokenScope.READ_WRITE
                    )
                    api.credentials(HTTP_AUTHORIZATION=f"Token {secret}")
                world.page_clients[persona], world.api_clients[persona] = page, api
            yield world
            transaction.set_rollback(True)
        storage.reset_store_cache()


# --- expectations, from repository.access -----------------------------------------------------


def expected(op: Op, user: Any, subject: Subject) -> str:
    """``ok``, ``hidden`` (not visible: 404), ``refused`` (visible, not allowed) or ``login``
    (the view sends anonymous requests to sign in before it looks at the dataset)."""
    if op.signed_in and not access.is_signed_in(user):
        return "login"
    dataset = subject.dataset
    if op.action == UPLOAD:
        return "ok" if access.can_create_dataset(user, dataset.facility) else "hidden"
    if not access.can(user, Action.VIEW, dataset):
        return "hidden"
    if op.action == VERSION_FILES:
        allowed = access.can_list_version_files(user, dataset, subject.version)
    else:
        allowed = access.can(user, op.action, dataset)
    return "ok" if allowed else "refused"


def _may_list(op: Op, user: Any, subject: Subject) -> bool:
    if op.kind in ("version", "version_file", "version_file_id", "version_file_token"):
        return access.can_list_version_files(user, subject.dataset, subject.version)
    if op.action == UPLOAD:  # the uploader's own session lists its files
        return access.can_create_dataset(user, subject.dataset.facility)
    return access.can(user, Action.LIST_FILES, subject.dataset)


def _stored(subject: Subject) -> tuple[Any, ...]:
    """What a refused write must leave as it was: the dataset, its versions, files,
    deposition, DOI registration and upload session."""
    return (
        list(Dataset.objects.filter(pk=subject.dataset.pk).values()),
        list(DatasetVersion.objects.filter(dataset=subject.dataset).values().order_by("pk")),
        list(subject.dataset.files.values().order_by("pk")),
        list(Deposition.objects.filter(pk=subject.deposition.pk).values()),
        list(DoiRegistration.objects.filter(pk=subject.doi.pk).values()),
        list(UploadSession.objects.filter(pk=subject.session.pk).values()),
    )


def _body(response: Any) -> bytes:
    if getattr(response, "streaming", False):
        return b"".join(response.streaming_content)
    return bytes(response.content)


def _proves(proof: str | None, body: bytes, response: Any, subject: Subject) -> bool:
    dataset = subject.dataset
    if proof is None:
        return True
    if proof == "title":
        return dataset.title.encode() in body
    if proof == "pid":
        return dataset.pid.encode() in body
    if proof == "no-versions":
        return b'"count":0,' in body
    if proof == "folder":
        return f">{subject.datafile.directory}<".encode() in body
    if proof == "size":
        return f'"size":{subject.datafile.size}'.encode() in body
    if proof == "bytes-count":  # the ingest panel counts the session's files and bytes
        return str(subject.datafile.size).encode() in body
    if proof == "name":
        return subject.datafile.name.encode() in body
    if proof == "checksum":
        return f"{subject.datafile.checksum_sha256}  ".encode() in body
    if proof == "count":
        return re.search(rb"\b1\s+file", body) is not None
    if proof == "bytes":
        return body == subject.content
    if proof == "thumbnail":
        return body == THUMBNAIL
    if proof == "package":
        return body == subject.package
    if proof == "svg":
        return body.lstrip().startswith((b"<?xml", b"<svg")) and b"<svg" in body
    if proof == "zip":
        with zipfile.ZipFile(io.BytesIO(body)) as archive:
            for name in archive.namelist():
                if name.endswith(subject.datafile.path):
                    return archive.read(name) == subject.content
        return False
    if proof == "bag":  # a holey bag: its manifest lists the file, fetch.txt has the link
        with zipfile.ZipFile(io.BytesIO(body)) as archive:
            manifest = next(n for n in archive.namelist() if n.endswith("/manifest-sha256.txt"))
            line = f"{subject.datafile.checksum_sha256}  data/{subject.datafile.path}"
            return line in archive.read(manifest).decode()
    if proof == "redirect":
        return dataset.pid in response.get("Location", "")
    raise AssertionError(f"unknown proof {proof}")


def _is_login_redirect(response: Any) -> bool:
    return response.status_code == 302 and response["Location"].startswith(
        resolve_url(settings.LOGIN_URL) + "?next="
    )


def _request(client: Client, op: Op, url: str) -> Any:
    method = getattr(client, op.method.lower())
    headers = {"Accept": op.accept} if op.accept else {}
    if op.method in ("POST", "PUT", "PATCH"):
        if isinstance(client, APIClient):
            return method(url, op.data or {}, format="json", headers=headers)
        return method(url, op.data or {}, headers=headers)
    return method(url, headers=headers)


def _applies(op: Op, state: str) -> bool:
    """A dataset never published has no version (nor a bag, which is made of one)."""
    return state != UNPUBLISHED or (op.kind not in VERSION_KINDS and not op.frozen)


CASES = [
    pytest.param(name, index, state, persona, id=f"{name}-{op.label}-{state}-{persona}")
    for name, ops in SCOPED.items()
    for index, op in enumerate(ops)
    for state in STATES
    if _applies(op, state)
    for persona in PERSONAS
]


@pytest.mark.parametrize(("name", "index", "state", "persona"), CASES)
def test_url_access(matrix: Matrix, db: Any, name: str, index: int, state: str, persona: str):
    op = SCOPED[name][index]
    subject = matrix.subjects[state]
    user = matrix.users[persona]
    url = reverse(name, kwargs=subject.kwargs(op.kind, user))
    if op.kind == "version_file_token":
        url += "?token=" + exports.version_file_token(subject.version_file, user)
    api = IS_API[name]
    # A signed link stands for the person it was made for: anyone may hold it.
    link = op.kind in ("signed", "version_file_token")
    client = matrix.client("anonymous" if link else persona, api)
    want = expected(op, user, subject)
    before = _stored(subject) if op.method != "GET" else None

    response = _request(client, op, url)

    body = _body(response)
    where = f"{op.method} {url} ({name}) as {persona} on a {state} dataset"
    status = response.status_code
    assert status < 500, f"{where}: {status}"
    # Whoever may not list the files learns none of their names, in no answer and no header
    # (unless the URL asked for carries it: a link to one file).
    if not _may_list(op, user, subject) and subject.datafile.name not in url:
        name_of = subject.datafile.name
        assert name_of.encode() not in body, f"{where}: the file's name is in the answer"
        headers = " ".join(f"{k}: {v}" for k, v in response.items())
        assert name_of not in headers, f"{where}: the file's name is in a header: {headers}"
    if want == "ok":
        ok, proof = op.ok, op.proof
        if state == UNPUBLISHED:
            ok, proof = op.ok_unpublished or ok, op.proof_unpublished or proof
        assert status in ok, f"{where}: allowed by access, answered {status}: {body[:300]!r}"
        assert _proves(proof, body, response, subject), (
            f"{where}: allowed, but the answer does not hold the dataset's {proof}: {body[:300]!r}"
        )
        return
    # Refused: nothing changed, never the bytes; not the title unless the dataset is visible.
    if before is not None:
        assert _stored(subject) == before, f"{where}: refused ({want}) but something changed"
    assert subject.content not in body, f"{where}: refused ({want}) but the bytes are served"
    if want != "refused":
        assert subject.dataset.title.encode() not in body, f"{where}: {want}, title leaked"
    if op.refusal == "forbidden":
        assert status == 403, f"{where}: {want}, answered {status}"
    elif want == "login":
        if api:
            assert status == 401, f"{where}: anonymous, answered {status}"
        else:
            assert _is_login_redirect(response), f"{where}: anonymous, answered {status}"
    elif want == "hidden":
        assert status == 404, f"{where}: not visible to {persona}, answered {status}"
    elif persona == "anonymous":
        if api:
            assert status == 401, f"{where}: visible, not allowed, answered {status}"
        else:
            assert status == 403 or _is_login_redirect(response), f"{where}: answered {status}"
    else:
        assert status == 403, f"{where}: visible, not allowed, answered {status}: {body[:200]!r}"


def test_a_fetch_link_opens_only_its_own_file(matrix: Matrix, db: Any) -> None:
    """A bag's fetch.txt link is made for one file and one person: used for another file,
    even one its person may read, it is refused (it is not a bearer key to all they see)."""
    public, private = matrix.subjects["public"], matrix.subjects["private"]
    token = exports.version_file_token(public.version_file, matrix.users["admin"])
    url = reverse(
        "version-file",
        kwargs={"pid": private.dataset.pid, "number": 1, "path": private.datafile.path},
    )
    response = matrix.client("anonymous", api=False).get(f"{url}?token={token}")
    assert response.status_code == 403
    assert private.content not in _body(response)
    own = reverse(
        "version-file",
        kwargs={"pid": public.dataset.pid, "number": 1, "path": public.datafile.path},
    )
    assert _body(matrix.client("anonymous", api=False).get(f"{own}?token={token}")) == (
        public.content
    )


# --- people and access (facility and project) -------------------------------------------------

PEOPLE_CASES = [
    pytest.param(name, index, persona, id=f"{name}-{op.label}-{persona}")
    for name, ops in PEOPLE.items()
    for index, op in enumerate(ops)
    for persona in PERSONAS
]


@pytest.mark.parametrize(("name", "index", "persona"), PEOPLE_CASES)
def test_people_access(matrix: Matrix, db: Any, name: str, index: int, persona: str) -> None:
    op = PEOPLE[name][index]
    user = matrix.users[persona]
    facility, project = matrix.facility, matrix.project
    kwargs = {
        "facility": {"slug": facility.slug},
        "facility_person": {"slug": facility.slug, "user_id": matrix.users["staff"].pk},
        "project": {"code": project.code},
        "project_member": {"code": project.code, "user_id": matrix.users["member"].pk},
    }[op.kind]
    url = reverse(name, kwargs=kwargs)
    api = IS_API[name]
    about_facility = op.kind.startswith("facility")
    known = about_facility or access.projects_visible_to(user).filter(pk=project.pk).exists()
    if op.action == "know":
        allowed = known
    elif about_facility:
        allowed = access.can_manage_facility_people(user, facility)
    else:
        allowed = access.can_manage_project_members(user, project)

    response = _request(matrix.client(persona, api), op, url)

    body = _body(response)
    status = response.status_code
    where = f"{op.method} {url} ({name}) as {persona}"
    assert status < 500, f"{where}: {status}"
    if op.signed_in and not access.is_signed_in(user):
        assert status == 401 if api else _is_login_redirect(response), f"{where}: {status}"
    elif allowed:
        assert status in op.ok, f"{where}: allowed by access, answered {status}: {body[:300]!r}"
        proof = {
            "facility": facility.name,
            "project": project.title,
            "staff": matrix.users["staff"].username,
            "member": matrix.users["member"].username,
            None: "",
        }[op.proof]
        assert proof.encode() in body, f"{where}: the answer does not name {proof!r}"
    elif not api or not known:  # the pages show only what one manages; the API 404s unknown
        assert status == 404, f"{where}: not theirs to manage, answered {status}"
    else:
        assert status == 403, f"{where}: not theirs to manage, answered {status}: {body[:200]!r}"
    if not allowed:
        for other in ("staff", "member"):  # no names of the people to those who do not manage
            assert f'"{matrix.users[other].email}"'.encode() not in body, where


# --- list and search surfaces -----------------------------------------------------------------


def _oai(verb: str, **args: str) -> str:
    return (
        reverse("oai-pmh") + "?" + "&".join(f"{k}={v}" for k, v in {"verb": verb, **args}.items())
    )


#: (surface, URL, API?, who it answers for, what of a dataset it shows, exact). "persona": what
#: the persona may see (``access.can(user, VIEW)``); "anonymous": what anyone may see (the
#: harvesting protocol and the sitemap serve one copy to all). Exact: listed if and only if
#: visible ("published": so for the published ones; the home page shows the recently published
#: ones); otherwise only "never listed when not visible" (dashboards list a selection).
LISTINGS: list[tuple[str, str, bool, str, str, bool | str]] = [
    ("home", "/", False, "persona", "title", "published"),  # recently published ones
    ("dataset-list", "/datasets/", False, "persona", "title", True),
    ("dataset-list-query", "/datasets/?q=Matrix", False, "persona", "title", True),
    ("api:dataset-list", "/api/v1/datasets/?page_size=200", True, "persona", "pid", True),
    ("api:dataset-list-query", "/api/v1/datasets/?q=Matrix", True, "persona", "pid", True),
    ("oai-pmh-ListRecords", _oai("ListRecords", metadataPrefix="oai_dc"), False, "anonymous",
     "title", True),
    ("oai-pmh-ListRecords-datacite", _oai("ListRecords", metadataPrefix="oai_datacite"), False,
     "anonymous", "title", True),
    ("oai-pmh-ListIdentifiers", _oai("ListIdentifiers", metadataPrefix="oai_dc"), False,
     "anonymous", "pid", True),
    ("sitemap-section", "/sitemap-datasets.xml", False, "anonymous", "pid", True),
    ("stats", "/stats/", False, "persona", "title", False),
    ("stats-json", "/stats/openem-stats.json", False, "persona", "title", False),
    ("api:stats-report", f"/api/v1/stats/report?begin_date={TODAY:%Y-%m}", True, "persona",
     "pid", False),
]  # fmt: skip


@pytest.mark.parametrize(
    ("surface", "persona"),
    [(surface[0], persona) for surface in LISTINGS for persona in PERSONAS],
)
def test_listing_surfaces(matrix: Matrix, db: Any, surface: str, persona: str) -> None:
    _, url, api, answers_for, shows, exact = next(row for row in LISTINGS if row[0] == surface)
    response = matrix.client(persona, api).get(url)
    body = _body(response)
    assert response.status_code == 200, f"{url} as {persona}: {response.status_code}"
    asker = matrix.users[persona] if answers_for == "persona" else AnonymousUser()
    for state, subject in matrix.subjects.items():
        visible = access.can(asker, Action.VIEW, subject.dataset)
        text = subject.dataset.title if shows == "title" else subject.dataset.pid
        listed = text.encode() in body
        where = f"{surface} ({url}) as {persona}: the {state} dataset"
        if not visible:
            assert not listed, f"{where} is listed, but {persona} may not see it"
            assert subject.dataset.pid.encode() not in body, f"{where}: its identifier shows"
        elif exact is True or (exact == "published" and state != UNPUBLISHED):
            assert listed, f"{where} is visible but not listed"


@pytest.mark.parametrize("state", list(STATES))
def test_oai_get_record(matrix: Matrix, db: Any, state: str) -> None:
    from fair import oai

    dataset = matrix.subjects[state].dataset
    url = _oai("GetRecord", metadataPrefix="oai_dc", identifier=oai.oai_identifier(dataset))
    body = _body(matrix.client("anonymous", False).get(url))
    if access.can(AnonymousUser(), Action.VIEW, dataset):
        assert dataset.title.encode() in body
    else:
        assert b"idDoesNotExist" in body and dataset.title.encode() not in body


def test_stats_tables_name_no_unseen_dataset(matrix: Matrix, db: Any) -> None:
    from stats import dashboard

    for name in dashboard.TABLES:
        body = _body(matrix.client("anonymous", False).get(reverse("stats-csv", args=[name])))
        for subject in matrix.subjects.values():
            if not access.can(AnonymousUser(), Action.VIEW, subject.dataset):
                assert subject.dataset.title.encode() not in body, name
                assert subject.dataset.pid.encode() not in body, name


# --- the admin site ---------------------------------------------------------------------------

#: The admin site's own sign-in and sign-out answer everyone; every other admin URL is for site
#: admins only (``access.is_site_admin``), others are sent to the admin's sign-in page.
ADMIN_OPEN = {"admin:login", "admin:logout"}
#: The most and the least privileged persona who is not a site admin, and the site admin.
ADMIN_PERSONAS = ("anonymous", "curator", "admin")


def _admin_url(route: Route, subject: Subject) -> str:
    """A concrete URL of an admin route: the dataset (or its file) where it names an object."""
    if route.name is None:  # the redirects to .../change/ and the catch-all
        return "/" + re.sub(r"<path:object_id>", str(subject.dataset.pk), route.route).replace(
            "(?P<url>.*)$", "nothing/"
        )
    kwargs: dict[str, Any] = {}
    for argument in re.findall(r"<(?:\w+:)?(\w+)>|\(\?P<(\w+)>", route.route):
        name = argument[0] or argument[1]
        kwargs[name] = {
            "object_id": subject.datafile.pk if "datafile" in route.name else subject.dataset.pk,
            "content_type_id": "1",
            "id": "1",
            "app_label": "repository",
        }[name]
    return reverse(route.name, kwargs=kwargs)


@pytest.mark.parametrize(
    ("route", "persona"),
    [
        pytest.param(route, persona, id=f"{route.key}-{persona}")
        for route in ADMIN_ROUTES
        for persona in ADMIN_PERSONAS
    ],
)
def test_admin_site_is_for_site_admins(matrix: Matrix, db: Any, route: Route, persona: str):
    subject = matrix.subjects["private"]
    url = _admin_url(route, subject)
    user = matrix.users[persona]

    response = matrix.client(persona, api=False).get(url)

    where = f"GET {url} ({route.key}) as {persona}"
    assert response.status_code < 500, f"{where}: {response.status_code}"
    if route.name in ADMIN_OPEN:
        return
    if access.is_site_admin(user):
        assert response.status_code != 302 or not response["Location"].startswith(
            reverse("admin:login")
        ), f"{where}: a site admin is sent to sign in"
        if route.name == "admin:repository_dataset_change":
            assert subject.dataset.title.encode() in _body(response), where
    else:
        assert response.status_code == 302, f"{where}: {response.status_code}"
        assert response["Location"].startswith(reverse("admin:login") + "?next="), where
        assert subject.dataset.title.encode() not in _body(response), where
