"""Local storage: a file's bytes sent in chunks to its content endpoint, and the offset reached."""

from __future__ import annotations

import re
from io import BytesIO
from typing import Any

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import parsers
from rest_framework.request import Request
from rest_framework.response import Response

from ingest import serializers as s
from ingest import uploads
from openem.api.exceptions import error_responses
from openem.api.throttling import UPLOAD_THROTTLES
from openem.api.views import ApiView
from openem.errors import ValidationFailed
from repository.models import DataFile, FileState

from . import docs
from .docs import CHUNK_REQUEST, FILE_ID, SESSION_ID
from .lookups import AUTHENTICATED, get_session_file

_CONTENT_RANGE_RE = re.compile(r"^bytes (\d+)-(\d+)/(\d+|\*)$")


#: The parameters of a chunk, sent by PUT or POST.
CHUNK_PARAMETERS: list[Any] = [
    SESSION_ID,
    FILE_ID,
    s.ChunkQuerySerializer,
    OpenApiParameter(
        "Content-Range",
        str,
        OpenApiParameter.HEADER,
        description="`bytes <first>-<last>/<size>`, e.g. `bytes 0-67108863/134217728`.",
    ),
]


class RawBytesParser(parsers.BaseParser):
    """The body is the chunk itself; the view streams it to storage (never parsed in memory)."""

    media_type = "*/*"

    def parse(self, stream: Any, media_type: str | None = None, parser_context: Any = None) -> Any:
        return stream


def _chunk_position(request: Request, datafile: DataFile) -> tuple[int, int, str]:
    """(offset, length) of the chunk in the body, from Content-Range or ?offset=, and the
    ?sha256= declared with it."""
    params = s.ChunkQuerySerializer(data=request.query_params)
    params.is_valid(raise_exception=True)
    sha256 = params.validated_data.get("sha256") or ""
    try:
        length = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        raise ValidationFailed("the Content-Length header is not a number") from None
    content_range = request.headers.get("Content-Range")
    if content_range:
        match = _CONTENT_RANGE_RE.match(content_range.strip())
        if match is None:
            raise ValidationFailed(
                f"Content-Range must look like 'bytes 0-1048575/{datafile.size}', "
                f"not {content_range!r}"
            )
        start, end, total = match.groups()
        if int(end) - int(start) + 1 != length:
            raise ValidationFailed(
                f"Content-Range announces {int(end) - int(start) + 1} bytes, "
                f"Content-Length {length}"
            )
        if total != "*" and int(total) != datafile.size:
            raise ValidationFailed(
                f"{datafile.path} was registered with {datafile.size} bytes, "
                f"Content-Range says {total}"
            )
        return int(start), length, sha256
    if "offset" not in params.validated_data:
        raise ValidationFailed(
            "say where the chunk goes: a Content-Range header or an ?offset= parameter"
        )
    return int(params.validated_data["offset"]), length, sha256


def _offset_response(datafile: DataFile, offset: int) -> Response:
    complete = datafile.state != FileState.REGISTERED
    body = {"offset": offset, "size": datafile.size, "state": datafile.state, "complete": complete}
    return Response(s.ChunkOffsetSerializer(body).data, headers={"Upload-Offset": str(offset)})


class ContentView(ApiView[DataFile]):
    permission_classes = AUTHENTICATED
    throttle_classes = UPLOAD_THROTTLES  # many requests per session: a budget of their own
    parser_classes = [RawBytesParser]
    serializer_class = s.ChunkOffsetSerializer

    def get_object(self) -> DataFile:
        # DRF's OPTIONS asks for the object a PUT would change (to describe the PUT only to
        # those who may send it); the file comes from the URL under the upload rules.
        return get_session_file(self.request, self.kwargs["session_id"], self.kwargs["file_id"])

    @extend_schema(
        operation_id="uploads_content_offset",
        summary="How many bytes of a file have arrived",
        description=docs.UPLOADS_CONTENT_OFFSET,
        parameters=[SESSION_ID, FILE_ID],
        responses={200: s.ChunkOffsetSerializer, **error_responses(401, 403, 404, 409, 429)},
        examples=docs.UPLOADS_CONTENT_OFFSET_EXAMPLES,
    )
    def get(self, request: Request, session_id: int, file_id: int) -> Response:
        datafile = get_session_file(request, session_id, file_id)
        if datafile.state != FileState.REGISTERED:
            return _offset_response(datafile, datafile.size)
        offset = uploads.upload_local_offset(actor=request.user, datafile=datafile)
        return _offset_response(datafile, offset)

    def _chunk(self, request: Request, session_id: int, file_id: int) -> Response:
        datafile = get_session_file(request, session_id, file_id)
        offset, length, sha256 = _chunk_position(request, datafile)
        stream = request.stream
        if stream is None:  # an empty body (a zero-byte file)
            stream = BytesIO()
        new_offset = uploads.upload_local_chunk(
            actor=request.user,
            datafile=datafile,
            offset=offset,
            stream=stream,
            length=length,
            sha256=sha256,
        )
        if new_offset != offset + length:
            raise ValidationFailed(
                f"{datafile.path}: the chunk arrived incomplete; send it again from offset "
                f"{new_offset}",
                details={"offset": new_offset},
            )
        datafile.refresh_from_db(fields=["state"])
        return _offset_response(datafile, new_offset)

    @extend_schema(
        operation_id="uploads_content_put",
        summary="Send a chunk of a file",
        description=docs.UPLOADS_CONTENT_PUT,
        parameters=CHUNK_PARAMETERS,
        request=CHUNK_REQUEST,
        responses={200: s.ChunkOffsetSerializer, **error_responses(400, 401, 403, 404, 409, 429)},
        examples=docs.UPLOADS_CONTENT_PUT_EXAMPLES,
    )
    def put(self, request: Request, session_id: int, file_id: int) -> Response:
        return self._chunk(request, session_id, file_id)

    @extend_schema(
        operation_id="uploads_content_post",
        summary="Send a chunk of a file (POST)",
        description=docs.UPLOADS_CONTENT_POST,
        parameters=CHUNK_PARAMETERS,
        request=CHUNK_REQUEST,
        responses={200: s.ChunkOffsetSerializer, **error_responses(400, 401, 403, 404, 409, 429)},
        examples=docs.UPLOADS_CONTENT_POST_EXAMPLES,
    )
    def post(self, request: Request, session_id: int, file_id: int) -> Response:
        return self._chunk(request, session_id, file_id)
