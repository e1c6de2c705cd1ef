"""A small Python client for the OpenEM portal's REST API, and the resumable transfers behind
the ``openem`` command-line client.

    from openem_client import Client

    client = Client("https://openem.example.org", token="oem_...")
    for dataset in client.search("apoferritin", technique="spa"):
        print(dataset["pid"], dataset["title"])

Every request is retried with exponential backoff on network errors, 429 (honouring
``Retry-After``) and 502/503/504 (and 500 for reads); what still fails raises an
:class:`OpenEMError` subclass whose ``str()`` is the server's message, meant for a person:
:class:`AuthenticationError` (401), :class:`PermissionDenied` (403), :class:`NotFound`,
:class:`ValidationError` (400, with the server's ``details``), :class:`Conflict`,
:class:`NetworkError`, :class:`ServerError`.

Transfers (:func:`upload_directory`, :func:`download_dataset`) never hold more than one part per
worker in memory, send bytes straight to object storage through presigned URLs, and resume: an
upload asks the server which files and parts it already has, a download continues a ``.part``
file with an HTTP Range request. Progress is reported to a :class:`TransferReporter`.
"""

from __future__ import annotations

from ._version import API_MAJOR, __version__
from .api import USER_AGENT, Client, compatibility_problem
from .download import DownloadReport, download_dataset
from .errors import (
    AuthenticationError,
    AuthError,
    ChecksumMismatch,
    Conflict,
    IncompatibleClient,
    NetworkError,
    NotFound,
    OpenEMError,
    PermissionDenied,
    RetryPolicy,
    ServerError,
    Throttled,
    TransferError,
    TransferStopped,
    ValidationError,
    error_from_response,
)
from .files import LocalFile, file_sha256, scan_directory
from .progress import TransferReporter
from .upload import UploadReport, upload_directory, wait_for_ingest

__all__ = [
    "API_MAJOR",
    "USER_AGENT",
    "__version__",
    "compatibility_problem",
    "IncompatibleClient",
    "AuthError",
    "AuthenticationError",
    "ChecksumMismatch",
    "Client",
    "Conflict",
    "DownloadReport",
    "LocalFile",
    "NetworkError",
    "NotFound",
    "OpenEMError",
    "PermissionDenied",
    "RetryPolicy",
    "ServerError",
    "Throttled",
    "TransferError",
    "TransferReporter",
    "TransferStopped",
    "UploadReport",
    "ValidationError",
    "download_dataset",
    "error_from_response",
    "file_sha256",
    "scan_directory",
    "upload_directory",
    "wait_for_ingest",
]
