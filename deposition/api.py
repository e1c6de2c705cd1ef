"""The deposition API: the actions of the "Prepare deposition" page for scripts.

Input and output serializers are separate; each view parses, calls one selector or service and
renders. Access (curators of the dataset's facility and site admins) and the deposition states
are the services' business; their errors become the API's one JSON error shape.
"""

from __future__ import annotations

from typing import Any

from django.http import FileResponse, HttpResponse
from django.http.response import HttpResponseBase
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import permissions, serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.reverse import reverse

import storage
from deposition import api_docs as docs
from deposition import selectors, services
from deposition.api_docs import PID, TARGET
from deposition.documents import build_document
from deposition.models import Deposition, DepositionState, DepositionTarget
from openem.api.authentication import TokenScopePermission
from openem.api.exceptions import error_responses
from openem.api.views import ApiView
from openem.errors import NotFound
from repository.models import Dataset

AUTHENTICATED = [TokenScopePermission, permissions.IsAuthenticated]
# --- serializers ----------------------------------------------------------------------------------


# Fields named like attributes of DRF's classes (field, source, errors) are fine at run time:
# the serializer metaclass takes declared fields off the class; the ignores are for mypy.
class IssueSerializer(serializers.Serializer[Any]):
    path = serializers.CharField(help_text="JSON path or XML path in the document.")
    message = serializers.CharField()
    severity = serializers.ChoiceField(choices=["error", "warning"])
    field = serializers.CharField(help_text="The metadata field that cures it, if any.")  # type: ignore[assignment]
    fix_url = serializers.CharField(help_text="Where to fix it (the metadata form's field).")
    source = serializers.CharField(help_text="builder, schema, strict, xsd, xsd-relaxed, mmcif")  # type: ignore[assignment]


class ProvenanceSerializer(serializers.Serializer[Any]):
    path = serializers.CharField()
    value = serializers.JSONField()
    source = serializers.CharField(help_text="The file, metadata field or rule it came from.")  # type: ignore[assignment]


class ReportSerializer(serializers.Serializer[Any]):
    valid = serializers.BooleanField()
    errors = serializers.IntegerField()  # type: ignore[assignment]
    warnings = serializers.IntegerField()
    issues = IssueSerializer(many=True)
    provenance = ProvenanceSerializer(many=True)


class DepositionSerializer(serializers.ModelSerializer[Deposition]):
    dataset = serializers.CharField(source="dataset.pid")
    valid = serializers.BooleanField(source="is_valid")
    report = ReportSerializer()
    package = serializers.JSONField(help_text="Files, bytes and object keys of the package.")
    document_url = serializers.SerializerMethodField()
    manifest_url = serializers.SerializerMethodField()

    class Meta:
        model = Deposition
        fields = [
            "dataset", "target", "state", "valid", "report", "validated_at", "package_prefix",
            "package", "package_job", "package_error", "remote_entry_id", "remote_directory",
            "accession", "rejected_reason", "submitted_at", "accessioned_at", "created",
            "modified", "document_url", "manifest_url",
        ]  # fmt: skip

    def _url(self, deposition: Deposition, name: str) -> str:
        return reverse(
            name,
            kwargs={"pid": deposition.dataset.pid, "target": deposition.target},
            request=self.context.get("request"),
        )

    def get_document_url(self, deposition: Deposition) -> str:
        return self._url(deposition, "deposition-api-document")

    def get_manifest_url(self, deposition: Deposition) -> str | None:
        if not deposition.package_prefix:
            return None
        return self._url(deposition, "deposition-api-manifest")


class SubmittedInputSerializer(serializers.Serializer[Any]):
    note = serializers.CharField(required=False, allow_blank=True, max_length=500)


class AccessionInputSerializer(serializers.Serializer[Any]):
    accession = serializers.CharField(max_length=32, help_text="EMPIAR-NNNNN or EMD-NNNNN.")


class RejectInputSerializer(serializers.Serializer[Any]):
    reason = serializers.CharField(max_length=2000)


class EmpiarActionInputSerializer(serializers.Serializer[Any]):
    dry_run = serializers.BooleanField(
        default=True,
        help_text="true (the default): describe the requests, send nothing. "
        "false: send them to EMPIAR.",
    )
    grant_rights = serializers.DictField(
        child=serializers.IntegerField(min_value=1, max_value=4),
        required=False,
        help_text='Share the entry: {"user@example.org": 3} (2 view, 3 view and edit, '
        "4 view, edit and submit).",
    )


class EmpiarResultSerializer(serializers.Serializer[Any]):
    dry_run = serializers.BooleanField()
    request = serializers.JSONField(help_text="Method, URL and body (never the token).")
    status = serializers.IntegerField(allow_null=True)
    response = serializers.JSONField()


class EmpiarActionOutputSerializer(serializers.Serializer[Any]):
    deposition = DepositionSerializer()
    requests = EmpiarResultSerializer(many=True)


# --- views ----------------------------------------------------------------------------------------


def _dataset(request: Request, pid: str) -> Dataset:
    return selectors.dataset_for_curator(user=request.user, pid=pid)


def _deposition(request: Request, pid: str, target: str) -> Deposition:
    dataset = _dataset(request, pid)
    deposition = selectors.deposition_for(dataset=dataset, target=selectors.target_or_404(target))
    if deposition is None:
        raise NotFound(f"no {target} deposition yet: validate it first (POST .../validate)")
    return deposition


# Base of the deposition API views (a comment, not a docstring: drf-spectacular would make it
# every endpoint's description).
class DepositionApiView(ApiView[Deposition]):
    permission_classes = AUTHENTICATED
    serializer_class = DepositionSerializer

    def render(self, deposition: Deposition, status: int = 200) -> Response:
        return Response(self.get_serializer(deposition).data, status=status)


class DepositionListView(DepositionApiView):
    pagination_class = None  # at most one deposition per archive: a plain list

    @extend_schema(
        operation_id="depositions_list",
        summary="A dataset's depositions",
        description=docs.DEPOSITIONS_LIST,
        parameters=[PID],
        responses={200: DepositionSerializer(many=True), **error_responses(401, 403, 404, 429)},
    )
    def get(self, request: Request, pid: str) -> Response:
        dataset = _dataset(request, pid)
        found = [d for d in selectors.depositions_of(dataset=dataset).values() if d]
        return Response(self.get_serializer(found, many=True).data)


class DepositionDetailView(DepositionApiView):
    @extend_schema(
        operation_id="depositions_retrieve",
        summary="A deposition",
        description=docs.DEPOSITIONS_RETRIEVE,
        parameters=[PID, TARGET],
        responses={200: DepositionSerializer, **error_responses(401, 403, 404, 429)},
    )
    def get(self, request: Request, pid: str, target: str) -> Response:
        return self.render(_deposition(request, pid, target))


class DepositionValidateView(DepositionApiView):
    @extend_schema(
        operation_id="depositions_validate",
        summary="Build and validate the deposition document",
        description=docs.DEPOSITIONS_VALIDATE,
        parameters=[PID, TARGET],
        request=None,
        responses={200: DepositionSerializer, **error_responses(400, 401, 403, 404, 409, 429)},
    )
    def post(self, request: Request, pid: str, target: str) -> Response:
        dataset = _dataset(request, pid)
        deposition = services.deposition_validate(
            actor=request.user, dataset=dataset, target=selectors.target_or_404(target)
        )
        return self.render(deposition)


class DepositionPackageView(DepositionApiView):
    @extend_schema(
        operation_id="depositions_package",
        summary="Package a validated deposition",
        description=docs.DEPOSITIONS_PACKAGE,
        parameters=[PID, TARGET],
        request=None,
        responses={202: DepositionSerializer, **error_responses(401, 403, 404, 409, 429)},
    )
    def post(self, request: Request, pid: str, target: str) -> Response:
        deposition = services.deposition_package_request(
            actor=request.user, deposition=_deposition(request, pid, target)
        )
        deposition.refresh_from_db()
        return self.render(deposition, status=202)


class DepositionSubmittedView(DepositionApiView):
    @extend_schema(
        operation_id="depositions_mark_submitted",
        summary="Mark a packaged deposition as submitted",
        parameters=[PID, TARGET],
        request=SubmittedInputSerializer,
        responses={200: DepositionSerializer, **error_responses(400, 401, 403, 404, 409, 429)},
    )
    def post(self, request: Request, pid: str, target: str) -> Response:
        deposition = _deposition(request, pid, target)  # access before the body is read
        data = SubmittedInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        deposition = services.deposition_mark_submitted(
            actor=request.user, deposition=deposition, note=data.validated_data.get("note", "")
        )
        return self.render(deposition)


class DepositionAccessionView(DepositionApiView):
    @extend_schema(
        operation_id="depositions_record_accession",
        summary="Record the accession code",
        description=docs.DEPOSITIONS_RECORD_ACCESSION,
        parameters=[PID, TARGET],
        request=AccessionInputSerializer,
        responses={200: DepositionSerializer, **error_responses(400, 401, 403, 404, 409, 429)},
        examples=docs.DEPOSITIONS_RECORD_ACCESSION_EXAMPLES,
    )
    def post(self, request: Request, pid: str, target: str) -> Response:
        deposition = _deposition(request, pid, target)  # access before the body is read
        data = AccessionInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        deposition = services.deposition_record_accession(
            actor=request.user, deposition=deposition, accession=data.validated_data["accession"]
        )
        return self.render(deposition)


class DepositionRejectView(DepositionApiView):
    @extend_schema(
        operation_id="depositions_reject",
        summary="Record that the archive rejected the submission",
        parameters=[PID, TARGET],
        request=RejectInputSerializer,
        responses={200: DepositionSerializer, **error_responses(400, 401, 403, 404, 409, 429)},
    )
    def post(self, request: Request, pid: str, target: str) -> Response:
        deposition = _deposition(request, pid, target)  # access before the body is read
        data = RejectInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        deposition = services.deposition_reject(
            actor=request.user, deposition=deposition, reason=data.validated_data["reason"]
        )
        return self.render(deposition)


class EmpiarEntryView(DepositionApiView):
    @extend_schema(
        operation_id="depositions_empiar_create_entry",
        summary="Create or update the EMPIAR entry (dry run by default)",
        description=docs.DEPOSITIONS_EMPIAR_CREATE_ENTRY,
        parameters=[PID],
        request=EmpiarActionInputSerializer,
        responses={
            200: EmpiarActionOutputSerializer,
            **error_responses(400, 401, 403, 404, 409, 429),
        },
    )
    def post(self, request: Request, pid: str) -> Response:
        deposition = _deposition(request, pid, DepositionTarget.EMPIAR)  # access first
        data = EmpiarActionInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        results = services.deposition_empiar_create_entry(
            actor=request.user,
            deposition=deposition,
            dry_run=data.validated_data["dry_run"],
            grant_rights=data.validated_data.get("grant_rights"),
        )
        return Response(
            {
                "deposition": self.get_serializer(deposition).data,
                "requests": [r.to_dict() for r in results],
            }
        )


class EmpiarSubmitView(DepositionApiView):
    @extend_schema(
        operation_id="depositions_empiar_submit",
        summary="Submit the EMPIAR entry (dry run by default)",
        description=docs.DEPOSITIONS_EMPIAR_SUBMIT,
        parameters=[PID],
        request=EmpiarActionInputSerializer,
        responses={
            200: EmpiarActionOutputSerializer,
            **error_responses(400, 401, 403, 404, 409, 429),
        },
    )
    def post(self, request: Request, pid: str) -> Response:
        deposition = _deposition(request, pid, DepositionTarget.EMPIAR)  # access first
        data = EmpiarActionInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        result = services.deposition_empiar_submit(
            actor=request.user, deposition=deposition, dry_run=data.validated_data["dry_run"]
        )
        deposition.refresh_from_db()
        return Response(
            {"deposition": self.get_serializer(deposition).data, "requests": [result.to_dict()]}
        )


class DepositionDocumentView(DepositionApiView):
    @extend_schema(
        operation_id="depositions_document",
        summary="The deposition document",
        description=docs.DEPOSITIONS_DOCUMENT,
        parameters=[
            PID,
            TARGET,
            OpenApiParameter("format", str, enum=["mmcif"], required=False),
        ],
        responses={
            (200, "application/json"): OpenApiResponse(
                OpenApiTypes.OBJECT, description="EMPIAR: the deposition JSON."
            ),
            (200, "application/xml"): OpenApiResponse(
                OpenApiTypes.BINARY, description="EMDB: the header XML."
            ),
            (200, "chemical/x-mmcif"): OpenApiResponse(
                OpenApiTypes.BINARY, description="With `?format=mmcif`: the em_* categories."
            ),
            **error_responses(401, 403, 404, 429),
        },
    )
    def get(self, request: Request, pid: str, target: str) -> HttpResponse:
        dataset = _dataset(request, pid)
        archive = selectors.target_or_404(target)
        deposition = selectors.deposition_for(dataset=dataset, target=archive)
        if request.query_params.get("format") == "mmcif" or deposition is None:
            built = build_document(
                dataset, "mmcif" if request.query_params.get("format") == "mmcif" else archive
            )
            content, valid, name, media = (
                built.content,
                built.valid,
                built.filename,
                built.media_type,
            )
        else:
            content = deposition.document.encode("utf-8")
            valid = deposition.is_valid
            name = f"{dataset.pid}-{archive}" + (".json" if archive == "empiar" else ".xml")
            media = "application/json" if archive == "empiar" else "application/xml"
        response = HttpResponse(content, content_type=media)
        response["Content-Disposition"] = (
            f'attachment; filename="{name if valid else "INVALID-" + name}"'
        )
        response["X-OpenEM-Valid"] = "true" if valid else "false"
        return response


class DepositionManifestView(DepositionApiView):
    @extend_schema(
        operation_id="depositions_manifest",
        summary="The package manifest",
        description=docs.DEPOSITIONS_MANIFEST,
        parameters=[PID, TARGET],
        responses={
            (200, "application/json"): OpenApiResponse(OpenApiTypes.OBJECT),
            **error_responses(401, 403, 404, 429),
        },
    )
    def get(self, request: Request, pid: str, target: str) -> HttpResponseBase:
        deposition = _deposition(request, pid, target)
        key = (deposition.package or {}).get("manifest_key")
        if not key or deposition.state not in (
            DepositionState.PACKAGED,
            DepositionState.SUBMITTED,
            DepositionState.ACCESSIONED,
            DepositionState.REJECTED,
        ):
            raise NotFound("the deposition has not been packaged")
        store = storage.get_store()
        return FileResponse(
            store.iter_chunks(key),
            content_type="application/json",
            as_attachment=True,
            filename=f"{pid}-{target}-manifest.json",
        )
