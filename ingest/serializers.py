"""Serializers of the upload API: input serializers parse requests, output serializers render.

No serializer writes: the views call ``ingest.uploads``. The files of a batch registration are
checked here only for their JSON shape (an object per file); what a path, size or checksum may
be is the service's business, and it reports every problem with the entry's index.
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.reverse import reverse

from openem.errors import ValidationFailed
from repository.models import DataFile, FileState

from .models import UploadSession, UploadSessionState
from .uploads import MAX_BATCH, MAX_PARTS, part_count_for, part_size_for

#: The largest size a file may announce (a signed 64-bit integer, the database column's range).
MAX_FILE_SIZE = 2**63 - 1
MAX_SIGNED_PARTS = 1000


def _url(serializer: serializers.Field[Any, Any, Any, Any], viewname: str, **kwargs: Any) -> str:
    request: Request | None = serializer.context.get("request")
    return reverse(viewname, kwargs=kwargs, request=request)


# --- Input --------------------------------------------------------------------------------------


class UploadSessionCreateInputSerializer(serializers.Serializer[Any]):
    dataset = serializers.CharField(
        max_length=20, help_text="PID of the dataset to upload into, e.g. `oem-7k2m9q4x1z`."
    )
    acquiring = serializers.BooleanField(
        required=False,
        default=False,
        help_text="The microscope is still acquiring (`openem watch`): the dataset's landing "
        "page shows it as acquiring, with the latest micrographs, until the session is closed.",
    )


class UploadSessionListQuerySerializer(serializers.Serializer[Any]):
    dataset = serializers.CharField(
        required=False, max_length=20, help_text="Only sessions of this dataset (PID)."
    )
    state = serializers.ChoiceField(
        choices=UploadSessionState.choices, required=False, help_text="Only sessions in this state."
    )


class FileEntrySerializer(serializers.Serializer[Any]):
    """One file to register (documentation of the shape; checked by the service)."""

    path = serializers.CharField(
        max_length=1024,
        help_text="Relative path inside the session folder, with `/` between folders.",
    )
    size = serializers.IntegerField(min_value=0, help_text="Size in bytes (0 is allowed).")
    sha256 = serializers.CharField(
        required=False,
        allow_blank=True,
        allow_null=True,
        max_length=64,
        help_text="SHA-256 of the content (64 hex digits); ingest refuses a file that differs.",
    )


@extend_schema_field(FileEntrySerializer(many=True))
class FileEntriesField(serializers.ListField):  # type: ignore[type-arg]
    """Any JSON items at parse time (checked in ``validate_files`` and the service); documented
    as FileEntry objects."""


class RegisterFilesInputSerializer(serializers.Serializer[Any]):
    files = FileEntriesField(
        child=serializers.JSONField(),
        min_length=1,
        max_length=MAX_BATCH,
        help_text=f"1 to {MAX_BATCH:,} files: `{{path, size, sha256?}}` each.",
    )

    def validate_files(self, files: list[Any]) -> list[dict[str, Any]]:
        """Objects with a size the database can hold; everything else is the service's to judge.

        Problems are reported in the service's shape (``[{index, path, message}]``), so that a
        client reads one format whatever went wrong.
        """
        problems = []
        for index, entry in enumerate(files):
            if not isinstance(entry, dict):
                problems.append(
                    {"index": index, "path": "", "message": "each file must be a JSON object"}
                )
                continue
            size = entry.get("size")
            if isinstance(size, int) and not isinstance(size, bool) and size > MAX_FILE_SIZE:
                path = str(entry.get("path", ""))[:200]
                problems.append({"index": index, "path": path, "message": "size is too large"})
        if problems:
            raise ValidationFailed(
                f"{len(problems)} of {len(files)} files cannot be registered", details=problems
            )
        return files


CRC32_HELP = (
    "The part's CRC32 as S3 writes it: the 4 bytes, big endian, in base64 (8 characters, e.g. "
    "`kuFt+g==`). S3 checks the part against it on arrival."
)


def crc32_field(**kwargs: Any) -> serializers.RegexField:
    """A part's CRC32 as S3 writes it: 4 bytes in base64 (8 characters, ending in ``==``)."""
    return serializers.RegexField(
        r"^[A-Za-z0-9+/]{6}==$",
        error_messages={
            "invalid": "checksum_crc32 must be the part's CRC32: 4 bytes in base64, like kuFt+g=="
        },
        **kwargs,
    )


class PartToSignSerializer(serializers.Serializer[Any]):
    part_number = serializers.IntegerField(min_value=1, max_value=MAX_PARTS)
    checksum_crc32 = crc32_field(help_text=CRC32_HELP)


def _unique_parts(parts: list[dict[str, Any]]) -> list[dict[str, Any]]:
    numbers = [p["part_number"] for p in parts]
    repeated = sorted({n for n in numbers if numbers.count(n) > 1})
    if repeated:
        raise serializers.ValidationError(
            f"part {', '.join(map(str, repeated))} is listed more than once"
        )
    return parts


DECLARED_SHA256_HELP = (
    "SHA-256 of the whole file (64 hex digits), for a file registered without one: a client "
    "may hash while it sends. Must equal the one registered, if any; ingest refuses a file "
    "whose bytes differ."
)


class MultipartStartInputSerializer(serializers.Serializer[Any]):
    parts: serializers.ListSerializer[Any] = serializers.ListSerializer(
        child=PartToSignSerializer(),
        required=False,
        max_length=MAX_SIGNED_PARTS,
        help_text="Also presign these parts (saves a request per file; at most "
        f"{MAX_SIGNED_PARTS}), each with its CRC32.",
    )

    def validate_parts(self, parts: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return _unique_parts(parts)


class SignPartsInputSerializer(serializers.Serializer[Any]):
    upload_id = serializers.CharField(max_length=1024, help_text="From the multipart start.")
    parts: serializers.ListSerializer[Any] = serializers.ListSerializer(
        child=PartToSignSerializer(),
        min_length=1,
        max_length=MAX_SIGNED_PARTS,
        help_text=f"The parts to sign (1..{MAX_PARTS}), each with its CRC32; at most "
        f"{MAX_SIGNED_PARTS} per request.",
    )

    def validate_parts(self, parts: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return _unique_parts(parts)


class UploadIdQuerySerializer(serializers.Serializer[Any]):
    upload_id = serializers.CharField(max_length=1024, help_text="From the multipart start.")


class CompletedPartSerializer(serializers.Serializer[Any]):
    part_number = serializers.IntegerField(min_value=1, max_value=MAX_PARTS)
    etag = serializers.CharField(max_length=200, help_text="The ETag S3 returned for the part.")
    checksum_crc32 = crc32_field(
        required=False,
        help_text="The CRC32 the part was signed with; left out, the server takes the one S3 "
        "lists for the part.",
    )


class CompleteMultipartInputSerializer(serializers.Serializer[Any]):
    upload_id = serializers.CharField(max_length=1024, help_text="From the multipart start.")
    parts = CompletedPartSerializer(
        many=True,
        required=False,
        help_text="The parts with their ETags; leave out to use the parts S3 has received.",
    )
    sha256 = serializers.CharField(
        required=False,
        allow_blank=True,
        max_length=64,
        help_text=DECLARED_SHA256_HELP,
    )


class ChunkQuerySerializer(serializers.Serializer[Any]):
    offset = serializers.IntegerField(
        required=False,
        min_value=0,
        help_text="Where the chunk starts (or send `Content-Range: bytes a-b/size`).",
    )
    sha256 = serializers.CharField(
        required=False,
        allow_blank=True,
        max_length=64,
        help_text=DECLARED_SHA256_HELP + " Counts with the chunk that completes the file.",
    )


# --- Output -------------------------------------------------------------------------------------


class UploadSessionSerializer(serializers.ModelSerializer[UploadSession]):
    url = serializers.SerializerMethodField()
    dataset = serializers.CharField(source="dataset.pid", help_text="The dataset's PID.")
    dataset_url = serializers.SerializerMethodField()
    created_by = serializers.CharField(source="created_by.get_username")
    storage = serializers.SerializerMethodField(
        help_text="`s3`: upload parts to presigned URLs (multipart endpoints); `local`: send "
        "chunks to the content endpoint."
    )
    part_size = serializers.SerializerMethodField(
        help_text="Bytes per part or chunk for files up to 10,000 parts; each file's own "
        "part size comes with its registration."
    )
    files_url = serializers.SerializerMethodField()
    status_url = serializers.SerializerMethodField()
    complete_url = serializers.SerializerMethodField()

    class Meta:
        model = UploadSession
        fields = [
            "id",
            "url",
            "dataset",
            "dataset_url",
            "state",
            "created_by",
            "created",
            "completed_at",
            "acquiring",
            "storage",
            "part_size",
            "files_url",
            "status_url",
            "complete_url",
        ]
        read_only_fields = fields

    @extend_schema_field(OpenApiTypes.URI)
    def get_url(self, session: UploadSession) -> str:
        return _url(self, "api:upload-detail", session_id=session.pk)

    @extend_schema_field(OpenApiTypes.URI)
    def get_dataset_url(self, session: UploadSession) -> str:
        return _url(self, "api:dataset-detail", pid=session.dataset.pid)

    @extend_schema_field(serializers.ChoiceField(choices=["s3", "local"]))
    def get_storage(self, session: UploadSession) -> str:
        return str(self.context["storage"])

    def get_part_size(self, session: UploadSession) -> int:
        return part_size_for(0)

    @extend_schema_field(OpenApiTypes.URI)
    def get_files_url(self, session: UploadSession) -> str:
        return _url(self, "api:upload-files", session_id=session.pk)

    @extend_schema_field(OpenApiTypes.URI)
    def get_status_url(self, session: UploadSession) -> str:
        return _url(self, "api:upload-status", session_id=session.pk)

    @extend_schema_field(OpenApiTypes.URI)
    def get_complete_url(self, session: UploadSession) -> str:
        return _url(self, "api:upload-complete", session_id=session.pk)


class UploadInstructionsSerializer(serializers.Serializer[Any]):
    method = serializers.ChoiceField(
        choices=["multipart", "chunks"],
        help_text="`multipart`: start at `url`, then PUT parts to presigned URLs; `chunks`: "
        "PUT the bytes to `url` in chunks (local storage).",
    )
    url = serializers.URLField(help_text="The multipart or content endpoint of this file.")
    part_size = serializers.IntegerField(help_text="Bytes per part (the last may be smaller).")
    part_count = serializers.IntegerField()


class UploadFileSerializer(serializers.ModelSerializer[DataFile]):
    """A file of an upload session, with how to send its bytes while it is ``registered``."""

    sha256 = serializers.CharField(
        source="expected_sha256", help_text="As declared at registration ('' if none)."
    )
    upload = serializers.SerializerMethodField(
        help_text="How to send the bytes; null once the file is stored."
    )

    class Meta:
        model = DataFile
        fields = ["id", "path", "size", "sha256", "state", "checksum_sha256", "error", "upload"]
        read_only_fields = fields

    @extend_schema_field(UploadInstructionsSerializer(allow_null=True))
    def get_upload(self, datafile: DataFile) -> dict[str, Any] | None:
        if datafile.state != FileState.REGISTERED:
            return None
        multipart = self.context["storage"] == "s3"
        kwargs = {"session_id": datafile.upload_session_id, "file_id": datafile.pk}
        return {
            "method": "multipart" if multipart else "chunks",
            "url": _url(
                self, "api:upload-multipart" if multipart else "api:upload-content", **kwargs
            ),
            "part_size": part_size_for(datafile.size),
            "part_count": part_count_for(datafile.size),
        }


class RegisteredFilesSerializer(serializers.Serializer[Any]):
    files = UploadFileSerializer(many=True, help_text="In the order they were sent.")


class SignedPartSerializer(serializers.Serializer[Any]):
    part_number = serializers.IntegerField()
    url = serializers.URLField(help_text="PUT the part's bytes here, with `headers`.")
    headers = serializers.DictField(
        child=serializers.CharField(),
        help_text="Send these headers with the PUT (the part's CRC32, which the URL signs).",
    )


class MultipartStartSerializer(serializers.Serializer[Any]):
    upload_id = serializers.CharField(help_text="Send it with every later multipart request.")
    part_size = serializers.IntegerField(help_text="Bytes per part; the last may be smaller.")
    part_count = serializers.IntegerField()
    parts_url = serializers.URLField(help_text="POST to sign part URLs, GET to list parts.")
    complete_url = serializers.URLField()
    expires_in = serializers.IntegerField(help_text="Seconds the signed URLs stay valid.")
    parts = SignedPartSerializer(
        many=True, help_text="Presigned URLs of the `parts` asked for with the start (if any)."
    )


class SignedPartsSerializer(serializers.Serializer[Any]):
    upload_id = serializers.CharField()
    expires_in = serializers.IntegerField(help_text="Seconds the URLs stay valid.")
    parts = SignedPartSerializer(many=True)


class UploadedPartSerializer(serializers.Serializer[Any]):
    part_number = serializers.IntegerField()
    etag = serializers.CharField()
    size = serializers.IntegerField()
    checksum_crc32 = serializers.CharField(
        allow_blank=True, help_text="The part's CRC32 where S3 lists it (empty if not)."
    )


class UploadedPartsSerializer(serializers.Serializer[Any]):
    upload_id = serializers.CharField()
    part_size = serializers.IntegerField()
    part_count = serializers.IntegerField()
    parts = UploadedPartSerializer(many=True, help_text="The parts S3 holds, by part number.")


class ChunkOffsetSerializer(serializers.Serializer[Any]):
    offset = serializers.IntegerField(help_text="Bytes received: where the next chunk starts.")
    size = serializers.IntegerField(help_text="The registered size.")
    state = serializers.ChoiceField(choices=FileState.choices)
    complete = serializers.BooleanField(help_text="Whether every byte has arrived.")


class SessionCompletedSerializer(serializers.Serializer[Any]):
    session = UploadSessionSerializer()
    files = serializers.IntegerField(help_text="Files registered in the session.")
    missing_files = serializers.IntegerField(
        help_text="Files whose bytes never arrived (still `registered`)."
    )


class FailedFileSerializer(serializers.ModelSerializer[DataFile]):
    class Meta:
        model = DataFile
        fields = ["id", "path", "size", "error"]
        read_only_fields = fields


class IngestStatusSerializer(serializers.Serializer[Any]):
    session = serializers.IntegerField()
    dataset = serializers.CharField(help_text="The dataset's PID.")
    session_state = serializers.ChoiceField(
        choices=UploadSessionState.choices, help_text="open, completed or aborted."
    )
    dataset_status = serializers.CharField(help_text="draft, ingesting, ready or published.")
    files_total = serializers.IntegerField()
    files_done = serializers.IntegerField(help_text="Files ingested (ready).")
    files_failed = serializers.IntegerField()
    files_pending = serializers.IntegerField(help_text="Files waiting for bytes or ingest.")
    bytes_total = serializers.IntegerField()
    bytes_done = serializers.IntegerField()
    bytes_failed = serializers.IntegerField()
    bytes_pending = serializers.IntegerField()
    files_by_state = serializers.DictField(
        child=serializers.IntegerField(),
        help_text="Files per state: registered, stored, processing, ready, failed.",
    )
    settled = serializers.BooleanField(help_text="Every file is ready or failed.")
    fraction_settled = serializers.FloatField(help_text="Share of bytes settled, 0..1.")
    failed_files = FailedFileSerializer(many=True, help_text="The first 100, with the reasons.")
