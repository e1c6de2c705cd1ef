"""The objects an upload request names, read with the upload rule (staff and curators of the
dataset's facility, admins); candidates for ``ingest.selectors`` once a second surface needs them.
"""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from rest_framework import exceptions, permissions
from rest_framework.request import Request
from rest_framework.reverse import reverse

import storage
from ingest.models import UploadSession
from openem.api.authentication import TokenScopePermission
from repository import access
from repository.models import DataFile

AUTHENTICATED = [TokenScopePermission, permissions.IsAuthenticated]


def sessions_for_uploader(user: Any) -> QuerySet[UploadSession]:
    return UploadSession.objects.filter(
        dataset__facility__in=access.facilities_for_upload(user)
    ).select_related("dataset", "dataset__facility", "created_by")


def get_session(request: Request, session_id: int) -> UploadSession:
    session = sessions_for_uploader(request.user).filter(pk=session_id).first()
    if session is None:
        raise exceptions.NotFound(f"no upload session {session_id} exists or is yours to use")
    return session


def get_session_file(request: Request, session_id: int, file_id: int) -> DataFile:
    session = get_session(request, session_id)
    datafile = (
        DataFile.objects.filter(upload_session=session, pk=file_id)
        .select_related("dataset", "dataset__facility", "upload_session")
        .first()
    )
    if datafile is None:
        raise exceptions.NotFound(f"upload session {session_id} has no file with id {file_id}")
    return datafile


def storage_kind() -> str:
    return storage.get_store().name


def serializer_context(request: Request) -> dict[str, Any]:
    return {"request": request, "storage": storage_kind()}


def file_url(request: Request, name: str, datafile: DataFile) -> str:
    kwargs = {"session_id": datafile.upload_session_id, "file_id": datafile.pk}
    return reverse(name, kwargs=kwargs, request=request)
