"""A fake DataCite REST API for the tests, run as its own process on loopback.

    python tests/support/fake_datacite.py --user REPO.ID --password SECRET --prefix 10.80000

prints ``listening on <port>`` once it serves on 127.0.0.1 (``--port 0``: a free port).

It implements what the portal uses of ``/dois`` the way DataCite documents it: POST ``/dois``
(create; ``data.type`` must be ``dois``; the DOI given or made from ``prefix``), PUT
``/dois/<doi>`` (update), GET ``/dois/<doi>``; HTTP basic auth with the repository id and
password (401 otherwise); ``Content-Type: application/vnd.api+json``; the events ``publish``
(draft or registered -> findable), ``register`` (draft -> registered) and ``hide`` (findable ->
registered), any other transition 422; a findable or registered DOI needs the mandatory
properties (creators, titles, publisher, publicationYear, types.resourceTypeGeneral, url); a
DOI outside the prefix is refused; creating a DOI that exists says "This DOI has already been
taken" (422).

For the tests, without auth:
- ``GET /_calls``: every request to ``/dois`` (method, path, status, whether auth was right,
  the event, the DOI and the JSON body), in order;
- ``GET /_dois``: every DOI held, with its state and attributes;
- ``POST /_faults`` ``{"mode": "error"|"stall"|"none", "status": 503, "seconds": 5,
  "count": 2}``: the next ``count`` requests to ``/dois`` (-1: all) answer ``status``, or
  stall ``seconds`` before being handled (the change is still made: an answer lost on the way);
- ``POST /_reset``: forget DOIs, calls and faults.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import json
import re
import secrets
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import unquote, urlsplit

JSON_API = "application/vnd.api+json"
EVENTS = {"publish", "register", "hide"}
TRANSITIONS = {
    ("draft", "publish"): "findable",
    ("registered", "publish"): "findable",
    ("findable", "publish"): "findable",
    ("draft", "register"): "registered",
    ("registered", "register"): "registered",
    ("findable", "hide"): "registered",
}


class State:
    def __init__(self, user: str, password: str, prefix: str) -> None:
        self.user = user
        self.password = password
        self.prefix = prefix
        self.lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        self.dois: dict[str, dict[str, Any]] = {}
        self.calls: list[dict[str, Any]] = []
        self.fault: dict[str, Any] = {"mode": "none", "count": 0}

    def take_fault(self) -> dict[str, Any] | None:
        with self.lock:
            fault = self.fault
            if fault.get("mode", "none") == "none" or fault.get("count", 0) == 0:
                return None
            if fault["count"] > 0:
                fault["count"] -= 1
            return dict(fault)


def _missing_for_findable(attributes: dict[str, Any]) -> list[str]:
    missing = []
    creators = attributes.get("creators")
    if not (isinstance(creators, list) and creators and all(c.get("name") for c in creators)):
        missing.append("creators")
    titles = attributes.get("titles")
    if not (isinstance(titles, list) and titles and all(t.get("title") for t in titles)):
        missing.append("titles")
    publisher = attributes.get("publisher")
    if isinstance(publisher, dict):
        publisher = publisher.get("name")
    if not publisher:
        missing.append("publisher")
    if not re.fullmatch(r"\d{4}", str(attributes.get("publicationYear") or "")):
        missing.append("publicationYear")
    if not (attributes.get("types") or {}).get("resourceTypeGeneral"):
        missing.append("types.resourceTypeGeneral")
    if not re.match(r"^https?://", str(attributes.get("url") or "")):
        missing.append("url")
    return missing


def _shape_problems(attributes: dict[str, Any]) -> list[dict[str, str]]:
    problems = []
    for index, related in enumerate(attributes.get("relatedIdentifiers") or []):
        for key in ("relatedIdentifier", "relatedIdentifierType", "relationType"):
            if not isinstance(related, dict) or not related.get(key):
                problems.append(
                    {"source": f"relatedIdentifiers[{index}].{key}", "title": "can't be blank"}
                )
    return problems


class Handler(BaseHTTPRequestHandler):
    server_version = "FakeDataCite/1.0"
    state: State  # set on the class by main()

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base's name
        sys.stderr.write("fake-datacite: " + (format % args) + "\n")

    # --- plumbing --------------------------------------------------------------------------

    def _send(self, status: int, body: Any, content_type: str = JSON_API) -> None:
        data = json.dumps(body).encode()
        try:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (a stall test): the change was made all the same

    def _body(self) -> Any:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        if not raw:
            return None
        try:
            return json.loads(raw)
        except ValueError:
            return ValueError

    def _authorized(self) -> bool:
        header = self.headers.get("Authorization", "")
        if not header.startswith("Basic "):
            return False
        try:
            user, _, password = base64.b64decode(header[6:]).decode().partition(":")
        except (ValueError, UnicodeDecodeError):
            return False
        return secrets.compare_digest(user, self.state.user) and secrets.compare_digest(
            password, self.state.password
        )

    # --- control endpoints -------------------------------------------------------------------

    def do_GET(self) -> None:  # noqa: N802 - http.server's names
        path = urlsplit(self.path).path
        if path == "/_calls":
            with self.state.lock:
                return self._send(200, {"calls": list(self.state.calls)}, "application/json")
        if path == "/_dois":
            with self.state.lock:
                return self._send(200, {"dois": dict(self.state.dois)}, "application/json")
        if path.startswith("/dois/"):
            return self._dois("GET", path, None)
        return self._send(404, {"errors": [{"status": "404", "title": "Not found"}]})

    def do_POST(self) -> None:  # noqa: N802
        path = urlsplit(self.path).path
        if path == "/_reset":
            with self.state.lock:
                self.state.reset()
            return self._send(200, {"ok": True}, "application/json")
        if path == "/_faults":
            body = self._body()
            with self.state.lock:
                self.state.fault = {"count": -1, "status": 503, "seconds": 5, **(body or {})}
            return self._send(200, {"fault": self.state.fault}, "application/json")
        if path == "/dois":
            return self._dois("POST", path, self._body())
        return self._send(404, {"errors": [{"status": "404", "title": "Not found"}]})

    def do_PUT(self) -> None:  # noqa: N802
        path = urlsplit(self.path).path
        if path.startswith("/dois/"):
            return self._dois("PUT", path, self._body())
        return self._send(404, {"errors": [{"status": "404", "title": "Not found"}]})

    # --- /dois -------------------------------------------------------------------------------

    def _dois(self, method: str, path: str, body: Any) -> None:
        authorized = self._authorized()
        call: dict[str, Any] = {
            "method": method,
            "path": path,
            "authorized": authorized,
            "content_type": self.headers.get("Content-Type", ""),
            "body": body if body is not ValueError else "(not JSON)",
        }
        attributes = (
            (body or {}).get("data", {}).get("attributes") if isinstance(body, dict) else None
        )
        if isinstance(attributes, dict):
            call["event"] = attributes.get("event")
            call["doi"] = attributes.get("doi")
        fault = self.state.take_fault()
        if fault and fault["mode"] == "stall":
            time.sleep(float(fault.get("seconds", 5)))
            call["stalled"] = True
        status, answer = (
            (int(fault.get("status", 503)), {"errors": [{"status": "503", "title": "Fault"}]})
            if fault and fault["mode"] == "error"
            else self._handle(method, path, body, authorized)
        )
        call["status"] = status
        with self.state.lock:
            self.state.calls.append(call)
        self._send(status, answer)

    def _handle(
        self, method: str, path: str, body: Any, authorized: bool
    ) -> tuple[int, dict[str, Any]]:
        if method == "GET":
            doi = unquote(path[len("/dois/") :]).lower()
            with self.state.lock:
                record = self.state.dois.get(doi)
            if record is None or (record["state"] == "draft" and not authorized):
                return 404, {
                    "errors": [
                        {
                            "status": "404",
                            "title": "The resource you are looking for doesn't exist.",
                        }
                    ]
                }
            return 200, _document(record)
        if not authorized:
            return 401, {"errors": [{"status": "401", "title": "Bad credentials."}]}
        if self.headers.get("Content-Type", "").split(";")[0].strip() != JSON_API:
            return 415, {"errors": [{"status": "415", "title": f"Content-Type must be {JSON_API}"}]}
        if body is ValueError or not isinstance(body, dict):
            return 400, {"errors": [{"status": "400", "title": "The body is not a JSON object."}]}
        data = body.get("data")
        if not isinstance(data, dict) or data.get("type") != "dois":
            return 422, {"errors": [{"source": "type", "title": "data.type must be 'dois'"}]}
        attributes = data.get("attributes")
        if not isinstance(attributes, dict):
            return 422, {"errors": [{"source": "attributes", "title": "attributes missing"}]}
        event = attributes.get("event")
        if event is not None and event not in EVENTS:
            return 422, {"errors": [{"source": "event", "title": f"unknown event {event!r}"}]}
        if method == "POST":
            doi = str(attributes.get("doi") or data.get("id") or "")
            if not doi:
                prefix = attributes.get("prefix")
                if not prefix:
                    return 422, {"errors": [{"source": "doi", "title": "can't be blank"}]}
                doi = f"{prefix}/{secrets.token_hex(4)}"
        else:
            doi = unquote(path[len("/dois/") :])
        doi = doi.lower()
        if not doi.startswith(self.state.prefix.lower() + "/"):
            return 403, {"errors": [{"source": "doi", "title": f"prefix of {doi} is not yours"}]}
        problems = _shape_problems(attributes)
        if problems:
            return 422, {"errors": problems}
        with self.state.lock:
            existing = self.state.dois.get(doi)
            if method == "POST" and existing is not None:
                return 422, {
                    "errors": [{"source": "doi", "title": "This DOI has already been taken"}]
                }
            if method == "PUT" and existing is None:
                return 404, {
                    "errors": [
                        {
                            "status": "404",
                            "title": "The resource you are looking for doesn't exist.",
                        }
                    ]
                }
            current = existing["state"] if existing else "draft"
            new_state = current
            if event is not None:
                new_state = TRANSITIONS.get((current, event), "")
                if not new_state:
                    return 422, {
                        "errors": [{"source": "event", "title": f"Can't {event} a {current} DOI"}]
                    }
            merged = {**(existing["attributes"] if existing else {}), **attributes}
            merged.pop("event", None)
            if new_state != "draft":
                missing = _missing_for_findable(merged)
                if missing:
                    return 422, {
                        "errors": [{"source": m, "title": "can't be blank"} for m in missing]
                    }
            record = {"doi": doi, "state": new_state, "attributes": merged}
            self.state.dois[doi] = record
        return (201 if method == "POST" else 200), _document(record)


def _document(record: dict[str, Any]) -> dict[str, Any]:
    doi = record["doi"]
    prefix, _, suffix = doi.partition("/")
    attributes = {**record["attributes"], "doi": doi, "prefix": prefix, "suffix": suffix}
    attributes["state"] = record["state"]
    return {"data": {"id": doi, "type": "dois", "attributes": attributes}}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="A fake DataCite REST API (tests only).")
    parser.add_argument("--user", required=True)
    parser.add_argument("--password", required=True)
    parser.add_argument("--prefix", required=True)
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args(argv)
    Handler.state = State(args.user, args.password, args.prefix)
    server = ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    server.daemon_threads = True
    print(f"listening on {server.server_address[1]}", flush=True)
    with contextlib.suppress(KeyboardInterrupt):
        server.serve_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main())
