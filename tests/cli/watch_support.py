"""Helpers of the ``openem watch`` tests: a simulated EPU acquisition built from the real
sample files, the watcher as a subprocess, and what the portal ends up holding."""

from __future__ import annotations

import hashlib
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.services import ROOT, require_service

MiB = 1024 * 1024


def samples_dir() -> Path:
    configured = os.environ.get("OPENEM_SAMPLES_DIR")
    folder = Path(configured) if configured else ROOT.parent / "shared" / "samples"
    if not (folder / "epu").is_dir():
        require_service(f"the EM sample files (set OPENEM_SAMPLES_DIR; looked in {folder})")
    return folder


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(MiB):
            digest.update(block)
    return digest.hexdigest()


def local_checksums(root: Path, *, skip: tuple[str, ...] = ()) -> dict[str, str]:
    return {
        p.relative_to(root).as_posix(): sha256_file(p)
        for p in sorted(root.rglob("*"))
        if p.is_file() and p.name not in skip
    }


@dataclass
class Acquisition:
    """Writes an EPU session folder over a few seconds, as EPU does: the session file and
    the atlas first, then per grid square its image and foil holes, each exposure's
    micrograph written in chunks (slowly, for the big one) followed by its XML sidecar; one
    file is written, truncated and rewritten; one is written under a temporary name and then
    renamed; a marker file says the session is over."""

    root: Path
    samples: Path
    squares: int = 2
    holes: int = 2
    pause: float = 0.15
    marker: str = "SESSION_DONE"
    rewritten: str = ""
    renamed_from: str = ""
    renamed_to: str = ""
    error: BaseException | None = None
    written: list[str] = field(default_factory=list)
    _thread: threading.Thread | None = None

    def _write(self, relative: str, data: bytes, *, chunk: int = 0, delay: float = 0.0) -> Path:
        path = self.root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "wb") as handle:
            if not chunk:
                handle.write(data)
            else:
                for start in range(0, len(data), chunk):
                    handle.write(data[start : start + chunk])
                    handle.flush()
                    time.sleep(delay)
        self.written.append(relative)
        return path

    def run(self) -> None:
        xmls = sorted((self.samples / "epu").glob("FoilHole_*.xml"))
        micrograph = (self.samples / "mrc" / "epu2.9_example.mrc").read_bytes()
        small = (self.samples / "mrc" / "EMD-3197.map").read_bytes()
        self._write("EpuSession.dm", b'<?xml version="1.0"?><EpuSessionXml name="Session" />\n')
        self._write("Atlas/Atlas_1.mrc", small)
        time.sleep(self.pause)
        for square in range(1, self.squares + 1):
            base = f"Images-Disc1/GridSquare_{31900000 + square}"
            self._write(f"{base}/GridSquare_20240901_0600{square:02d}.mrc", small)
            for hole in range(self.holes):
                xml = xmls[(square + hole) % len(xmls)]
                stem = f"{base}/Data/{xml.stem[:-6]}{square}{hole:02d}"
                big = square == 1 and hole == 0
                # The micrograph: the big one in 2 MiB chunks a tenth of a second apart.
                self._write(
                    f"{stem}.mrc",
                    micrograph if big else micrograph[: 2 * MiB + square * 1000 + hole],
                    chunk=2 * MiB if big else 256 * 1024,
                    delay=0.1 if big else 0.02,
                )
                self._write(f"{stem}.xml", xml.read_bytes())
                time.sleep(self.pause)
        # Written, then truncated and written again with other bytes, within a second.
        self.rewritten = "Images-Disc1/gain_reference.mrc"
        self._write(self.rewritten, small + b"first version")
        time.sleep(0.3)
        self._write(self.rewritten, small[: len(small) // 2] + b"second, final version")
        # Written under a working name, renamed to its final one.
        self.renamed_from = "Images-Disc1/GridSquare_31900001/Data/acquiring_now.mrc"
        self.renamed_to = "Images-Disc1/GridSquare_31900001/Data/FoilHole_31933999_Data_1.mrc"
        self._write(self.renamed_from, micrograph[: MiB + 17])
        time.sleep(0.3)
        os.rename(self.root / self.renamed_from, self.root / self.renamed_to)
        self.written.remove(self.renamed_from)
        self.written.append(self.renamed_to)
        time.sleep(self.pause)

    def finish(self) -> None:
        (self.root / self.marker).write_text("done\n")

    def start(self) -> None:
        def target() -> None:
            try:
                self.run()
            except BaseException as exc:  # reported by join()
                self.error = exc

        self._thread = threading.Thread(target=target, name="acquisition", daemon=True)
        self._thread.start()

    def join(self, timeout: float = 120) -> None:
        assert self._thread is not None
        self._thread.join(timeout)
        assert not self._thread.is_alive(), "the acquisition did not end"
        if self.error:
            raise self.error

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()


@dataclass
class WatchProcess:
    """``openem watch`` in its own process (as at the microscope), logging to a file."""

    argv: list[str]
    log: Path
    process: subprocess.Popen[bytes] | None = None
    runs: int = 0

    def start(self) -> None:
        self.runs += 1
        handle = open(self.log, "ab")  # noqa: SIM115 - kept by the process
        handle.write(f"\n--- run {self.runs} ---\n".encode())
        handle.flush()
        self.process = subprocess.Popen(  # noqa: S603 - our own interpreter and module
            [sys.executable, "-m", "openem_client", *self.argv],
            stdout=handle,
            stderr=subprocess.STDOUT,
            cwd=str(ROOT),
        )

    def kill(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(30)

    def stop(self) -> int:
        assert self.process is not None
        self.process.send_signal(signal.SIGTERM)
        return self.process.wait(60)

    def wait(self, timeout: float = 120) -> int:
        assert self.process is not None
        return self.process.wait(timeout)

    def output(self) -> str:
        return self.log.read_text(errors="replace")


def wait_until(check: Callable[[], Any], *, timeout: float, what: str, log: Any = None) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.2)
    details = f"\n{log.output()[-4000:]}" if log is not None else ""
    raise AssertionError(f"timed out waiting for {what}{details}")


def copy_tree(source: Path, target: Path) -> None:
    shutil.copytree(source, target)
