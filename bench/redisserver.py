"""A Redis server of one's own on a free loopback port, for the fault tests and ``bench.faults``
that restart the broker: never the shared Redis on 6379, which other runs and CI use.

No persistence (``--save "" --appendonly no``): a restart loses every message queued and every
unacknowledged delivery, the worst a broker restart can do; the reconcilers must make up for
it.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class RedisServer:
    data_dir: Path
    port: int = 0
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    @property
    def log(self) -> Path:
        return self.data_dir / "redis.log"

    def start(self, timeout: float = 20.0) -> RedisServer:
        binary = shutil.which("redis-server")
        if not binary:
            raise RuntimeError("no redis-server on the PATH (apt-get install redis-server)")
        self.data_dir.mkdir(parents=True, exist_ok=True)
        fresh = not self.port
        for _attempt in range(5):
            if fresh:
                self.port = _free_port()
            with open(self.log, "ab") as out:
                self.process = subprocess.Popen(  # noqa: S603
                    [
                        binary, "--bind", "127.0.0.1", "--port", str(self.port),
                        "--save", "", "--appendonly", "no", "--dir", str(self.data_dir),
                        "--protected-mode", "yes",
                    ],
                    stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
                )  # fmt: skip
            if self._wait_ready(timeout):
                return self
            self.stop()
            if not fresh:
                break
        raise RuntimeError(f"redis-server did not start on 127.0.0.1:{self.port}")

    def _wait_ready(self, timeout: float) -> bool:
        import redis

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.process is not None
            if self.process.poll() is not None:
                return False  # the port was taken meanwhile
            with contextlib.suppress(redis.RedisError):
                if redis.Redis.from_url(self.url, socket_connect_timeout=0.5).ping():
                    return True
            time.sleep(0.05)
        return False

    def stop(self) -> None:
        """SIGKILL: a crash (nothing is written out; nothing would be, without persistence)."""
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)

    def restart(self, down_seconds: float = 0.0) -> None:
        """Down, then up again on the same port (the clients' URL stays valid)."""
        self.stop()
        time.sleep(down_seconds)
        self.start()


@contextlib.contextmanager
def redis_server(data_dir: Path) -> Iterator[RedisServer]:
    server = RedisServer(Path(data_dir)).start()
    try:
        yield server
    finally:
        server.stop()
