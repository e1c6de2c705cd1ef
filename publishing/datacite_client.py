"""A client for the DataCite REST API's ``/dois`` endpoints (JSON:API, HTTP basic auth with the
repository id and password).

Only what DOI registration needs: create (POST ``/dois``), update (PUT ``/dois/<doi>``, with an
``event``: ``publish`` makes a DOI findable, ``register`` registered, ``hide`` takes a findable
one back to registered) and read (GET ``/dois/<doi>``). Every request has a timeout.

Errors are of two kinds, so that callers retry only what a retry can fix:
:class:`DataCiteUnavailable` (connection refused, timeout, HTTP 5xx or 429) and
:class:`DataCiteRefused` (any other 4xx: wrong credentials, metadata DataCite will not take).
Their ``str()`` is shown to curators, never the password.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import requests
from django.conf import settings

logger = logging.getLogger(__name__)

JSON_API = "application/vnd.api+json"
EVENTS = {"draft": None, "findable": "publish", "registered": "register"}


class DataCiteError(Exception):
    """A DOI request that did not succeed; ``str()`` says why, for a person."""

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class DataCiteUnavailable(DataCiteError):
    """DataCite could not be reached or had a passing fault: retry later."""


class DataCiteRefused(DataCiteError):
    """DataCite refused the request (credentials, prefix, metadata): a person must act."""


@dataclass(frozen=True)
class DoiRecord:
    doi: str
    state: str
    attributes: dict[str, Any]


class DataCiteClient:
    def __init__(
        self,
        *,
        url: str,
        repository_id: str,
        password: str,
        prefix: str,
        timeout: float = 20.0,
        session: requests.Session | None = None,
    ) -> None:
        self.url = url.rstrip("/")
        self.prefix = prefix
        self.timeout = timeout
        self.session = session or requests.Session()
        self.session.auth = (repository_id, password)
        self.session.headers.update(
            {"Accept": JSON_API, "User-Agent": "openem-portal (DataCite REST API client)"}
        )

    @classmethod
    def from_settings(cls) -> DataCiteClient:
        return cls(
            url=settings.OPENEM_DATACITE_URL,
            repository_id=settings.OPENEM_DATACITE_REPOSITORY_ID,
            password=settings.OPENEM_DATACITE_PASSWORD,
            prefix=settings.OPENEM_DATACITE_PREFIX,
            timeout=float(settings.OPENEM_DATACITE_TIMEOUT),
        )

    def close(self) -> None:
        self.session.close()

    # --- the endpoints ---------------------------------------------------------------------

    def get(self, doi: str) -> DoiRecord | None:
        """The DOI as DataCite holds it, or None when it does not exist there."""
        response = self._send("GET", f"/dois/{quote(doi, safe='/')}", allow_404=True)
        return None if response is None else _record(response)

    def create(self, doi: str, attributes: dict[str, Any], *, target: str) -> DoiRecord:
        """POST ``/dois``: a new DOI, as a draft or straight to ``target``'s event."""
        body = _document(doi, attributes, EVENTS[target])
        response = self._send("POST", "/dois", body=body)
        assert response is not None
        return _record(response)

    def update(self, doi: str, attributes: dict[str, Any], *, event: str | None) -> DoiRecord:
        """PUT ``/dois/<doi>``: new metadata (and a state change when ``event`` is set)."""
        body = _document(doi, attributes, event)
        response = self._send("PUT", f"/dois/{quote(doi, safe='/')}", body=body)
        assert response is not None
        return _record(response)

    # --- plumbing ----------------------------------------------------------------------------

    def _send(
        self, method: str, path: str, *, body: Any = None, allow_404: bool = False
    ) -> dict[str, Any] | None:
        headers = {"Content-Type": JSON_API} if body is not None else {}
        data = json.dumps(body, ensure_ascii=False).encode() if body is not None else None
        try:
            response = self.session.request(
                method, self.url + path, data=data, headers=headers, timeout=self.timeout
            )
        except requests.Timeout as exc:
            raise DataCiteUnavailable(
                f"DataCite did not answer within {self.timeout:g} s ({type(exc).__name__})"
            ) from exc
        except requests.RequestException as exc:
            raise DataCiteUnavailable(
                f"DataCite could not be reached at {self.url} ({type(exc).__name__})"
            ) from exc
        status = response.status_code
        logger.info("DataCite %s %s -> %s", method, path, status)
        if allow_404 and status == 404:
            return None
        if status in (401, 403):
            raise DataCiteRefused(
                f"DataCite refused the credentials (HTTP {status}): check "
                "OPENEM_DATACITE_REPOSITORY_ID and OPENEM_DATACITE_PASSWORD",
                status=status,
            )
        if status == 429 or status >= 500:
            raise DataCiteUnavailable(
                f"DataCite had a passing fault (HTTP {status}): {_errors(response)}", status=status
            )
        if status >= 400:
            raise DataCiteRefused(
                f"DataCite refused the request (HTTP {status}): {_errors(response)}",
                status=status,
            )
        try:
            parsed = response.json()
        except ValueError:
            raise DataCiteUnavailable(
                f"DataCite answered HTTP {status} with a body that is not JSON", status=status
            ) from None
        if not isinstance(parsed, dict):
            raise DataCiteUnavailable("DataCite answered with an unexpected document")
        return parsed


def _document(doi: str, attributes: dict[str, Any], event: str | None) -> dict[str, Any]:
    sent = {**attributes, "doi": doi}
    if event:
        sent["event"] = event
    return {"data": {"id": doi, "type": "dois", "attributes": sent}}


def _record(document: dict[str, Any]) -> DoiRecord:
    data = document.get("data") or {}
    attributes = data.get("attributes") or {}
    return DoiRecord(
        doi=str(attributes.get("doi") or data.get("id") or ""),
        state=str(attributes.get("state") or ""),
        attributes=attributes,
    )


def _errors(response: requests.Response) -> str:
    """DataCite's JSON:API ``errors`` as one line (``source: title``), or the body's start."""
    try:
        parsed = response.json()
    except ValueError:
        return response.text[:300].strip() or response.reason or ""
    errors = parsed.get("errors") if isinstance(parsed, dict) else None
    if isinstance(errors, list) and errors:
        return "; ".join(
            ": ".join(
                str(e.get(k)) for k in ("source", "title") if isinstance(e, dict) and e.get(k)
            )
            or str(e)
            for e in errors[:10]
        )
    return json.dumps(parsed)[:300]
