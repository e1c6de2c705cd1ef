"""The users of ``python -m bench load`` (``bench/load.py`` starts locust on this file; no
Django here). The plan (``OPENEM_LOAD_PLAN``: dataset PIDs, folders, downloadable files,
tokens, the upload's files) comes from the seeding.

Each user walks a fixed journey (so that a short run hits every endpoint class), with a pause
between steps:

- ``Visitor`` (anonymous, 3 of 4): the search page, a landing page, the file browser of the
  many-files dataset, a download (the portal's presigned redirect, then the S3 GET) and an
  API search;
- ``ApiClient`` (a personal API token, 1 of 4): API search, a dataset, a page of the file
  listing and the next, a download (redirect, S3 GET), the token list;
- ``Uploader`` (one, facility staff with a read-write token): one upload session at start
  (create, register the files, start each file's multipart upload with its part signed, PUT
  the part to S3, complete each file, complete the session), then polls the ingest status.

Every request to the portal carries what the TLS-terminating proxy in front of it adds:
``X-Forwarded-Proto: https`` and the client's address in ``X-Forwarded-For`` (one per user).
"""

from __future__ import annotations

import base64
import itertools
import json
import os
import random
import time
import zlib
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from locust import HttpUser, between, task

PLAN: dict[str, Any] = json.loads(Path(os.environ["OPENEM_LOAD_PLAN"]).read_text())
#: The longest pause between two steps of a journey (seconds); the shortest is a fifth of it.
PAUSE = float(os.environ.get("OPENEM_LOAD_PAUSE") or 2.5)
_addresses = itertools.count(1)


def _path(url: str) -> str:
    """The portal's absolute URLs (https://, as behind the proxy) as paths on this host."""
    parts = urlsplit(url)
    return parts.path + (f"?{parts.query}" if parts.query else "")


class PortalUser(HttpUser):
    abstract = True
    wait_time = between(PAUSE / 5, PAUSE)
    token = ""

    def on_start(self) -> None:
        number = next(_addresses)
        self.headers = {
            "X-Forwarded-Proto": "https",
            "X-Forwarded-For": f"10.{number // 65536 % 256}.{number // 256 % 256}.{number % 256}",
        }
        if self.token:
            self.headers["Authorization"] = f"Token {self.token}"

    def get(self, path: str, name: str, *, status: int = 200, **kwargs: Any) -> Any:
        with self.client.get(
            path,
            name=name,
            headers=self.headers,
            allow_redirects=False,
            catch_response=True,
            **kwargs,
        ) as response:
            if response.status_code != status:
                response.failure(
                    f"{response.status_code} (expected {status}): {response.text[:200]}"
                )
            return response

    def post(self, path: str, name: str, body: Any, *, status: int = 200) -> Any:
        with self.client.post(
            _path(path),
            name=name,
            json=body,
            headers=self.headers,
            allow_redirects=False,
            catch_response=True,
        ) as response:
            if response.status_code != status:
                response.failure(
                    f"{response.status_code} (expected {status}): {response.text[:300]}"
                )
                return None
            return response.json()

    def download(self, path: str, name: str) -> None:
        """The portal's redirect to a presigned URL, then the S3 GET itself (no proxy headers,
        no token: the signature is the authorization)."""
        redirect = self.get(path, name, status=302)
        location = redirect.headers.get("Location", "")
        if not location.startswith("http"):
            return
        with self.client.get(location, name="s3: GET (presigned)", catch_response=True) as got:
            if got.status_code != 200 or not got.content:
                got.failure(f"S3 answered {got.status_code}: {got.text[:200]}")

    def pause(self) -> None:
        """A pause inside a journey. Not ``self.wait()``, which ends the user at once when the
        run stops: a journey once begun is walked to its end (locust's ``--stop-timeout``),
        so a short run still reaches its last steps. (``time.sleep`` is gevent's here.)"""
        time.sleep(self.wait_time())


class Visitor(PortalUser):
    weight = 3

    @task
    def journey(self) -> None:
        word = random.choice(PLAN["words"])
        self.get(f"/datasets/?q={word}", "page: search")
        self.pause()
        self.get(f"/datasets/{random.choice(PLAN['datasets'])}/", "page: landing")
        self.pause()
        folder = random.choice(PLAN["folders"])
        self.get(f"/datasets/{PLAN['big']}/files/?dir={folder}", "page: file browser")
        self.pause()
        pid, file_id = random.choice(PLAN["downloads"])
        self.download(f"/datasets/{pid}/files/{file_id}/download", "page: download (redirect)")
        self.pause()
        self.get(f"/api/v1/datasets/?q={word}", "api: search (anonymous)")


class ApiClient(PortalUser):
    weight = 1

    def on_start(self) -> None:
        self.token = random.choice(PLAN["read_tokens"])
        super().on_start()

    @task
    def journey(self) -> None:
        word = random.choice(PLAN["words"])
        self.get(f"/api/v1/datasets/?q={word}&facets=true", "api: search (token)")
        self.pause()
        self.get(f"/api/v1/datasets/{random.choice(PLAN['datasets'])}/", "api: dataset")
        self.pause()
        listing = self.get(f"/api/v1/datasets/{PLAN['big']}/files/", "api: file list")
        following = listing.json().get("next") if listing.status_code == 200 else None
        if following:
            self.get(_path(following), "api: file list (next page)")
        self.pause()
        pid, file_id = random.choice(PLAN["downloads"])
        self.download(
            f"/api/v1/datasets/{pid}/files/{file_id}/download", "api: download (redirect)"
        )
        self.pause()
        self.get("/api/v1/tokens/", "api: tokens")


def crc32(data: bytes) -> str:
    return base64.b64encode(zlib.crc32(data).to_bytes(4, "big")).decode("ascii")


class Uploader(PortalUser):
    fixed_count = 1
    session_status = ""

    def on_start(self) -> None:
        self.token = PLAN["upload_token"]
        super().on_start()
        self.upload()

    def upload(self) -> None:
        session = self.post(
            "/api/v1/uploads/", "upload: session create", {"dataset": PLAN["upload_dataset"]},
            status=201,
        )  # fmt: skip
        if session is None:
            return
        contents = {f["path"]: Path(f["local"]).read_bytes() for f in PLAN["upload_files"]}
        entries = [
            {"path": f["path"], "size": len(contents[f["path"]]), "sha256": f["sha256"]}
            for f in PLAN["upload_files"]
        ]
        registered = self.post(
            session["files_url"], "upload: register files", {"files": entries}, status=201
        )
        if registered is None:
            return
        for row in registered["files"]:
            data = contents[row["path"]]
            checksum = crc32(data)
            started = self.post(
                row["upload"]["url"], "upload: multipart start",
                {"parts": [{"part_number": 1, "checksum_crc32": checksum}]},
            )  # fmt: skip
            if started is None:
                return
            part = started["parts"][0]
            with self.client.put(
                part["url"], data=data, headers=part["headers"], name="s3: PUT part",
                catch_response=True,
            ) as put:  # fmt: skip
                etag = put.headers.get("ETag", "")
                if put.status_code != 200 or not etag:
                    put.failure(f"S3 answered {put.status_code}: {put.text[:300]}")
                    return
            body = {
                "upload_id": started["upload_id"],
                "parts": [{"part_number": 1, "etag": etag, "checksum_crc32": checksum}],
            }
            if self.post(started["complete_url"], "upload: multipart complete", body) is None:
                return
        self.post(session["complete_url"], "upload: session complete", None)
        self.session_status = session["status_url"]

    @task
    def status(self) -> None:
        if self.session_status:
            self.get(_path(self.session_status), "upload: status")
