"""SHA-256 of a large local file: ``hash_file`` vs the per-core limit (hashlib over a buffer in
memory, measured in the same run) and vs ``sha256sum``. Goal: hash_file >= 0.9x hashlib.

The file is real data (a 64 MiB random block repeated), not sparse. "warm" runs read it from
the page cache, as right after an upload; a "cold" run first asks the kernel to drop this
file's cached pages (``posix_fadvise DONTNEED``), so reading competes with hashing.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import statistics
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.common import GiB, MiB, interleaved, parse_size, rate

NAME = "checksum_local"
BLOCK = 64 * MiB
GOAL = 0.9


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--local-size", default="2GiB", help="checksum_local: file size (2GiB)")
    parser.add_argument("--dir", default=None, help="checksum_local: folder for the file (tmp)")


def write_file(path: Path, size: int, block: bytes) -> None:
    with open(path, "wb") as out:
        remaining = size
        while remaining > 0:
            piece = block[: min(len(block), remaining)]
            out.write(piece)
            remaining -= len(piece)
        out.flush()
        os.fsync(out.fileno())


def drop_from_page_cache(path: Path) -> bool:
    if not hasattr(os, "posix_fadvise"):
        return False
    fd = os.open(path, os.O_RDONLY)
    try:
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    finally:
        os.close(fd)
    return True


def hash_in_memory(block: bytes, size: int) -> str:
    """hashlib over ``size`` bytes already in memory, fed in the same 8 MiB pieces."""
    from ingest.checksum import CHUNK_SIZE

    digest = hashlib.sha256()
    view = memoryview(block)
    remaining = size
    while remaining > 0:
        for start in range(0, len(block), CHUNK_SIZE):
            piece = view[start : start + min(CHUNK_SIZE, remaining)]
            digest.update(piece)
            remaining -= len(piece)
            if remaining <= 0:
                break
    return digest.hexdigest()


def run(args: argparse.Namespace) -> dict[str, Any]:
    from ingest.checksum import hash_file

    size = parse_size(args.local_size)
    repeats = args.repeats
    block = os.urandom(BLOCK)
    folder = Path(tempfile.mkdtemp(prefix="openem-bench-", dir=args.dir))
    try:
        path = folder / "big.bin"
        started = time.perf_counter()
        write_file(path, size, block)
        write_seconds = time.perf_counter() - started

        hash_file(path)  # make sure the whole file is in the page cache
        sha256sum = shutil.which("sha256sum")
        runs: dict[str, Any] = {
            "hashlib_in_memory": lambda: hash_in_memory(block, size),
            "hash_file_warm": lambda: hash_file(path),
        }
        if sha256sum:
            runs["sha256sum"] = lambda: (
                subprocess.run(  # noqa: S603
                    [sha256sum, str(path)], check=True, capture_output=True, text=True
                ).stdout
            )
        best, all_runs, results = interleaved(repeats, runs)
        expected = results["hashlib_in_memory"]
        assert results["hash_file_warm"].sha256 == expected
        assert results["hash_file_warm"].size == size
        memory_best, warm_best = best["hashlib_in_memory"], best["hash_file_warm"]
        sum_best = best.get("sha256sum")
        if sha256sum:
            assert results["sha256sum"].split()[0] == expected
        pair_ratios = [
            m / w
            for m, w in zip(all_runs["hashlib_in_memory"], all_runs["hash_file_warm"], strict=True)
        ]

        cold = drop_from_page_cache(path)
        started = time.perf_counter()
        cold_digest = hash_file(path)
        cold_seconds = time.perf_counter() - started
        assert cold_digest.sha256 == expected
    finally:
        shutil.rmtree(folder, ignore_errors=True)

    ratio = memory_best / warm_best
    figures: dict[str, Any] = {
        "size_bytes": size,
        "size_gib": round(size / GiB, 3),
        "write_mib_s": rate(size, write_seconds),
        "hashlib_in_memory_mib_s": rate(size, memory_best),
        "hash_file_warm_mib_s": rate(size, warm_best),
        "hash_file_vs_hashlib": round(ratio, 3),
        "goal": f">= {GOAL}x hashlib in memory",
        "goal_met": ratio >= GOAL,
        "hash_file_cold_mib_s": rate(size, cold_seconds) if cold else None,
        "sha256sum_mib_s": rate(size, sum_best) if sum_best else None,
        "hash_file_vs_sha256sum": round(sum_best / warm_best, 3) if sum_best else None,
        "median_ratio_of_adjacent_runs": round(statistics.median(pair_ratios), 3),
        "runs_seconds": {
            **{name: [round(t, 3) for t in values] for name, values in all_runs.items()},
            "hash_file_cold": round(cold_seconds, 3),
        },
    }
    figures["summary"] = (
        f"checksum_local {figures['size_gib']} GiB: hash_file {figures['hash_file_warm_mib_s']} "
        f"MiB/s = {figures['hash_file_vs_hashlib']}x hashlib in memory "
        f"({figures['hashlib_in_memory_mib_s']} MiB/s; goal >= {GOAL}x: "
        f"{'met' if figures['goal_met'] else 'NOT met'}), "
        f"{figures['hash_file_vs_sha256sum']}x sha256sum ({figures['sha256sum_mib_s']} MiB/s), "
        f"cold cache {figures['hash_file_cold_mib_s']} MiB/s"
    )
    return figures
