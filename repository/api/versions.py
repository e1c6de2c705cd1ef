"""The versions of a dataset in the API: list and start (``/datasets/<pid>/versions/``), one
version with its DOI (``.../versions/<n>/``), withdraw it (``.../versions/<n>/withdraw``), and
its frozen files, cursor-paginated like the working copy's (``.../versions/<n>/files/``), with
their downloads. A withdrawn version lists no files: 410 with the reason."""

from __future__ import annotations

from typing import Any

from django.http.response import HttpResponseBase
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiResponse,
    extend_schema,
    extend_schema_field,
)
from rest_framework import exceptions, serializers, status
from rest_framework.request import Request
from rest_framework.response import Response

from openem.api.exceptions import error_responses
from openem.api.pagination import FileCursorPagination, PageNumberPagination
from openem.api.renderers import JSONRenderer
from openem.errors import Gone
from repository import access, downloads, identifiers, selectors, versions
from repository.models import Dataset, DatasetVersion, VersionFile, VersionState, Visibility

from . import docs, filters
from .docs import NUMBER_PARAMETER, PID_PARAMETER, VERSION_FILE_ID_PARAMETER
from .dois import DoiStatusSerializer
from .views import AUTHENTICATED, READ_OR_AUTHENTICATED, ApiView, JsonErrorsNegotiation


def _url(serializer: Any, viewname: str, **kwargs: Any) -> str:
    from rest_framework.reverse import reverse

    return str(reverse(viewname, kwargs=kwargs, request=serializer.context.get("request")))


# --- serializers ----------------------------------------------------------------------------------


class VersionSerializer(serializers.ModelSerializer[DatasetVersion]):
    url = serializers.SerializerMethodField()
    html_url = serializers.SerializerMethodField(help_text="The version's landing page.")
    files_url = serializers.SerializerMethodField(
        help_text="Its frozen files (null for drafts and withdrawn versions)."
    )
    doi = serializers.SerializerMethodField()
    is_latest = serializers.SerializerMethodField(help_text="The newest published version.")
    keywords = serializers.ListField(child=serializers.CharField())
    # A draft shows none of these (null): its metadata is the dataset being edited.
    title = serializers.CharField(allow_null=True)
    description = serializers.CharField(allow_null=True)
    licence = serializers.CharField(allow_null=True, help_text="SPDX licence id.")
    visibility = serializers.ChoiceField(choices=Visibility.choices, allow_null=True)
    metadata = serializers.JSONField(
        allow_null=True, help_text="The metadata as published (frozen)."
    )

    class Meta:
        model = DatasetVersion
        fields = [
            "number",
            "url",
            "html_url",
            "files_url",
            "state",
            "is_latest",
            "doi",
            "title",
            "description",
            "licence",
            "keywords",
            "visibility",
            "embargo_until",
            "metadata",
            "notes",
            "file_count",
            "total_bytes",
            "created",
            "published_at",
            "withdrawn_at",
            "withdrawal_reason",
        ]
        read_only_fields = fields

    def _pid(self) -> str:
        return str(self.context["dataset"].pid)

    @extend_schema_field(OpenApiTypes.URI)
    def get_url(self, version: DatasetVersion) -> str:
        return _url(self, "api:version-detail", pid=self._pid(), number=version.number)

    @extend_schema_field(OpenApiTypes.URI)
    def get_html_url(self, version: DatasetVersion) -> str:
        return _url(self, "dataset-version", pid=self._pid(), number=version.number)

    @extend_schema_field(serializers.URLField(allow_null=True))
    def get_files_url(self, version: DatasetVersion) -> str | None:
        if version.state != VersionState.PUBLISHED:
            return None
        return _url(self, "api:version-files", pid=self._pid(), number=version.number)

    @extend_schema_field(DoiStatusSerializer)
    def get_doi(self, version: DatasetVersion) -> dict[str, Any]:
        request = self.context.get("request")
        user = getattr(request, "user", None)
        return identifiers.doi_status(user, self.context["dataset"], version)

    def get_is_latest(self, version: DatasetVersion) -> bool:
        latest = self.context.get("latest")
        return latest is not None and latest.pk == version.pk

    def to_representation(self, instance: DatasetVersion) -> dict[str, Any]:
        data: dict[str, Any] = super().to_representation(instance)
        if instance.state == VersionState.DRAFT:
            # A draft's citation metadata is the dataset being edited (GET /datasets/<pid>/).
            for key in ("title", "description", "licence", "keywords", "metadata", "visibility"):
                data[key] = None if key != "keywords" else []
        if not access.sees_personal_data(getattr(self.context.get("request"), "user", None))(
            self.context["dataset"]
        ):
            from metadata.privacy import without_personal_data

            data["metadata"] = without_personal_data(data.get("metadata"))
        return data


class VersionFileSerializer(serializers.ModelSerializer[VersionFile]):
    download_url = serializers.SerializerMethodField()

    class Meta:
        model = VersionFile
        fields = [
            "id",
            "download_url",
            "path",
            "directory",
            "name",
            "size",
            "format",
            "checksum_sha256",
            "checksum_md5",
        ]
        read_only_fields = fields

    @extend_schema_field(OpenApiTypes.URI)
    def get_download_url(self, version_file: VersionFile) -> str:
        return _url(
            self,
            "api:version-file-download",
            pid=self.context["pid"],
            number=self.context["number"],
            file_id=version_file.pk,
        )


class StartVersionInputSerializer(serializers.Serializer[Any]):
    notes = serializers.CharField(
        required=False, allow_blank=True, max_length=5000, help_text="What will change."
    )


class WithdrawInputSerializer(serializers.Serializer[Any]):
    reason = serializers.CharField(
        max_length=2000, help_text="Shown on the tombstone, with the citation metadata."
    )


class VersionFileQuerySerializer(serializers.Serializer[Any]):
    prefix = serializers.CharField(
        required=False, allow_blank=True, max_length=1024, help_text="Paths starting with this."
    )


# --- helpers ----------------------------------------------------------------------------------------


def _dataset(request: Request, pid: str) -> Dataset:
    """The dataset if visible, else its tombstone (withdrawn: its versions stay citable)."""
    dataset = filters.dataset_visible(user=request.user, pid=pid)
    if dataset is None:
        dataset = selectors.dataset_tombstone(pid=pid) if "\x00" not in pid else None
    if dataset is None:
        hint = "" if request.user.is_authenticated else " (authenticate if it is yours)"
        raise exceptions.NotFound(f"no dataset {pid} exists or is visible to you{hint}")
    return dataset


def _listed(request: Request, dataset: Dataset) -> Any:
    if access.is_insider(request.user, dataset):
        return versions.dataset_versions(dataset)
    return versions.versions_published(dataset)


def _version(request: Request, dataset: Dataset, number: int) -> DatasetVersion:
    version = _listed(request, dataset).filter(number=number).first()
    if version is None:
        raise exceptions.NotFound(f"{dataset.pid} has no version {number} visible to you")
    return version


def _context(request: Request, dataset: Dataset) -> dict[str, Any]:
    return {
        "request": request,
        "dataset": dataset,
        "latest": versions.version_latest_published(dataset),
    }


def _files_of(request: Request, dataset: Dataset, version: DatasetVersion) -> None:
    if version.state == VersionState.WITHDRAWN:
        raise Gone(
            f"version {version.number} of {dataset.pid} was withdrawn on "
            f"{version.withdrawn_at:%Y-%m-%d}: {version.withdrawal_reason}",
            details={"withdrawn_at": version.withdrawn_at, "reason": version.withdrawal_reason},
        )
    if version.state == VersionState.DRAFT:
        raise exceptions.NotFound(
            f"version {version.number} of {dataset.pid} is a draft: its files are the "
            "dataset's working copy (GET /api/v1/datasets/<pid>/files/)"
        )
    if not access.can_list_version_files(request.user, dataset, version):
        if not request.user.is_authenticated:
            raise exceptions.NotAuthenticated(
                f"the files of {dataset.pid} v{version.number} are not open; authenticate if "
                "you are entitled to them"
            )
        raise exceptions.PermissionDenied(
            f"you may not access the files of {dataset.pid} v{version.number}"
        )


# --- views ------------------------------------------------------------------------------------------


class VersionListView(ApiView[DatasetVersion]):
    permission_classes = READ_OR_AUTHENTICATED
    pagination_class = PageNumberPagination
    serializer_class = VersionSerializer

    @extend_schema(
        operation_id="datasets_versions_list",
        summary="A dataset's versions",
        description=docs.DATASETS_VERSIONS_LIST,
        parameters=[PID_PARAMETER],
        responses={200: VersionSerializer(many=True), **error_responses(400, 401, 404, 429)},
        examples=docs.DATASETS_VERSIONS_LIST_EXAMPLES,
    )
    def get(self, request: Request, pid: str) -> Response:
        dataset = _dataset(request, pid)
        page = self.paginate_queryset(_listed(request, dataset))
        body = VersionSerializer(page, many=True, context=_context(request, dataset)).data
        return self.get_paginated_response(body)

    @extend_schema(
        operation_id="datasets_versions_create",
        summary="Start a new version",
        description=docs.DATASETS_VERSIONS_CREATE,
        parameters=[PID_PARAMETER],
        request=StartVersionInputSerializer,
        responses={201: VersionSerializer, **error_responses(400, 401, 403, 404, 409, 429)},
    )
    def post(self, request: Request, pid: str) -> Response:
        dataset = _dataset(request, pid)
        data = StartVersionInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        draft = versions.version_start_draft(
            actor=request.user, dataset=dataset, notes=data.validated_data.get("notes", "")
        )
        body = VersionSerializer(draft, context=_context(request, dataset)).data
        return Response(body, status=status.HTTP_201_CREATED, headers={"Location": body["url"]})


class VersionDetailView(ApiView[DatasetVersion]):
    serializer_class = VersionSerializer

    @extend_schema(
        operation_id="datasets_versions_retrieve",
        summary="One version: its frozen metadata, DOI and state",
        description=docs.DATASETS_VERSIONS_RETRIEVE,
        parameters=[PID_PARAMETER, NUMBER_PARAMETER],
        responses={200: VersionSerializer, **error_responses(401, 404, 429)},
        examples=docs.DATASETS_VERSIONS_RETRIEVE_EXAMPLES,
    )
    def get(self, request: Request, pid: str, number: int) -> Response:
        dataset = _dataset(request, pid)
        version = _version(request, dataset, number)
        return Response(VersionSerializer(version, context=_context(request, dataset)).data)


class VersionWithdrawView(ApiView[DatasetVersion]):
    permission_classes = AUTHENTICATED
    serializer_class = VersionSerializer

    @extend_schema(
        operation_id="datasets_versions_withdraw",
        summary="Withdraw a version",
        description=docs.DATASETS_VERSIONS_WITHDRAW,
        parameters=[PID_PARAMETER, NUMBER_PARAMETER],
        request=WithdrawInputSerializer,
        responses={200: VersionSerializer, **error_responses(400, 401, 403, 404, 409, 429)},
        examples=docs.DATASETS_VERSIONS_WITHDRAW_EXAMPLES,
    )
    def post(self, request: Request, pid: str, number: int) -> Response:
        dataset = _dataset(request, pid)
        data = WithdrawInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        version = versions.version_withdraw(
            actor=request.user, dataset=dataset, number=number, reason=data.validated_data["reason"]
        )
        dataset.refresh_from_db()
        return Response(VersionSerializer(version, context=_context(request, dataset)).data)


class VersionFileListView(ApiView[VersionFile]):
    pagination_class = FileCursorPagination
    serializer_class = VersionFileSerializer

    @extend_schema(
        operation_id="datasets_versions_files_list",
        summary="A version's files, as published",
        description=docs.DATASETS_VERSIONS_FILES_LIST,
        parameters=[PID_PARAMETER, NUMBER_PARAMETER, VersionFileQuerySerializer],
        responses={
            200: VersionFileSerializer(many=True),
            **error_responses(400, 401, 403, 404, 410, 429),
        },
    )
    def get(self, request: Request, pid: str, number: int) -> Response:
        dataset = _dataset(request, pid)
        version = _version(request, dataset, number)
        _files_of(request, dataset, version)
        params = VersionFileQuerySerializer(data=request.query_params)
        params.is_valid(raise_exception=True)
        files = versions.version_files(version)
        prefix = params.validated_data.get("prefix", "")
        if prefix:
            files = files.filter(path__startswith=prefix)
        page = self.paginate_queryset(files)
        context = {"request": request, "pid": dataset.pid, "number": version.number}
        return self.get_paginated_response(
            VersionFileSerializer(page, many=True, context=context).data
        )


class VersionFileDownloadView(ApiView[VersionFile]):
    renderer_classes = [JSONRenderer]  # for errors; the file itself is bytes
    pagination_class = None
    content_negotiation_class = JsonErrorsNegotiation

    @extend_schema(
        operation_id="datasets_versions_files_download",
        summary="Download a file of a version",
        description=docs.DATASETS_VERSIONS_FILES_DOWNLOAD,
        parameters=[PID_PARAMETER, NUMBER_PARAMETER, VERSION_FILE_ID_PARAMETER],
        responses={
            (200, "application/octet-stream"): OpenApiResponse(
                OpenApiTypes.BINARY, description="The whole file."
            ),
            (206, "application/octet-stream"): OpenApiResponse(
                OpenApiTypes.BINARY, description="The requested range."
            ),
            302: OpenApiResponse(description="Redirect to a presigned URL (S3 storage)."),
            416: OpenApiResponse(description="The range lies outside the file."),
            **error_responses(401, 403, 404, 410, 429),
        },
    )
    def get(self, request: Request, pid: str, number: int, file_id: int) -> HttpResponseBase:
        dataset = _dataset(request, pid)
        version = _version(request, dataset, number)
        _files_of(request, dataset, version)
        version_file = versions.version_files(version).filter(pk=file_id).first()
        if version_file is None:
            raise exceptions.NotFound(f"version {number} of {pid} has no file with id {file_id}")
        return downloads.version_file_response(request, version_file=version_file, dataset=dataset)
