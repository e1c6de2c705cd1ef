"""SHA-256 of an object on SeaweedFS's S3 server: ``hash_stream(store.iter_chunks)`` vs the larger of
a plain streaming GET and a plain in-memory hash, measured in the same run.
Goal: <= 1.15x max(GET, hash), i.e. reading and hashing overlap instead of adding up.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import statistics
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.checksum_local import hash_in_memory
from bench.common import (
    GiB,
    MiB,
    best_of,
    interleaved,
    parse_size,
    process_cpu_seconds,
    rate,
    s3_server,
    s3_store,
)

NAME = "checksum_s3"
GOAL = 1.15
BLOCK = 64 * MiB


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--s3-size", default="1GiB", help="checksum_s3: object size (1GiB)")


class Repeating:
    """A read-only stream of ``size`` bytes made of one block, for uploading without holding
    the whole object in this process."""

    def __init__(self, block: bytes, size: int):
        self.block, self.size, self.position = block, size, 0

    def read(self, length: int = -1) -> bytes:
        remaining = self.size - self.position
        if length < 0 or length > remaining:
            length = remaining
        out = bytearray()
        while len(out) < length:
            offset = (self.position + len(out)) % len(self.block)
            out += self.block[offset : offset + length - len(out)]
        self.position += len(out)
        return bytes(out)


def plain_get(store: Any, key: str) -> int:
    return sum(len(chunk) for chunk in store.iter_chunks(key))


def get_beside_hash(store: Any, key: str, block: bytes, size: int) -> int:
    """A GET and an unrelated in-memory hash of the same size at once, in two threads: what
    any overlap can reach on this machine, where the S3 server shares the CPUs."""
    hasher = threading.Thread(target=hash_in_memory, args=(block, size))
    hasher.start()
    got = plain_get(store, key)
    hasher.join()
    return got


def run(args: argparse.Namespace) -> dict[str, Any]:
    from ingest.checksum import hash_stream

    size = parse_size(args.s3_size)
    block = os.urandom(BLOCK)
    expected = hash_in_memory(block, size)
    with (
        tempfile.TemporaryDirectory(prefix="openem-bench-") as folder,
        s3_server(Path(folder)) as server,
        s3_store(server) as store,
    ):
        key = "bench/big.bin"
        started = time.perf_counter()
        assert store.put(key, Repeating(block, size)) == size  # type: ignore[arg-type]
        upload_seconds = time.perf_counter() - started

        cpu: dict[str, list[tuple[float, float]]] = {}

        def with_cpu(name: str, func: Callable[[], Any]) -> Callable[[], Any]:
            """Also record CPU seconds of this process and of the S3 server."""

            def timed() -> Any:
                client, server = time.process_time(), process_cpu_seconds(server_pid)
                result = func()
                cpu.setdefault(name, []).append(
                    (time.process_time() - client, process_cpu_seconds(server_pid) - server)
                )
                return result

            return timed

        server_pid = server.pid
        best, runs, results = interleaved(
            args.repeats,
            {
                "plain_get": with_cpu("plain_get", lambda: plain_get(store, key)),
                "plain_hash": with_cpu("plain_hash", lambda: hash_in_memory(block, size)),
                "hash_stream": with_cpu("hash_stream", lambda: hash_stream(store.iter_chunks(key))),
                "get_beside_hash": with_cpu(
                    "get_beside_hash", lambda: get_beside_hash(store, key, block, size)
                ),
            },
        )
        assert results["plain_get"] == size
        digests = results["hash_stream"]
        assert digests.sha256 == expected and digests.size == size
        get_best, hash_best, both_best = best["plain_get"], best["plain_hash"], best["hash_stream"]
        round_ratios = [
            both / max(get, hashed)
            for get, hashed, both in zip(
                runs["plain_get"], runs["plain_hash"], runs["hash_stream"], strict=True
            )
        ]
        # The naive way for comparison: read, then hash, one after the other in one thread.
        sequential_best, _, naive = best_of(1, lambda: _sequential(store, key))
        assert naive == expected

    bound = max(get_best, hash_best)
    ratio = both_best / bound
    figures: dict[str, Any] = {
        "size_bytes": size,
        "size_gib": round(size / GiB, 3),
        "upload_mib_s": rate(size, upload_seconds),
        "plain_get_seconds": round(get_best, 3),
        "plain_get_mib_s": rate(size, get_best),
        "plain_hash_seconds": round(hash_best, 3),
        "plain_hash_mib_s": rate(size, hash_best),
        "hash_stream_seconds": round(both_best, 3),
        "hash_stream_mib_s": rate(size, both_best),
        "sequential_get_then_hash_seconds": round(sequential_best, 3),
        "get_beside_independent_hash_seconds": round(best["get_beside_hash"], 3),
        "ratio_of_that_bound_to_max_get_hash": round(best["get_beside_hash"] / bound, 3),
        "ratio_to_max_get_hash": round(ratio, 3),
        "goal": f"<= {GOAL}x max(plain GET, plain hash)",
        "goal_met": ratio <= GOAL,
        "median_ratio_per_round": round(statistics.median(round_ratios), 3),
        "runs_seconds": {name: [round(t, 3) for t in values] for name, values in runs.items()},
        # Both ends run on this machine: CPU seconds (median) of the benchmark process and of
        # the S3 server show how much of the two cores a GET itself takes.
        "cpu_seconds_client_server": {
            name: [
                round(statistics.median(c for c, _ in values), 3),
                round(statistics.median(s for _, s in values), 3),
            ]
            for name, values in cpu.items()
        },
    }
    figures["summary"] = (
        f"checksum_s3 {figures['size_gib']} GiB: hash_stream {both_best:.2f} s vs "
        f"max(GET {get_best:.2f} s, hash {hash_best:.2f} s) = {ratio:.3f}x "
        f"(goal <= {GOAL}x: {'met' if figures['goal_met'] else 'NOT met'}); "
        f"GET then hash in sequence {sequential_best:.2f} s; GET beside an unrelated hash "
        f"(the overlap this shared 2-core machine allows) {best['get_beside_hash']:.2f} s"
    )
    return figures


def _sequential(store: Any, key: str) -> str:
    digest = hashlib.sha256()
    for chunk in store.iter_chunks(key):
        digest.update(chunk)
    return digest.hexdigest()
