"""A fault-injecting HTTP proxy on loopback, between clients and the S3 server: it forwards each
request as it came (the Host header too, so presigned signatures still match: point the
portal's ``public_endpoint_url`` at the proxy) and, when told, damages a part's body on the way,
answers 500/503/SlowDown itself, or stalls before forwarding.

Used by the tests of damaged parts and by the fault suite (``tests/faults``, ``bench.faults``).
"""

from __future__ import annotations

import http.client
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

#: A rule sees (method, path with query) and returns a fault to apply, or None.
Rule = Callable[[str, str], "Fault | None"]


@dataclass
class Fault:
    """``damage``: flip a byte of the body; ``status``: answer this (with S3's error ``code``)
    instead of forwarding; ``stall``: wait this many seconds first."""

    damage: bool = False
    status: int = 0
    code: str = "InternalError"
    stall: float = 0.0


class _QuietServer(ThreadingHTTPServer):
    def handle_error(self, request: object, client_address: object) -> None:
        """A client that went away (a killed worker) is expected here, not an error."""
        import sys

        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)  # type: ignore[arg-type]


@dataclass
class FaultProxy:
    upstream: str  # http://127.0.0.1:PORT of the S3 server
    rules: list[Rule] = field(default_factory=list)
    applied: list[tuple[str, str, Fault]] = field(default_factory=list)
    _server: ThreadingHTTPServer | None = None

    @property
    def endpoint_url(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def damage_parts(self, count: int) -> None:
        """Damage the body of the next ``count`` part uploads (PUT ...?partNumber=...)."""
        left = [count]

        def rule(method: str, path: str) -> Fault | None:
            if method == "PUT" and "partNumber=" in path and left[0] > 0:
                left[0] -= 1
                return Fault(damage=True)
            return None

        self.rules.append(rule)

    def fault(self, method: str, path: str) -> Fault | None:
        for rule in list(self.rules):
            found = rule(method, path)
            if found:
                self.applied.append((method, path, found))
                return found
        return None

    def start(self) -> FaultProxy:
        proxy = self
        target = urlsplit(self.upstream)

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: object) -> None:  # noqa: A002
                return

            def _chunked_body(self) -> bytes:
                """A ``Transfer-Encoding: chunked`` body (boto3's streaming uploads with a
                trailing checksum), read through its last chunk and trailers and kept as it
                came, framing included, to be forwarded unchanged."""
                raw = bytearray()
                while True:
                    line = self.rfile.readline()
                    raw += line
                    size = int(line.split(b";")[0].strip() or b"0", 16)
                    if size == 0:
                        break
                    raw += self.rfile.read(size + 2)  # the data and its CRLF
                while True:  # trailers, then the empty line
                    line = self.rfile.readline()
                    raw += line
                    if line in (b"\r\n", b"\n", b""):
                        return bytes(raw)

            def _relay(self) -> None:
                try:
                    self._forward()
                except (OSError, http.client.HTTPException):
                    # The S3 server is down (stopped by a test) or the client went away (a
                    # killed worker): the client sees the connection close, as it would with
                    # no proxy between.
                    self.close_connection = True

            def _forward(self) -> None:
                chunked = "chunked" in (self.headers.get("Transfer-Encoding") or "").lower()
                length = int(self.headers.get("Content-Length") or 0)
                if chunked:
                    body = self._chunked_body()
                else:
                    body = self.rfile.read(length) if length else b""
                fault = proxy.fault(self.command, self.path)
                if fault and fault.stall:
                    time.sleep(fault.stall)
                if fault and fault.status:
                    payload = (
                        '<?xml version="1.0" encoding="UTF-8"?><Error><Code>'
                        f"{fault.code}</Code><Message>injected</Message></Error>"
                    ).encode()
                    self.send_response(fault.status)
                    self.send_header("Content-Type", "application/xml")
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                    return
                if fault and fault.damage and body and not chunked:
                    damaged = bytearray(body)
                    damaged[len(damaged) // 2] ^= 0xFF
                    body = bytes(damaged)
                upstream = http.client.HTTPConnection(target.hostname, target.port, timeout=120)
                try:
                    headers = {
                        k: v
                        for k, v in self.headers.items()
                        if k.lower() not in {"connection", "expect"}  # the 100 is answered here
                    }
                    if chunked:  # forwarded as it came: framing, trailers and all
                        upstream.putrequest(
                            self.command, self.path, skip_host=True, skip_accept_encoding=True
                        )
                        for key, value in headers.items():
                            upstream.putheader(key, value)
                        upstream.endheaders()
                        upstream.send(body)
                    else:
                        upstream.request(
                            self.command, self.path, body=body or None, headers=headers
                        )
                    response = upstream.getresponse()
                    data = response.read()
                    self.send_response(response.status, response.reason)
                    head = self.command == "HEAD"  # its Content-Length is the object's size
                    dropped = {"connection", "transfer-encoding"} | (
                        set() if head else {"content-length"}
                    )
                    for key, value in response.getheaders():
                        if key.lower() not in dropped:
                            self.send_header(key, value)
                    if not head:
                        self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    if self.command != "HEAD":
                        self.wfile.write(data)
                finally:
                    upstream.close()

            do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = do_OPTIONS = _relay  # noqa: N815

        self._server = _QuietServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
