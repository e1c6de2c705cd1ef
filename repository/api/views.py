"""API views: parse input with an input serializer, call one selector or service, render with an
output serializer. Access comes from ``repository.access``; errors become the one JSON shape in
``openem.api.exceptions``."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TypeVar

from django.db.models import Model
from django.http import StreamingHttpResponse
from django.http.response import HttpResponseBase
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiExample,
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    inline_serializer,
)
from rest_framework import exceptions, permissions, serializers, status
from rest_framework.negotiation import BaseContentNegotiation
from rest_framework.parsers import BaseParser
from rest_framework.renderers import BaseRenderer, JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response

from openem.api.authentication import TokenScopePermission, request_token
from openem.api.exceptions import error_responses
from openem.api.pagination import DatasetPagination, FileCursorPagination, PageNumberPagination
from openem.api.throttling import MANIFESTS_SCOPE
from openem.api.views import ApiView
from openem.errors import NotAllowed
from repository import access, downloads, manifests, search, services, tokens
from repository.access import Action
from repository.models import ApiToken, DataFile, Dataset, Facility, Instrument, Project

from . import filters
from . import serializers as s

ModelT = TypeVar("ModelT", bound=Model)

READ_OR_AUTHENTICATED = [TokenScopePermission, permissions.IsAuthenticatedOrReadOnly]
AUTHENTICATED = [TokenScopePermission, permissions.IsAuthenticated]

PID_PARAMETER = OpenApiParameter(
    "pid",
    str,
    OpenApiParameter.PATH,
    description="The dataset's persistent identifier, e.g. `oem-7k2m9q4x1z`.",
)
FILE_ID_PARAMETER = OpenApiParameter(
    "file_id", int, OpenApiParameter.PATH, description="The file's id."
)

EXAMPLE_PID = "oem-7k2m9q4x1z"
EXAMPLE_BASE = "https://openem.example.org"
EXAMPLE_DATASET = {
    "pid": EXAMPLE_PID,
    "url": f"{EXAMPLE_BASE}/api/v1/datasets/{EXAMPLE_PID}/",
    "html_url": f"{EXAMPLE_BASE}/datasets/{EXAMPLE_PID}/",
    "files_url": f"{EXAMPLE_BASE}/api/v1/datasets/{EXAMPLE_PID}/files/",
    "manifest_url": f"{EXAMPLE_BASE}/api/v1/datasets/{EXAMPLE_PID}/manifest",
    "title": "Apoferritin on a Krios G4, Falcon 4i",
    "description": "Mouse heavy-chain apoferritin, 1.2 e/A^2/frame, EER.",
    "kind": "raw",
    "technique": "spa",
    "facility": {
        "slug": "basel",
        "name": "Cryo-EM Facility Basel",
        "url": f"{EXAMPLE_BASE}/api/v1/facilities/basel/",
    },
    "instrument": {"id": 3, "name": "Krios 1", "url": f"{EXAMPLE_BASE}/api/v1/instruments/3/"},
    "project": None,
    "keywords": ["apoferritin", "benchmark"],
    "licence": "CC-BY-4.0",
    "visibility": "embargoed",
    "embargo_until": "2027-06-30",
    "status": "published",
    "files_open": False,
    "metadata": {"acquisition": {"voltage": {"value": 300, "unit": "kV"}}},
    "metadata_schema": {"name": "oscem-spa", "version": "1.0.2"},
    "metadata_validation": {"valid": True, "problems": []},
    "emdb_ids": [],
    "empiar_id": "",
    "publication_dois": [],
    "created": "2026-03-02T09:14:00+01:00",
    "modified": "2026-03-09T16:40:12+01:00",
    "published_at": "2026-03-09T16:40:12+01:00",
}


# --- helpers: the objects a request names, with their access rules ------------------------------


def _visible_dataset(request: Request, pid: str) -> Dataset:
    dataset = filters.dataset_visible(user=request.user, pid=pid)
    if dataset is None:
        hint = "" if request.user.is_authenticated else " (authenticate if it is yours)"
        raise exceptions.NotFound(f"no dataset {pid} exists or is visible to you{hint}")
    return dataset


def _require(request: Request, action: Action, dataset: Dataset, message: str) -> None:
    if access.can(request.user, action, dataset):
        return
    if not request.user.is_authenticated:
        raise exceptions.NotAuthenticated(f"{message}; authenticate if you are entitled to")
    raise NotAllowed(message)


#: Who may not publish is told so before the body of the request is looked at: an outsider
#: never learns what a valid publish or visibility request would be (a 400 before the 403).
PUBLISH_REFUSAL = "only curators of the dataset's facility (and site admins) may publish it"


def _files_refusal(dataset: Dataset) -> str:
    if dataset.embargo_until and not dataset.files_are_open():
        return f"the files of {dataset.pid} are under embargo until {dataset.embargo_until}"
    return f"you may not access the files of {dataset.pid}"


def _dataset_with_files(request: Request, pid: str, action: Action) -> Dataset:
    dataset = _visible_dataset(request, pid)
    _require(request, action, dataset, _files_refusal(dataset))
    return dataset


class JsonErrorsNegotiation(BaseContentNegotiation):
    """For views that answer with bytes or text of their own: whatever the client accepts,
    errors are rendered as JSON (never a 406 for 'Accept: text/plain')."""

    def select_parser(self, request: Request, parsers: Iterable[BaseParser]) -> BaseParser | None:
        return next(iter(parsers), None)

    def select_renderer(
        self, request: Request, renderers: Iterable[BaseRenderer], format_suffix: str | None = None
    ) -> tuple[BaseRenderer, str]:
        renderer = next(iter(renderers))
        return renderer, str(renderer.media_type)


# --- datasets -----------------------------------------------------------------------------------


class DatasetListView(ApiView[Dataset]):
    permission_classes = READ_OR_AUTHENTICATED
    pagination_class = DatasetPagination
    serializer_class = s.DatasetSerializer

    @extend_schema(
        operation_id="datasets_list",
        summary="List and search datasets",
        description="The datasets visible to you (public and embargoed published datasets, "
        "plus your own, your projects' and your facilities'), 50 per page, newest first.",
        parameters=[s.DatasetListQuerySerializer],
        responses={200: s.DatasetSerializer(many=True), **error_responses(400, 401, 429)},
        examples=[
            OpenApiExample(
                "A page of datasets",
                response_only=True,
                value=EXAMPLE_DATASET,  # drf-spectacular wraps it in a page
            )
        ],
    )
    def get(self, request: Request) -> Response:
        params = s.DatasetListQuerySerializer(data=request.query_params)
        params.is_valid(raise_exception=True)
        wanted = dict(params.validated_data)
        with_facets = wanted.pop("facets", False)
        query = search.DatasetQuery(**wanted)
        facets = search.dataset_facets(user=request.user, query=query) if with_facets else None
        paginator = self.paginator
        assert isinstance(paginator, DatasetPagination)
        page = paginator.paginate_queryset(
            search.dataset_search(user=request.user, query=query),
            request,
            view=self,
            count_key=search.dataset_count_cache_key(user=request.user, query=query),
            counter=lambda: search.dataset_count(user=request.user, query=query),
            extra={"facets": s.facet_counts(facets)} if facets is not None else None,
        )
        return self.get_paginated_response(self.get_serializer(page, many=True).data)

    @extend_schema(
        operation_id="datasets_create",
        summary="Create a dataset",
        description="Creates a draft dataset at a facility where you are staff or curator. "
        "Files are added with upload sessions.",
        request=s.DatasetCreateInputSerializer,
        responses={201: s.DatasetSerializer, **error_responses(400, 401, 403, 429)},
        examples=[
            OpenApiExample(
                "A raw session",
                request_only=True,
                value={
                    "title": "Apoferritin on a Krios G4, Falcon 4i",
                    "facility": "basel",
                    "technique": "spa",
                    "instrument": 3,
                    "keywords": ["apoferritin", "benchmark"],
                },
            ),
            OpenApiExample(
                "Not staff of the facility",
                response_only=True,
                status_codes=["403"],
                value={
                    "error": {
                        "code": "permission_denied",
                        "message": "you are not staff of Cryo-EM Facility Basel, so you cannot "
                        "create datasets there",
                        "details": None,
                    }
                },
            ),
        ],
    )
    def post(self, request: Request) -> Response:
        data = s.DatasetCreateInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        dataset = services.dataset_create(actor=request.user, **data.validated_data)
        body = self.get_serializer(dataset).data
        return Response(
            body, status=status.HTTP_201_CREATED, headers={"Location": str(body["url"])}
        )


class DatasetDetailView(ApiView[Dataset]):
    serializer_class = s.DatasetSerializer

    @extend_schema(
        operation_id="datasets_retrieve",
        summary="A dataset",
        parameters=[PID_PARAMETER],
        responses={200: s.DatasetSerializer, **error_responses(401, 404, 429)},
        examples=[OpenApiExample("An embargoed dataset", value=EXAMPLE_DATASET)],
    )
    def get(self, request: Request, pid: str) -> Response:
        return Response(self.get_serializer(_visible_dataset(request, pid)).data)


class DatasetPublishView(ApiView[Dataset]):
    permission_classes = AUTHENTICATED
    serializer_class = s.DatasetSerializer

    @extend_schema(
        operation_id="datasets_publish",
        summary="Publish a dataset",
        description="Curators of the dataset's facility: make the dataset findable, public or "
        "under embargo (metadata public at once, files from the embargo date), freezing its open "
        "draft as the next version. 400 names the missing citation fields (title, creators, "
        "licence); 409 when the dataset is published with no open draft, or was withdrawn.",
        parameters=[PID_PARAMETER],
        request=s.PublishInputSerializer,
        responses={200: s.DatasetSerializer, **error_responses(400, 401, 403, 404, 409, 429)},
        examples=[
            OpenApiExample("Public", request_only=True, value={"visibility": "public"}),
            OpenApiExample(
                "Under embargo",
                request_only=True,
                value={"visibility": "embargoed", "embargo_until": "2027-06-30"},
            ),
        ],
    )
    def post(self, request: Request, pid: str) -> Response:
        dataset = _visible_dataset(request, pid)
        _require(request, Action.PUBLISH, dataset, PUBLISH_REFUSAL)  # before the body is read
        data = s.PublishInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        dataset = services.dataset_publish(
            actor=request.user, dataset=dataset, **data.validated_data
        )
        return Response(self.get_serializer(dataset).data)


class DatasetVisibilityView(ApiView[Dataset]):
    permission_classes = AUTHENTICATED
    serializer_class = s.DatasetSerializer

    @extend_schema(
        operation_id="datasets_set_visibility",
        summary="Set a dataset's visibility and embargo",
        description="Curators of the dataset's facility: private, public, or embargoed until "
        "a future date. Every change is recorded in the audit trail.",
        parameters=[PID_PARAMETER],
        request=s.VisibilityInputSerializer,
        responses={200: s.DatasetSerializer, **error_responses(400, 401, 403, 404, 429)},
        examples=[
            OpenApiExample(
                "Extend an embargo",
                request_only=True,
                value={"visibility": "embargoed", "embargo_until": "2028-01-31"},
            ),
        ],
    )
    def post(self, request: Request, pid: str) -> Response:
        dataset = _visible_dataset(request, pid)
        _require(request, Action.PUBLISH, dataset, PUBLISH_REFUSAL)  # before the body is read
        data = s.VisibilityInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        dataset = services.dataset_set_visibility(
            actor=request.user, dataset=dataset, **data.validated_data
        )
        return Response(self.get_serializer(dataset).data)


# --- files --------------------------------------------------------------------------------------


class DataFileListView(ApiView[DataFile]):
    pagination_class = FileCursorPagination
    serializer_class = s.DataFileSerializer

    @extend_schema(
        operation_id="datasets_files_list",
        summary="List a dataset's files",
        description="Cursor-paginated (follow `next`), ordered by path (or id). A dataset "
        "may hold a million files: narrow with `prefix`, `format` and `state`.",
        parameters=[PID_PARAMETER, s.FileListQuerySerializer],
        responses={
            200: s.DataFileSerializer(many=True),
            **error_responses(400, 401, 403, 404, 429),
        },
    )
    def get(self, request: Request, pid: str) -> Response:
        dataset = _dataset_with_files(request, pid, Action.LIST_FILES)
        params = s.FileListQuerySerializer(data=request.query_params)
        params.is_valid(raise_exception=True)
        files = filters.datafiles_of(
            dataset=dataset,
            prefix=params.validated_data.get("prefix", ""),
            file_format=params.validated_data.get("format", ""),
            state=params.validated_data.get("state", ""),
        )
        page = self.paginate_queryset(files)
        serializer = s.DataFileSerializer(
            page, many=True, context={"request": request, "pid": dataset.pid}
        )
        return self.get_paginated_response(serializer.data)


class DataFileDetailView(ApiView[DataFile]):
    serializer_class = s.DataFileDetailSerializer

    @extend_schema(
        operation_id="datasets_files_retrieve",
        summary="A file, with its checksums and header",
        parameters=[PID_PARAMETER, FILE_ID_PARAMETER],
        responses={200: s.DataFileDetailSerializer, **error_responses(401, 403, 404, 429)},
    )
    def get(self, request: Request, pid: str, file_id: int) -> Response:
        dataset = _dataset_with_files(request, pid, Action.LIST_FILES)
        datafile = filters.datafile_of(dataset=dataset, file_id=file_id)
        if datafile is None:
            raise exceptions.NotFound(f"{pid} has no file with id {file_id}")
        context = {"request": request, "pid": dataset.pid}
        return Response(s.DataFileDetailSerializer(datafile, context=context).data)


class DataFileDownloadView(ApiView[DataFile]):
    renderer_classes = [JSONRenderer]  # for errors; the file itself is bytes
    pagination_class = None
    content_negotiation_class = JsonErrorsNegotiation

    @extend_schema(
        operation_id="datasets_files_download",
        summary="Download a file",
        description="On S3 storage: a redirect to a short-lived presigned URL (clients follow "
        "it; Range requests work there too). On local storage: the bytes, with HTTP Range "
        "support (206 Partial Content) for resuming and parallel downloads. Downloads of "
        "non-public files are recorded in the audit trail.",
        parameters=[
            PID_PARAMETER,
            FILE_ID_PARAMETER,
            OpenApiParameter(
                "Range",
                str,
                OpenApiParameter.HEADER,
                description="One byte range, e.g. `bytes=0-1023`, `bytes=1024-`, `bytes=-512`.",
            ),
            OpenApiParameter(
                "Content-Range",
                str,
                OpenApiParameter.HEADER,
                response=[206, 416],
                description="The range sent, e.g. `bytes 0-1023/4096`.",
            ),
        ],
        responses={
            (200, "application/octet-stream"): OpenApiResponse(
                OpenApiTypes.BINARY, description="The whole file."
            ),
            (206, "application/octet-stream"): OpenApiResponse(
                OpenApiTypes.BINARY, description="The requested range."
            ),
            302: OpenApiResponse(description="Redirect to a presigned URL (S3 storage)."),
            416: OpenApiResponse(description="The range lies outside the file."),
            **error_responses(401, 403, 404, 409, 429),
        },
    )
    def get(self, request: Request, pid: str, file_id: int) -> HttpResponseBase:
        dataset = _dataset_with_files(request, pid, Action.DOWNLOAD)
        datafile = filters.datafile_of(dataset=dataset, file_id=file_id)
        if datafile is None:
            raise exceptions.NotFound(f"{pid} has no file with id {file_id}")
        return downloads.datafile_response(request, datafile=datafile)


class DatasetManifestView(ApiView[DataFile]):
    renderer_classes = [JSONRenderer]  # for errors; the manifest is streamed text
    pagination_class = None
    content_negotiation_class = JsonErrorsNegotiation
    throttle_scope = MANIFESTS_SCOPE

    @extend_schema(
        operation_id="datasets_manifest",
        summary="Checksum manifest of a dataset's files",
        description="Streamed, for any number of files. `format=sha256sum` is the format of "
        "GNU `sha256sum`: download the files, then `sha256sum -c <pid>.sha256` in the "
        "dataset's folder checks them all. Lists the files whose checksum is known.",
        parameters=[PID_PARAMETER, s.ManifestQuerySerializer],
        responses={
            (200, "text/plain"): OpenApiResponse(
                OpenApiTypes.STR,
                description="The manifest in the requested `format`. sha256sum: "
                "`<sha256>  <path>` per line.",
                examples=[
                    OpenApiExample(
                        "sha256sum",
                        value="9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08  "
                        "Images-Disc1/FoilHole_1_Data_2.eer\n",
                    )
                ],
            ),
            (200, "application/json"): OpenApiResponse(
                inline_serializer(
                    "ManifestEntry",
                    {
                        "path": serializers.CharField(),
                        "size": serializers.IntegerField(),
                        "sha256": serializers.CharField(),
                        "md5": serializers.CharField(required=False),
                    },
                    many=True,
                ),
                description="json: one array of {path, size, sha256[, md5]}.",
            ),
            (200, "application/x-ndjson"): OpenApiResponse(
                OpenApiTypes.STR, description="jsonl: one {path, size, sha256[, md5]} per line."
            ),
            **error_responses(400, 401, 403, 404, 429),
        },
    )
    def get(self, request: Request, pid: str) -> HttpResponseBase:
        dataset = _dataset_with_files(request, pid, Action.LIST_FILES)
        params = s.ManifestQuerySerializer(data=request.query_params)
        params.is_valid(raise_exception=True)
        manifest_format = manifests.ManifestFormat(params.validated_data["format"])
        response = StreamingHttpResponse(
            manifests.manifest_stream(
                dataset, manifest_format=manifest_format, prefix=params.validated_data["prefix"]
            ),
            content_type=manifests.CONTENT_TYPES[manifest_format],
        )
        # The file name is the PID and an extension: plain ASCII, no quoting needed.
        filename = manifests.manifest_filename(dataset, manifest_format)
        response["Content-Disposition"] = f'inline; filename="{filename}"'

        return response


# --- facilities, instruments, projects ------------------------------------------------------------


class FacilityListView(ApiView[Facility]):
    pagination_class = PageNumberPagination
    serializer_class = s.FacilitySerializer

    @extend_schema(
        operation_id="facilities_list",
        summary="List facilities",
        responses={200: s.FacilitySerializer(many=True), **error_responses(400, 429)},
    )
    def get(self, request: Request) -> Response:
        page = self.paginate_queryset(filters.facilities())
        return self.get_paginated_response(self.get_serializer(page, many=True).data)


class FacilityDetailView(ApiView[Facility]):
    serializer_class = s.FacilitySerializer

    @extend_schema(
        operation_id="facilities_retrieve",
        summary="A facility",
        parameters=[OpenApiParameter("slug", str, OpenApiParameter.PATH)],
        responses={200: s.FacilitySerializer, **error_responses(404, 429)},
    )
    def get(self, request: Request, slug: str) -> Response:
        facility = filters.facilities().filter(slug=slug).first()
        if facility is None:
            raise exceptions.NotFound(f"no facility {slug}")
        return Response(self.get_serializer(facility).data)


class InstrumentListView(ApiView[Instrument]):
    pagination_class = PageNumberPagination
    serializer_class = s.InstrumentSerializer

    @extend_schema(
        operation_id="instruments_list",
        summary="List instruments",
        parameters=[s.InstrumentListQuerySerializer],
        responses={200: s.InstrumentSerializer(many=True), **error_responses(400, 429)},
    )
    def get(self, request: Request) -> Response:
        params = s.InstrumentListQuerySerializer(data=request.query_params)
        params.is_valid(raise_exception=True)
        found = filters.instruments(facility=params.validated_data.get("facility", ""))
        page = self.paginate_queryset(found)
        return self.get_paginated_response(self.get_serializer(page, many=True).data)


class InstrumentDetailView(ApiView[Instrument]):
    serializer_class = s.InstrumentSerializer

    @extend_schema(
        operation_id="instruments_retrieve",
        summary="An instrument",
        parameters=[OpenApiParameter("instrument_id", int, OpenApiParameter.PATH)],
        responses={200: s.InstrumentSerializer, **error_responses(404, 429)},
    )
    def get(self, request: Request, instrument_id: int) -> Response:
        instrument = filters.instruments().filter(pk=instrument_id).first()
        if instrument is None:
            raise exceptions.NotFound(f"no instrument with id {instrument_id}")
        return Response(self.get_serializer(instrument).data)


class ProjectListView(ApiView[Project]):
    pagination_class = PageNumberPagination
    serializer_class = s.ProjectSerializer

    @extend_schema(
        operation_id="projects_list",
        summary="List projects",
        description="Projects with a dataset visible to you, and your own and your "
        "facilities' projects.",
        responses={200: s.ProjectSerializer(many=True), **error_responses(400, 401, 429)},
    )
    def get(self, request: Request) -> Response:
        page = self.paginate_queryset(access.projects_visible_to(request.user))
        return self.get_paginated_response(self.get_serializer(page, many=True).data)


class ProjectDetailView(ApiView[Project]):
    serializer_class = s.ProjectSerializer

    @extend_schema(
        operation_id="projects_retrieve",
        summary="A project",
        parameters=[OpenApiParameter("code", str, OpenApiParameter.PATH)],
        responses={200: s.ProjectSerializer, **error_responses(401, 404, 429)},
    )
    def get(self, request: Request, code: str) -> Response:
        project = access.projects_visible_to(request.user).filter(code=code).first()
        if project is None:
            raise exceptions.NotFound(f"no project {code} exists or is visible to you")
        return Response(self.get_serializer(project).data)


# --- personal API tokens --------------------------------------------------------------------------


def _own_token(request: Request, token_id: int) -> ApiToken:
    token = tokens.tokens_of(user=request.user).filter(pk=token_id).first()
    if token is None:
        raise exceptions.NotFound(f"you have no API token with id {token_id}")
    return token


class TokenListView(ApiView[ApiToken]):
    permission_classes = AUTHENTICATED
    pagination_class = PageNumberPagination
    serializer_class = s.ApiTokenSerializer

    @extend_schema(
        operation_id="tokens_list",
        summary="Your API tokens",
        description="Revoked and expired ones included; secrets are never shown again.",
        responses={200: s.ApiTokenSerializer(many=True), **error_responses(400, 401, 429)},
    )
    def get(self, request: Request) -> Response:
        page = self.paginate_queryset(tokens.tokens_of(user=request.user))
        return self.get_paginated_response(self.get_serializer(page, many=True).data)

    @extend_schema(
        operation_id="tokens_create",
        summary="Create an API token",
        description="Only from a browser session (a token cannot create tokens). The secret is "
        "in this response only: store it now.",
        request=s.TokenCreateInputSerializer,
        responses={201: s.ApiTokenCreatedSerializer, **error_responses(400, 401, 403, 429)},
        examples=[
            OpenApiExample(
                "A read-only token for a pipeline",
                request_only=True,
                value={"name": "pipeline on gpu01", "scope": "read", "expires_at": None},
            ),
            OpenApiExample(
                "Created",
                response_only=True,
                status_codes=["201"],
                value={
                    "id": 12,
                    "url": f"{EXAMPLE_BASE}/api/v1/tokens/12/",
                    "name": "pipeline on gpu01",
                    "prefix": "oem_Jx3kQ9aB",
                    "scope": "read",
                    "active": True,
                    "created": "2026-03-09T16:40:12+01:00",
                    "expires_at": None,
                    "last_used_at": None,
                    "revoked_at": None,
                    "secret": "oem_Jx3kQ9aB...(43 characters in all after oem_)",
                },
            ),
        ],
    )
    def post(self, request: Request) -> Response:
        if request_token(request) is not None:
            raise NotAllowed(
                "API tokens cannot create other tokens; create them on your profile page"
            )
        data = s.TokenCreateInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        token, secret = tokens.token_create(user=request.user, **data.validated_data)
        body = s.ApiTokenCreatedSerializer(
            token, context={"request": request, "secret": secret}
        ).data
        response = Response(
            body, status=status.HTTP_201_CREATED, headers={"Location": str(body["url"])}
        )
        response["Cache-Control"] = "no-store"
        return response


class TokenDetailView(ApiView[ApiToken]):
    permission_classes = AUTHENTICATED
    serializer_class = s.ApiTokenSerializer

    @extend_schema(
        operation_id="tokens_retrieve",
        summary="One of your API tokens",
        parameters=[OpenApiParameter("token_id", int, OpenApiParameter.PATH)],
        responses={200: s.ApiTokenSerializer, **error_responses(401, 404, 429)},
    )
    def get(self, request: Request, token_id: int) -> Response:
        return Response(self.get_serializer(_own_token(request, token_id)).data)

    @extend_schema(
        operation_id="tokens_revoke",
        summary="Revoke an API token",
        description="At once and for good; the token stays listed as revoked.",
        parameters=[OpenApiParameter("token_id", int, OpenApiParameter.PATH)],
        responses={204: None, **error_responses(401, 403, 404, 429)},
    )
    def delete(self, request: Request, token_id: int) -> Response:
        tokens.token_revoke(actor=request.user, token=_own_token(request, token_id))
        return Response(status=status.HTTP_204_NO_CONTENT)
