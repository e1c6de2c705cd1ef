"""Every hostile value of the corpus (tests/security/hostile.py) through every field the portal
renders: the dataset forms and API, the metadata form, upload sessions and file registration,
the admin forms staff use, tokens, invitations, search pages and the API's list parameters.

Each case is generated from the corpus x the field list. A value is either stored safely (the
pages that show it escape it and never link to it as a script URL) or refused with a clear
message (400 with the field's error, or the form again with its error), never a 500; a refused
request changes nothing already stored.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import pytest
from defusedxml import ElementTree as DefusedElementTree
from django.test import Client
from django.urls import reverse

from accounts.models import Invitation
from deposition.models import Deposition, DepositionState, DepositionTarget
from repository import services, tokens
from repository.models import (
    ApiToken,
    AuditEvent,
    DataFile,
    Dataset,
    DatasetStatus,
    Facility,
    Instrument,
    Project,
    TokenScope,
    Visibility,
)
from tests.factories import DatasetFactory
from tests.security.hostile import CORPUS, PATHS, Hostile, assert_page_safe, shown
from tests.support.api import error_of

AUTHOR = {
    "given_name": "Ada",
    "family_name": "Lovelace",
    "email": "ada@example.org",
    "type_org": "Academic",
}


# -- encoding what a hostile client sends -----------------------------------------------------


def _raw(value: str) -> bytes:
    """The bytes a client sends for ``value``: UTF-8, a lone surrogate as the (invalid) bytes
    it would be encoded to."""
    return value.encode("utf-8", "surrogatepass")


def form_body(data: dict[str, str]) -> str:
    return "&".join(f"{quote(k)}={quote(_raw(v))}" for k, v in data.items())


def query(**params: str) -> str:
    return "?" + "&".join(f"{k}={quote(_raw(v))}" for k, v in params.items())


def json_body(data: Any) -> str:
    return json.dumps(data)  # ensure_ascii: a lone surrogate travels as \ud800, NUL as \u0000


# -- the context of a case ----------------------------------------------------------------------


class _Clients(dict[str, Client]):
    """Clients per persona, made when first used (signing in and tokens cost time)."""

    def __init__(self, make: Callable[[str], Client]) -> None:
        super().__init__()
        self.make = make

    def __missing__(self, persona: str) -> Client:
        client = self[persona] = self.make(persona)
        return client


@dataclass
class Ctx:
    world: Any
    dataset: Dataset
    browser: _Clients = field(init=False)
    api: _Clients = field(init=False)
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.browser = _Clients(self._browser)
        self.api = _Clients(self._api)

    def _browser(self, persona: str) -> Client:
        client = Client()
        if persona != "anonymous":
            client.force_login(self.world[persona])
        return client

    def _api(self, persona: str) -> Client:
        if persona == "anonymous":
            return Client()
        _token, secret = tokens.token_create(
            user=self.world[persona], name=f"{persona} CLI", scope=TokenScope.READ_WRITE
        )
        return Client(HTTP_AUTHORIZATION=f"Token {secret}")

    def page(self, persona: str, url: str) -> str:
        response = self.browser[persona].get(url)
        assert response.status_code == 200, (url, response.status_code)
        return response.content.decode()

    def post_form(self, persona: str, url: str, data: dict[str, str]) -> Any:
        return self.browser[persona].post(
            url, form_body(data), content_type="application/x-www-form-urlencoded"
        )

    def post_json(self, persona: str, url: str, data: Any, method: str = "post") -> Any:
        send = getattr(self.api[persona], method)
        return send(url, json_body(data), content_type="application/json")


@pytest.fixture
def ctx(world: Any, local_storage: Any) -> Ctx:
    dataset = services.dataset_create(
        actor=world["staff"],
        title="Apoferritin session",
        facility=world.facility,
        technique="spa",
        project=world.project,
        metadata={"organizational": {"authors": [AUTHOR]}},
    )
    return Ctx(world=world, dataset=dataset)


# -- the surfaces -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Surface:
    """One rendered field: how to send a value, what a refusal must leave as it was, and the
    pages (persona, URL) that show the value once it is stored."""

    id: str
    send: Callable[[Ctx, str], Any]
    state: Callable[[Ctx], Any]
    pages: Callable[[Ctx, Any], list[tuple[str, str]]]
    #: the stored text to look for on those pages (None: the field is not shown verbatim)
    stored: Callable[[Ctx, Any], str | None] = lambda ctx, response: None
    kind: str = "api"  # api (JSON errors) or form (an HTML form shown again with its error)
    #: a refusal may store the post's other, valid values (the metadata form does, by design)
    partial: bool = False
    #: rows the field needs, made before the state is taken
    setup: Callable[[Ctx], None] | None = None

    def __str__(self) -> str:
        return self.id


def _datasets(ctx: Ctx) -> list[tuple[Any, ...]]:
    return list(
        Dataset.objects.order_by("pk").values_list(
            "pk", "title", "description", "keywords", "licence", "metadata", "emdb_ids"
        )
    )


def _newest_dataset() -> Dataset:
    return Dataset.objects.order_by("-pk").first()  # type: ignore[return-value]


def _dataset_pages(dataset: Dataset) -> list[tuple[str, str]]:
    return [
        ("curator", dataset.get_absolute_url()),
        ("curator", reverse("dataset-list")),
        ("curator", f"/api/v1/datasets/{dataset.pid}/"),
    ]


# Dataset create (API): the body the CLI sends, one field replaced.


def _api_create(build: Callable[[str], dict[str, Any]]) -> Callable[[Ctx, str], Any]:
    def send(ctx: Ctx, value: str) -> Any:
        body = {"title": "Apoferritin", "facility": "basel", "technique": "spa", **build(value)}
        return ctx.post_json("staff", "/api/v1/datasets/", body)

    return send


def _authors(**fields: str) -> dict[str, Any]:
    return {"metadata": {"organizational": {"authors": [{**AUTHOR, **fields}]}}}


API_CREATE_FIELDS: dict[str, tuple[Callable[[str], dict[str, Any]], Callable[[Dataset], str]]] = {
    "title": (lambda v: {"title": v}, lambda d: d.title),
    "description": (lambda v: {"description": v}, lambda d: d.description),
    "keyword": (lambda v: {"keywords": ["cryo-EM", v]}, lambda d: d.keywords[-1]),
    "licence": (lambda v: {"licence": v}, lambda d: d.licence),
    "emdb_id": (lambda v: {"emdb_ids": [v]}, lambda d: d.emdb_ids[0]),
    "empiar_id": (lambda v: {"empiar_id": v}, lambda d: d.empiar_id),
    "publication_doi": (lambda v: {"publication_dois": [v]}, lambda d: d.publication_dois[0]),
    "author_given_name": (
        lambda v: _authors(given_name=v),
        lambda d: d.metadata["organizational"]["authors"][0]["given_name"],
    ),
    "author_family_name": (
        lambda v: _authors(family_name=v),
        lambda d: d.metadata["organizational"]["authors"][0]["family_name"],
    ),
    "author_orcid": (
        lambda v: _authors(orcid=v),
        lambda d: d.metadata["organizational"]["authors"][0]["orcid"],
    ),
    "author_affiliation": (
        lambda v: _authors(name_org=v),
        lambda d: d.metadata["organizational"]["authors"][0]["name_org"],
    ),
    "metadata_key": (
        lambda v: {"metadata": {"sample": {v: "x"}}},
        lambda d: "",
    ),
}


def _api_create_surfaces() -> list[Surface]:
    return [
        Surface(
            id=f"api.dataset_create.{name}",
            send=_api_create(build),
            state=_datasets,
            pages=lambda ctx, response: _dataset_pages(_newest_dataset()),
            stored=lambda ctx, response, read=read: read(_newest_dataset()),
        )
        for name, (build, read) in API_CREATE_FIELDS.items()
    ]


# The new-session form (/upload/): the browser's way to create a dataset.


def _upload_form(name: str) -> Callable[[Ctx, str], Any]:
    def send(ctx: Ctx, value: str) -> Any:
        data = {
            "facility": str(ctx.world.facility.pk),
            "technique": "spa",
            "title": "Apoferritin",
            "visibility": Visibility.PRIVATE,
            name: value,
        }
        return ctx.post_form("staff", reverse("ingest:session-new"), data)

    return send


def _session_pages(ctx: Ctx, response: Any) -> list[tuple[str, str]]:
    return [
        ("staff", response["Location"]),
        ("staff", reverse("ingest:session-list")),
        *_dataset_pages(_newest_dataset()),
    ]


UPLOAD_FORM_FIELDS: dict[str, Callable[[Dataset], str]] = {
    "title": lambda d: d.title,
    "description": lambda d: d.description,
    "keywords": lambda d: d.keywords[0],
}


def _upload_form_surfaces() -> list[Surface]:
    return [
        Surface(
            id=f"form.new_session.{name}",
            send=_upload_form(name),
            state=_datasets,
            pages=_session_pages,
            stored=lambda ctx, response, read=read: read(_newest_dataset()),
            kind="form",
        )
        for name, read in UPLOAD_FORM_FIELDS.items()
    ]


# The schema-driven metadata form.

METADATA_FORM_FIELDS = {
    "organizational.authors[0].given_name": ("organizational", "authors", 0, "given_name"),
    "organizational.authors[0].family_name": ("organizational", "authors", 0, "family_name"),
    "organizational.authors[0].orcid": ("organizational", "authors", 0, "orcid"),
    "organizational.authors[0].name_org": ("organizational", "authors", 0, "name_org"),
    "organizational.authors[0].email": ("organizational", "authors", 0, "email"),
    "organizational.funder[0].funder_name": ("organizational", "funder", 0, "funder_name"),
    "organizational.grants[0].project_id": ("organizational", "grants", 0, "project_id"),
    "sample.overall_molecule.name_sample": ("sample", "overall_molecule", "name_sample"),
    "instrument.microscope.model": ("instrument", "microscope", "model"),
    "acquisition.pixel_size.value": ("acquisition", "pixel_size", "value"),
}


def _metadata_form(name: str) -> Callable[[Ctx, str], Any]:
    def send(ctx: Ctx, value: str) -> Any:
        data = {
            "fields": "all",
            "organizational.authors._rows": "1",
            **{f"organizational.authors[0].{k}": v for k, v in AUTHOR.items()},
            "organizational.funder._rows": "1",
            "organizational.grants._rows": "1",
            name: value,
        }
        url = reverse("dataset-metadata-edit", kwargs={"pid": ctx.dataset.pid})
        return ctx.post_form("staff", url, data)

    return send


def _dig(document: Any, keys: tuple[Any, ...]) -> Any:
    for key in keys:
        try:
            document = document[key]
        except (KeyError, IndexError, TypeError):
            return None
    return document


def _metadata_state(ctx: Ctx) -> Any:
    return Dataset.objects.filter(pk=ctx.dataset.pk).values_list("metadata", flat=True).get()


def _metadata_surfaces() -> list[Surface]:
    def pages(ctx: Ctx, response: Any) -> list[tuple[str, str]]:
        edit = reverse("dataset-metadata-edit", kwargs={"pid": ctx.dataset.pid})
        return [("staff", edit), *_dataset_pages(ctx.dataset)]

    return [
        Surface(
            id=f"form.metadata.{name}",
            send=_metadata_form(name),
            state=_metadata_state,
            pages=pages,
            stored=lambda ctx, response, keys=keys: (
                value if isinstance(value := _dig(_metadata_state(ctx), keys), str) else None
            ),
            kind="form",
            partial=True,
        )
        for name, keys in METADATA_FORM_FIELDS.items()
    ]


# Tokens: the profile form and the API.


def _token_names(ctx: Ctx) -> list[tuple[Any, ...]]:
    return list(ApiToken.objects.order_by("pk").values_list("pk", "name", "revoked_at"))


def _newest_token_name(ctx: Ctx, response: Any) -> str:
    return ApiToken.objects.order_by("-pk").values_list("name", flat=True)[0]


TOKEN_SURFACES = [
    Surface(
        id="form.profile.token_name",
        send=lambda ctx, value: ctx.post_form(
            "staff", reverse("profile"), {"name": value, "scope": TokenScope.READ}
        ),
        state=_token_names,
        pages=lambda ctx, response: [("staff", reverse("profile"))],
        stored=_newest_token_name,
        kind="form",
    ),
    Surface(
        id="api.tokens.name",
        # signed in: API tokens cannot create tokens
        send=lambda ctx, value: ctx.browser["staff"].post(
            "/api/v1/tokens/", json_body({"name": value}), content_type="application/json"
        ),
        state=_token_names,
        pages=lambda ctx, response: [("staff", reverse("profile")), ("staff", "/api/v1/tokens/")],
        stored=_newest_token_name,
    ),
]


# Invitations: the people pages and the API (e-mail addresses).


def _invitations(ctx: Ctx) -> list[tuple[Any, ...]]:
    return list(Invitation.objects.order_by("pk").values_list("pk", "email"))


def _people_pages(ctx: Ctx, response: Any) -> list[tuple[str, str]]:
    return [
        ("curator", reverse("accounts:project-people", kwargs={"code": ctx.world.project.code})),
        ("curator", reverse("accounts:facility-people", kwargs={"slug": ctx.world.facility.slug})),
        ("curator", reverse("accounts:people")),
    ]


def _newest_invitation(ctx: Ctx, response: Any) -> str:
    return Invitation.objects.order_by("-pk").values_list("email", flat=True)[0]


INVITATION_SURFACES = [
    Surface(
        id="form.project_people.invite_email",
        send=lambda ctx, value: ctx.post_form(
            "curator",
            reverse("accounts:project-people", kwargs={"code": ctx.world.project.code}),
            {"action": "invite", "email": value, "via": "email"},
        ),
        state=_invitations,
        pages=_people_pages,
        stored=_newest_invitation,
        kind="form",
    ),
    Surface(
        id="form.facility_people.invite_email",
        send=lambda ctx, value: ctx.post_form(
            "curator",
            reverse("accounts:facility-people", kwargs={"slug": ctx.world.facility.slug}),
            {"action": "invite", "email": value, "via": "email", "role": "staff"},
        ),
        state=_invitations,
        pages=_people_pages,
        stored=_newest_invitation,
        kind="form",
    ),
    Surface(
        id="form.facility_people.role",
        send=lambda ctx, value: ctx.post_form(
            "curator",
            reverse("accounts:facility-people", kwargs={"slug": ctx.world.facility.slug}),
            {"action": "role", "user": str(ctx.world["staff"].pk), "role": value},
        ),
        state=lambda ctx: list(
            ctx.world.facility.memberships.order_by("pk").values_list("user", "role")
        ),
        pages=_people_pages,
        kind="form",
    ),
    Surface(
        id="api.project_invitations.email",
        send=lambda ctx, value: ctx.post_json(
            "curator",
            f"/api/v1/projects/{ctx.world.project.code}/invitations/",
            {"email": value},
        ),
        state=_invitations,
        pages=_people_pages,
        stored=_newest_invitation,
    ),
    Surface(
        id="api.facility_invitations.email",
        send=lambda ctx, value: ctx.post_json(
            "curator",
            f"/api/v1/facilities/{ctx.world.facility.slug}/invitations/",
            {"email": value, "role": "staff"},
        ),
        state=_invitations,
        pages=_people_pages,
        stored=_newest_invitation,
    ),
]


# Versions: notes of a new version (shown in the landing page's version list).


def _version_notes(ctx: Ctx, value: str) -> Any:
    dataset = ctx.dataset
    services.dataset_publish(actor=ctx.world["curator"], dataset=dataset)
    return ctx.post_json("curator", f"/api/v1/datasets/{dataset.pid}/versions/", {"notes": value})


VERSION_SURFACES = [
    Surface(
        id="api.versions.notes",
        send=_version_notes,
        state=lambda ctx: list(ctx.dataset.versions.order_by("pk").values_list("pk", "notes")),
        pages=lambda ctx, response: [
            ("anonymous", ctx.dataset.get_absolute_url()),
            ("curator", ctx.dataset.get_absolute_url()),
            ("curator", f"/api/v1/datasets/{ctx.dataset.pid}/versions/"),
        ],
        stored=lambda ctx, response: ctx.dataset.versions.order_by("-number")[0].notes,
    )
]


# The Django admin: facilities, instruments and projects (site admins).


def _admin_add(model: str, build: Callable[[Ctx, str], dict[str, str]]) -> Callable[..., Any]:
    def send(ctx: Ctx, value: str) -> Any:
        url = reverse(f"admin:repository_{model}_add")
        return ctx.post_form("admin", url, {**build(ctx, value), "_save": "Save"})

    return send


def _facility_form(name: str) -> Callable[[Ctx, str], dict[str, str]]:
    return lambda ctx, value: {
        "name": "Hostile facility",
        "slug": "hostile",
        "contact_email": "em@example.org",
        name: value,
    }


def _instrument_form(name: str) -> Callable[[Ctx, str], dict[str, str]]:
    return lambda ctx, value: {
        "facility": str(ctx.world.facility.pk),
        "name": "Hostile scope",
        "manufacturer": "JEOL",
        "model": "CRYO ARM 300",
        "detectors": '["K3"]',
        name: value,
    }


def _project_form(name: str) -> Callable[[Ctx, str], dict[str, str]]:
    return lambda ctx, value: {
        "facility": str(ctx.world.facility.pk),
        "title": "Hostile project",
        "code": "hostile",
        "principal_investigator": str(ctx.world["member"].pk),
        name: value,
    }


def _rows(model: Any, *fields: str) -> Callable[[Ctx], list[tuple[Any, ...]]]:
    return lambda ctx: list(model.objects.order_by("pk").values_list("pk", *fields))


def _landing_at(**where: Any) -> Callable[[Ctx, Any], list[tuple[str, str]]]:
    """A published dataset that shows the new row, and the pages that show it."""

    def pages(ctx: Ctx, response: Any) -> list[tuple[str, str]]:
        facility = Facility.objects.order_by("-pk")[0] if "facility" in where else None
        instrument = Instrument.objects.order_by("-pk")[0] if "instrument" in where else None
        project = Project.objects.order_by("-pk")[0] if "project" in where else None
        dataset = DatasetFactory(
            facility=facility or ctx.world.facility,
            instrument=instrument,
            project=project,
            status=DatasetStatus.PUBLISHED,
            visibility=Visibility.PUBLIC,
        )
        listing = reverse(
            "admin:repository_"
            + ("facility" if facility else "instrument" if instrument else "project")
            + "_changelist"
        )
        return [
            ("anonymous", dataset.get_absolute_url()),
            ("anonymous", reverse("dataset-list")),
            ("anonymous", f"/api/v1/datasets/{dataset.pid}/"),
            ("admin", listing),
        ]

    return pages


ADMIN_FIELDS = {
    "facility": (
        Facility,
        _facility_form,
        ["name", "slug", "ror_id", "homepage", "contact_email"],
        ("name", "slug", "ror_id", "homepage", "contact_email"),
    ),
    "instrument": (
        Instrument,
        _instrument_form,
        ["name", "manufacturer", "model", "serial_number"],
        ("name", "manufacturer", "model", "serial_number"),
    ),
    "project": (Project, _project_form, ["title", "code"], ("title", "code")),
}


def _admin_surfaces() -> list[Surface]:
    surfaces = [
        Surface(  # a JSON field typed into the admin: a list of detector names
            id="admin.instrument.detectors",
            send=_admin_add(
                "instrument",
                lambda ctx, value: {
                    **_instrument_form("name")(ctx, "Hostile scope"),
                    "detectors": json.dumps([value]),
                },
            ),
            state=_rows(Instrument, "detectors"),
            pages=_landing_at(instrument=True),
            stored=lambda ctx, response: str(Instrument.objects.order_by("-pk")[0].detectors[0]),
            kind="form",
        )
    ]
    for model_name, (model, form, names, columns) in ADMIN_FIELDS.items():
        for name in names:
            surfaces.append(
                Surface(
                    id=f"admin.{model_name}.{name}",
                    send=_admin_add(model_name, form(name)),
                    state=_rows(model, *columns),
                    pages=_landing_at(**{model_name: True}),
                    stored=lambda ctx, response, model=model, name=name: str(
                        getattr(model.objects.order_by("-pk")[0], name)
                    ),
                    kind="form",
                )
            )
    return surfaces


# Upload sessions: file registration (the CLI's and the browser uploader's request).


def _session_for(ctx: Ctx) -> int:
    response = ctx.post_json("staff", "/api/v1/uploads/", {"dataset": ctx.dataset.pid})
    assert response.status_code == 201, response.content
    return int(response.json()["id"])


def _registered_file(ctx: Ctx) -> str:
    """The API URL of a file registered in a new session (for its multipart calls)."""
    session = _session_for(ctx)
    response = ctx.post_json(
        "staff", f"/api/v1/uploads/{session}/files/", {"files": [{"path": "a.mrc", "size": 10}]}
    )
    assert response.status_code in (200, 201), response.content
    return f"/api/v1/uploads/{session}/files/{response.json()['files'][0]['id']}"


def _register(ctx: Ctx, value: str) -> Any:
    session = _session_for(ctx)
    return ctx.post_json(
        "staff",
        f"/api/v1/uploads/{session}/files/",
        {"files": [{"path": "Images/good.mrc", "size": 10}, {"path": value, "size": 10}]},
    )


def _files(ctx: Ctx) -> list[tuple[Any, ...]]:
    return list(DataFile.objects.order_by("pk").values_list("pk", "path", "name", "storage_key"))


def _file_pages(ctx: Ctx, response: Any) -> list[tuple[str, str]]:
    pid = ctx.dataset.pid
    newest = DataFile.objects.order_by("-pk")[0]
    return [
        ("staff", reverse("dataset-files", kwargs={"pid": pid})),
        (
            "staff",
            reverse("dataset-files", kwargs={"pid": pid}) + "?folder=" + quote(newest.directory),
        ),
        ("staff", reverse("datafile-detail", kwargs={"pid": pid, "file_id": newest.pk})),
        ("staff", f"/api/v1/datasets/{pid}/files/"),
        ("staff", response.request["PATH_INFO"]),
    ]


FILE_SURFACES = [
    Surface(
        id="api.upload_files.path",
        send=_register,
        state=_files,
        pages=_file_pages,
        stored=lambda ctx, response: DataFile.objects.order_by("-pk")[0].name,
    )
]

# Deposition steps a curator records by hand (the archive's answer).


def _deposition_in(state: str) -> Callable[[Ctx], None]:
    def setup(ctx: Ctx) -> None:
        Dataset.objects.filter(pk=ctx.dataset.pk).update(status=DatasetStatus.READY)
        deposition = Deposition.objects.create(
            dataset=ctx.dataset, target=DepositionTarget.EMPIAR, state=state
        )
        ctx.extra["deposition"] = deposition.pk

    return setup


def _deposition_action(action: str, field_name: str) -> Callable[[Ctx, str], Any]:
    def send(ctx: Ctx, value: str) -> Any:
        url = reverse(
            "deposition-action",
            kwargs={"pid": ctx.dataset.pid, "target": "empiar", "action": action},
        )
        return ctx.post_form("curator", url, {field_name: value})

    return send


def _deposition_state(ctx: Ctx) -> Any:
    return (
        list(
            Deposition.objects.order_by("pk").values_list(
                "pk", "state", "accession", "rejected_reason"
            )
        ),
        list(Dataset.objects.filter(pk=ctx.dataset.pk).values_list("empiar_id", "emdb_ids")),
    )


def _deposition_pages(ctx: Ctx, response: Any) -> list[tuple[str, str]]:
    return [
        (
            "curator",
            reverse("deposition-prepare", kwargs={"pid": ctx.dataset.pid, "target": "empiar"}),
        ),
        ("curator", ctx.dataset.get_absolute_url()),
    ]


DEPOSITION_SURFACES = [
    Surface(
        id=f"form.deposition.{action}.{field_name}",
        send=_deposition_action(action, field_name),
        setup=_deposition_in(state),
        state=lambda ctx: (_deposition_state(ctx), list(AuditEvent.objects.values_list("pk"))),
        pages=_deposition_pages,
        stored=lambda ctx, response, column=column: (
            str(getattr(Deposition.objects.get(pk=ctx.extra["deposition"]), column))
            if column
            else None
        ),
        kind="form",
    )
    for action, field_name, state, column in (
        ("submitted", "note", DepositionState.PACKAGED, ""),
        ("reject", "reason", DepositionState.SUBMITTED, "rejected_reason"),
        ("accession", "accession", DepositionState.SUBMITTED, "accession"),
    )
]

SURFACES: list[Surface] = [
    *_api_create_surfaces(),
    *_upload_form_surfaces(),
    *_metadata_surfaces(),
    *TOKEN_SURFACES,
    *INVITATION_SURFACES,
    *VERSION_SURFACES,
    *_admin_surfaces(),
    *FILE_SURFACES,
    *DEPOSITION_SURFACES,
]


# -- the checks ---------------------------------------------------------------------------------


def _check_refusal(ctx: Ctx, surface: Surface, response: Any) -> None:
    if surface.kind == "form" and response.status_code == 302:  # the error is a message
        response = ctx.browser[_persona(surface)].get(response["Location"])
    body = response.content.decode("utf-8", "replace")
    assert "Traceback" not in body
    if surface.kind == "api":
        assert response.status_code == 400, (response.status_code, body[:500])
        error = error_of(response)
        assert error["code"] == "validation_failed", error
        assert len(error["message"]) < 2000, "the refusal repeats the whole value"
    else:
        assert response.status_code in (200, 400), (response.status_code, body[:500])
        assert any(
            mark in body
            for mark in ("errorlist", "field-error", "alert error", '<li class="error">')
        ), f"{surface}: the form came back without an error message"
        assert_page_safe(body, where=f"{surface} (the form shown again)")


def _persona(surface: Surface) -> str:
    if surface.id.startswith("admin."):
        return "admin"
    if any(word in surface.id for word in ("people", "invitations", "versions", "deposition")):
        return "curator"
    return "staff"


def _body(response: Any) -> bytes:
    if response.streaming:
        return b"".join(response.streaming_content)
    return bytes(response.content)


def _check_json(url: str, response: Any) -> None:
    """JSON is not HTML: it is safe as long as browsers are told so and do not sniff."""
    assert response["Content-Type"].startswith("application/json"), (url, response["Content-Type"])
    assert response["X-Content-Type-Options"] == "nosniff"
    json.loads(_body(response))


def _run(ctx: Ctx, surface: Surface, hostile: Hostile) -> None:
    if surface.setup is not None:
        surface.setup(ctx)
    before = surface.state(ctx)
    response = surface.send(ctx, hostile.value)
    assert response.status_code < 500, (surface.id, response.status_code)
    if response.status_code == 400 or surface.state(ctx) == before:
        _check_refusal(ctx, surface, response)
        if surface.partial:
            assert surface.stored(ctx, response) != hostile.value, f"{surface}: stored anyway"
        else:
            assert surface.state(ctx) == before, f"{surface}: a refused request changed rows"
        return
    assert response.status_code in (200, 201, 302), (surface.id, response.status_code)
    if response.status_code == 302:  # the outcome is shown on the next page (messages)
        after = ctx.page(_persona(surface), response["Location"])
        assert_page_safe(after, where=f"{surface} (after saving)")
    elif surface.kind == "api":
        _check_json(surface.id, response)
    else:
        assert_page_safe(response.content.decode(), where=f"{surface} (the answer)")
    stored = surface.stored(ctx, response)
    html_pages = []
    for persona, url in surface.pages(ctx, response):
        answer = ctx.browser[persona].get(url)
        assert answer.status_code == 200, (url, answer.status_code)
        if url.startswith("/api/"):
            _check_json(url, answer)
            continue
        page = answer.content.decode()
        assert_page_safe(page, where=f"{surface} at {url}")
        html_pages.append(page)
    if stored and any(ch in stored for ch in "<>\"'&"):
        # where the value is shown, it is shown escaped (and it is shown somewhere)
        assert any(shown(stored)[:200] in page for page in html_pages), (
            f"{surface}: the stored value {stored[:60]!r} is shown nowhere (escaped)"
        )


@pytest.mark.parametrize("hostile", CORPUS, ids=str)
@pytest.mark.parametrize("surface", SURFACES, ids=str)
def test_hostile_value_is_stored_safely_or_refused(
    ctx: Ctx, surface: Surface, hostile: Hostile
) -> None:
    _run(ctx, surface, hostile)


@pytest.mark.parametrize("hostile", PATHS, ids=str)
def test_hostile_upload_path_is_refused_or_kept_inside_the_session(
    ctx: Ctx, hostile: Hostile
) -> None:
    _run(ctx, FILE_SURFACES[0], hostile)
    for path in DataFile.objects.values_list("path", flat=True):
        assert not path.startswith(("/", "\\")) and ".." not in path.split("/"), path
        assert "\x00" not in path and "\\" not in path


def test_every_field_is_crossed_with_the_whole_corpus() -> None:
    ids = [s.id for s in SURFACES]
    assert len(ids) == len(set(ids))
    assert len(CORPUS) >= 15 and len(PATHS) >= 20


# -- search and list parameters -----------------------------------------------------------------

SEARCH_PAGE_PARAMS = (
    "q",
    "technique",
    "facility",
    "instrument",
    "detector",
    "year",
    "licence",
    "visibility",
    "sort",
    "page",
    "pixel_size_min",
    "voltage_max",
)


@pytest.mark.parametrize("hostile", CORPUS, ids=str)
@pytest.mark.parametrize("param", SEARCH_PAGE_PARAMS)
def test_search_page_reads_hostile_parameters_leniently(
    ctx: Ctx, param: str, hostile: Hostile
) -> None:
    """The search page never fails on a hand-edited URL: it drops what it cannot read and
    says so; whatever it echoes (the search box, active filters, links) is escaped."""
    response = ctx.browser["curator"].get(reverse("dataset-list") + query(**{param: hostile.value}))
    assert response.status_code == 200, response.status_code
    page = response.content.decode()
    assert_page_safe(page, where=f"/datasets/?{param}={hostile}")
    if param == "q" and any(ch in hostile.value for ch in "<>\"'&"):
        assert shown(hostile.value)[:100] in page


API_LIST_PARAMS = (
    "q",
    "facility",
    "instrument",
    "project",
    "technique",
    "kind",
    "visibility",
    "status",
    "keyword",
    "created_after",
    "ordering",
    "pixel_size_min",
    "metadata",
    "facets",
    "page",
    "page_size",
)


def _api_answer(response: Any, where: str) -> None:
    """200 with a JSON page, or a 400/404 in the one error shape; never a 5xx."""
    assert response.status_code in (200, 201, 400, 404, 409), (where, response.status_code)
    _check_json(where, response)
    if response.status_code != 200:
        error = error_of(response)
        assert len(error["message"]) < 2000, "the error repeats the whole value"


@pytest.mark.parametrize("hostile", CORPUS, ids=str)
@pytest.mark.parametrize("param", API_LIST_PARAMS)
def test_dataset_list_api_answers_hostile_parameters_with_json(
    ctx: Ctx, param: str, hostile: Hostile
) -> None:
    url = "/api/v1/datasets/" + query(**{param: hostile.value})
    _api_answer(ctx.api["curator"].get(url), url)


#: The endpoints the CLI calls with a value the user typed (a PID, a prefix, a slug...).
CLI_ENDPOINTS: dict[str, Callable[[Ctx, str], Any]] = {
    "dataset_pid": lambda ctx, v: ctx.api["staff"].get(f"/api/v1/datasets/{quote(_raw(v))}/"),
    "facility_slug": lambda ctx, v: ctx.api["staff"].get(f"/api/v1/facilities/{quote(_raw(v))}/"),
    "project_code": lambda ctx, v: ctx.api["staff"].get(f"/api/v1/projects/{quote(_raw(v))}/"),
    "schema_name": lambda ctx, v: ctx.api["staff"].get(
        f"/api/v1/schemas/{quote(_raw(v))}/{quote(_raw(v))}/"
    ),
    "files_prefix": lambda ctx, v: ctx.api["staff"].get(
        f"/api/v1/datasets/{ctx.dataset.pid}/files/" + query(prefix=v, format=v)
    ),
    "manifest_prefix": lambda ctx, v: ctx.api["staff"].get(
        f"/api/v1/datasets/{ctx.dataset.pid}/manifest" + query(prefix=v, format="json")
    ),
    "manifest_format": lambda ctx, v: ctx.api["staff"].get(
        f"/api/v1/datasets/{ctx.dataset.pid}/manifest" + query(format=v)
    ),
    "instruments_facility": lambda ctx, v: ctx.api["staff"].get(
        "/api/v1/instruments/" + query(facility=v)
    ),
    "uploads_list": lambda ctx, v: ctx.api["staff"].get(
        "/api/v1/uploads/" + query(dataset=v, state=v)
    ),
    "upload_session_create": lambda ctx, v: ctx.post_json(
        "staff", "/api/v1/uploads/", {"dataset": v}
    ),
    "multipart_sign": lambda ctx, v: ctx.post_json(
        "staff",
        ctx.extra["file_url"] + "/multipart/parts",
        {"upload_id": v, "parts": [{"part_number": 1, "checksum_crc32": v}]},
    ),
    "dataset_visibility": lambda ctx, v: ctx.post_json(
        "curator", f"/api/v1/datasets/{ctx.dataset.pid}/visibility", {"visibility": v}
    ),
    "token_create_facility": lambda ctx, v: ctx.browser["staff"].post(
        "/api/v1/tokens/",
        json_body({"name": "x", "scope": "facility_upload", "facility": v}),
        content_type="application/json",
    ),
}


#: What an endpoint needs before the value is sent (not part of what a refusal may not change).
CLI_SETUP: dict[str, Callable[[Ctx], None]] = {
    "multipart_sign": lambda ctx: ctx.extra.update(file_url=_registered_file(ctx)),
}


@pytest.mark.parametrize("hostile", CORPUS, ids=str)
@pytest.mark.parametrize("endpoint", sorted(CLI_ENDPOINTS))
def test_cli_endpoints_answer_hostile_values_with_json_errors(
    ctx: Ctx, endpoint: str, hostile: Hostile
) -> None:
    _ = ctx.api["staff"], ctx.api["curator"]  # their tokens exist before the count
    CLI_SETUP.get(endpoint, lambda ctx: None)(ctx)
    before = (_datasets(ctx), _files(ctx), _token_names(ctx))
    response = CLI_ENDPOINTS[endpoint](ctx, hostile.value)
    _api_answer(response, endpoint)
    if response.status_code != 200:
        assert (_datasets(ctx), _files(ctx), _token_names(ctx)) == before


def test_invalid_utf8_in_a_json_body_is_a_400(ctx: Ctx) -> None:
    session = _session_for(ctx)
    before = _files(ctx)
    response = ctx.api["staff"].post(
        f"/api/v1/uploads/{session}/files/",
        b'{"files": [{"path": "Images/\xff\xfe.mrc", "size": 10}]}',
        content_type="application/json",
    )
    assert response.status_code == 400
    assert "JSON" in error_of(response)["message"]
    assert _files(ctx) == before


OAI_PARAMS = ("verb", "metadataPrefix", "identifier", "set", "from", "resumptionToken")


@pytest.mark.parametrize("hostile", CORPUS, ids=str)
@pytest.mark.parametrize("param", OAI_PARAMS)
def test_oai_pmh_answers_hostile_arguments_with_an_oai_error(
    ctx: Ctx, param: str, hostile: Hostile
) -> None:
    """Harvesters send anything: the answer is OAI-PMH XML (an <error> for a bad argument)."""
    args = {"verb": "ListRecords", "metadataPrefix": "oai_dc", param: hostile.value}
    response = ctx.browser["anonymous"].get("/oai" + query(**args))
    assert response.status_code == 200, response.status_code
    assert response["Content-Type"].startswith("text/xml")
    root = DefusedElementTree.fromstring(response.content)
    assert root.tag.endswith("OAI-PMH")
