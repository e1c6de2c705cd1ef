"""A client for EMPIAR's deposition API (the endpoints the official ``empiar-depositor`` uses).

``deposit_entry`` creates an entry and returns its id and the upload directory the data go to
(by Aspera or Globus); ``redeposit_entry`` replaces an entry's metadata; ``image_upload`` sends
the entry thumbnail; ``grant_rights`` shares the entry with other EMPIAR users; ``submit_entry``
hands it to the annotators and returns the accession code. Every request carries
``Authorization: Token <token>``.

A client is a *dry run* unless built with ``dry_run=False``: it then describes the requests it
would send (without the token) and sends nothing. Services decide when to go live, and only on
an explicit action by a curator.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from typing import Any

import requests

logger = logging.getLogger(__name__)

DEFAULT_TIMEOUT = (10.0, 120.0)
#: Rights EMPIAR grants: 1 owner, 2 view, 3 view and edit, 4 view, edit and submit.
RIGHTS = {1: "owner", 2: "view only", 3: "view and edit", 4: "view, edit and submit"}


class EmpiarApiError(Exception):
    """EMPIAR refused a request or could not be reached; ``str()`` is shown to the curator."""


@dataclass(frozen=True)
class PlannedRequest:
    """A request as a dry run reports it: what would be sent, never the token."""

    method: str
    url: str
    json_body: Any = None
    form: dict[str, Any] | None = None
    file_name: str = ""
    file_size: int = 0

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"method": self.method, "url": self.url}
        if self.json_body is not None:
            data["json"] = self.json_body
        if self.form is not None:
            data["form"] = self.form
        if self.file_name:
            data["file"] = {"name": self.file_name, "size": self.file_size}
        return data


@dataclass
class EmpiarResult:
    """What an endpoint answered (``dry_run``: what would have been sent)."""

    dry_run: bool
    request: PlannedRequest
    data: dict[str, Any] = field(default_factory=dict)
    status: int | None = None

    @property
    def entry_id(self) -> int | None:
        value = self.data.get("entry_id")
        return value if isinstance(value, int) and not isinstance(value, bool) else None

    @property
    def directory(self) -> str:
        return str(self.data.get("directory") or "")

    @property
    def accession(self) -> str:
        return str(self.data.get("empiar_id") or "")

    def to_dict(self) -> dict[str, Any]:
        return {
            "dry_run": self.dry_run,
            "request": self.request.to_dict(),
            "status": self.status,
            "response": self.data,
        }


class EmpiarClient:
    def __init__(
        self,
        *,
        base_url: str,
        token: str,
        dry_run: bool = True,
        timeout: tuple[float, float] = DEFAULT_TIMEOUT,
        session: requests.Session | None = None,
    ):
        self.base_url = base_url.rstrip("/") + "/"
        self.token = token
        self.dry_run = dry_run
        self.timeout = timeout
        self.session = session or requests.Session()
        if not dry_run and not token:
            raise EmpiarApiError(
                "no EMPIAR API token is configured (OPENEM_EMPIAR_API_TOKEN): create one at "
                "https://www.ebi.ac.uk/empiar/deposition/api_token and set it"
            )

    def url(self, endpoint: str) -> str:
        return f"{self.base_url}{endpoint}/"

    # -- endpoints ----------------------------------------------------------------------------

    def deposit_entry(self, document: dict[str, Any]) -> EmpiarResult:
        """Create an entry; the answer names its id and upload directory."""
        result = self._send("POST", "deposit_entry", json_body=document)
        return self._expect_entry(result, "creating the EMPIAR entry")

    def redeposit_entry(self, entry_id: int, document: dict[str, Any]) -> EmpiarResult:
        """Replace the metadata of an entry not yet submitted."""
        result = self._send("PUT", "redeposit_entry", json_body={**document, "entry_id": entry_id})
        return self._expect_entry(result, "updating the EMPIAR entry")

    def image_upload(self, entry_id: int, png: bytes, file_name: str) -> EmpiarResult:
        """The entry thumbnail (at least 400 x 400 pixels; PNG preferred)."""
        result = self._send(
            "POST",
            "image_upload",
            form={"entry_id": str(entry_id)},
            file=(file_name, png, "image/png"),
        )
        if not result.dry_run and result.data.get("thumbnail_upload") is not True:
            raise EmpiarApiError(f"EMPIAR did not accept the thumbnail: {_detail(result)}")
        return result

    def grant_rights(
        self,
        entry_id: int,
        *,
        usernames: dict[str, int] | None = None,
        emails: dict[str, int] | None = None,
        orcids: dict[str, int] | None = None,
    ) -> list[EmpiarResult]:
        """Share the entry: ``{"user@example.org": 3}`` gives view-and-edit rights."""
        results = []
        for key, people in (("u", usernames), ("e", emails), ("o", orcids)):
            if not people:
                continue
            for who, right in people.items():
                if right not in RIGHTS:
                    raise EmpiarApiError(f"unknown EMPIAR right {right} for {who}")
            result = self._send(
                "POST", "grant_rights", json_body={key: people, "entry_id": entry_id}
            )
            if not result.dry_run:
                refused = [who for who in people if result.data.get(who) is not True]
                if refused or (result.status or 0) >= 400:
                    raise EmpiarApiError(
                        f"EMPIAR did not grant rights to {', '.join(refused) or 'anyone'}: "
                        f"{_detail(result)}"
                    )
            results.append(result)
        return results

    def submit_entry(self, entry_id: int) -> EmpiarResult:
        """Submit the entry to the annotators; the answer carries the accession code."""
        result = self._send("POST", "submit_entry", json_body={"entry_id": str(entry_id)})
        if not result.dry_run and not (
            result.data.get("submission") is True and result.data.get("empiar_id")
        ):
            raise EmpiarApiError(f"EMPIAR did not accept the submission: {_detail(result)}")
        return result

    # -- transport ----------------------------------------------------------------------------

    def _expect_entry(self, result: EmpiarResult, what: str) -> EmpiarResult:
        if result.dry_run:
            return result
        if result.data.get("deposition") is not True or not result.directory:
            raise EmpiarApiError(f"{what} failed: {_detail(result)}")
        if result.entry_id is None:
            raise EmpiarApiError(f"{what}: EMPIAR returned an entry id that is not a number")
        return result

    def _send(
        self,
        method: str,
        endpoint: str,
        *,
        json_body: Any = None,
        form: dict[str, Any] | None = None,
        file: tuple[str, bytes, str] | None = None,
    ) -> EmpiarResult:
        planned = PlannedRequest(
            method=method,
            url=self.url(endpoint),
            json_body=json_body,
            form=form,
            file_name=file[0] if file else "",
            file_size=len(file[1]) if file else 0,
        )
        if self.dry_run:
            return EmpiarResult(dry_run=True, request=planned)
        headers = {"Authorization": f"Token {self.token}", "Accept": "application/json"}
        kwargs: dict[str, Any] = {"headers": headers, "timeout": self.timeout}
        if json_body is not None:
            headers["Content-Type"] = "application/json"
            kwargs["data"] = json.dumps(json_body, ensure_ascii=False).encode("utf-8")
        if form is not None:
            kwargs["data"] = form
        if file is not None:
            kwargs["files"] = {"file": file}
        try:
            response = self.session.request(method, planned.url, **kwargs)
        except requests.RequestException as exc:
            raise EmpiarApiError(f"EMPIAR could not be reached ({type(exc).__name__})") from exc
        data: dict[str, Any] = {}
        if response.headers.get("content-type", "").split(";")[0].strip() == "application/json":
            try:
                parsed = response.json()
            except ValueError:
                parsed = None
            if isinstance(parsed, dict):
                data = parsed
            elif parsed is not None:
                data = {"items": parsed}
        result = EmpiarResult(
            dry_run=False, request=planned, data=data, status=response.status_code
        )
        if response.status_code in (401, 403):
            raise EmpiarApiError(f"EMPIAR refused the token: {_detail(result)}")
        if response.status_code >= 500:
            raise EmpiarApiError(f"EMPIAR had an error (HTTP {response.status_code})")
        logger.info("EMPIAR %s %s -> %s", method, endpoint, response.status_code)
        return result


def _detail(result: EmpiarResult) -> str:
    detail = result.data.get("detail") or result.data.get("error") or result.data
    return f"{detail} (HTTP {result.status})" if result.status else str(detail)
