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
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
)
from rest_framework import exceptions, permissions, status
from rest_framework.negotiation import BaseContentNegotiation
from rest_framework.parsers import BaseParser
from rest_framework.renderers import BaseRenderer
from rest_framework.request import Request
from rest_framework.response import Response

from openem.api.authentication import TokenScopePermission, request_token
from openem.api.exceptions import error_responses
from openem.api.pagination import DatasetPagination, FileCursorPagination, PageNumberPagination
from openem.api.renderers import JSONRenderer
from openem.api.throttling import MANIFESTS_SCOPE
from openem.api.views import ApiView
from openem.errors import NotAllowed
from repository import access, downloads, manifests, search, services, tokens
from repository.access import Action
from repository.models import ApiToken, DataFile, Dataset, Facility, Instrument, Project

from . import docs, filters
from . import serializers as s
from .docs import FILE_ID_PARAMETER, PID_PARAMETER

ModelT = TypeVar("ModelT", bound=Model)

READ_OR_AUTHENTICATED = [TokenScopePermission, permissions.IsAuthenticatedOrReadOnly]
AUTHENTICATED = [TokenScopePermission, permissions.IsAuthenticated]

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
        description=docs.DATASETS_LIST,
        parameters=[s.DatasetListQuerySerializer],
        responses={200: s.DatasetSerializer(many=True), **error_responses(400, 401, 429)},
        examples=docs.DATASETS_LIST_EXAMPLES,
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
        description=docs.DATASETS_CREATE,
        request=s.DatasetCreateInputSerializer,
        responses={201: s.DatasetSerializer, **error_responses(400, 401, 403, 429)},
        examples=docs.DATASETS_CREATE_EXAMPLES,
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
        examples=docs.DATASETS_RETRIEVE_EXAMPLES,
    )
    def get(self, request: Request, pid: str) -> Response:
        return Response(self.get_serializer(_visible_dataset(request, pid)).data)


class DatasetPublishView(ApiView[Dataset]):
    permission_classes = AUTHENTICATED
    serializer_class = s.DatasetSerializer

    @extend_schema(
        operation_id="datasets_publish",
        summary="Publish a dataset",
        description=docs.DATASETS_PUBLISH,
        parameters=[PID_PARAMETER],
        request=s.PublishInputSerializer,
        responses={200: s.DatasetSerializer, **error_responses(400, 401, 403, 404, 409, 429)},
        examples=docs.DATASETS_PUBLISH_EXAMPLES,
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
        description=docs.DATASETS_SET_VISIBILITY,
        parameters=[PID_PARAMETER],
        request=s.VisibilityInputSerializer,
        responses={200: s.DatasetSerializer, **error_responses(400, 401, 403, 404, 429)},
        examples=docs.DATASETS_SET_VISIBILITY_EXAMPLES,
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
        description=docs.DATASETS_FILES_LIST,
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
        description=docs.DATASETS_FILES_DOWNLOAD,
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
        description=docs.DATASETS_MANIFEST,
        parameters=[PID_PARAMETER, s.ManifestQuerySerializer],
        responses=docs.DATASETS_MANIFEST_RESPONSES,
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
        description=docs.PROJECTS_LIST,
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
        description=docs.TOKENS_LIST,
        responses={200: s.ApiTokenSerializer(many=True), **error_responses(400, 401, 429)},
    )
    def get(self, request: Request) -> Response:
        page = self.paginate_queryset(tokens.tokens_of(user=request.user))
        return self.get_paginated_response(self.get_serializer(page, many=True).data)

    @extend_schema(
        operation_id="tokens_create",
        summary="Create an API token",
        description=docs.TOKENS_CREATE,
        request=s.TokenCreateInputSerializer,
        responses={201: s.ApiTokenCreatedSerializer, **error_responses(400, 401, 403, 429)},
        examples=docs.TOKENS_CREATE_EXAMPLES,
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
        description=docs.TOKENS_REVOKE,
        parameters=[OpenApiParameter("token_id", int, OpenApiParameter.PATH)],
        responses={204: None, **error_responses(401, 403, 404, 429)},
    )
    def delete(self, request: Request, token_id: int) -> Response:
        tokens.token_revoke(actor=request.user, token=_own_token(request, token_id))
        return Response(status=status.HTTP_204_NO_CONTENT)
