"""SHA-256 (and, for EMPIAR, MD5) of a stream in one pass, reading and hashing at once.

Ingest hashes files of tens of gigabytes fetched from object storage. Reading (network or
disk) and hashing are both slow, so a reader thread fills a small bounded queue while this
thread hashes: hashlib releases the GIL for buffers over 2 KiB, so the two overlap and the
total cost is about the slower of the two, not their sum. With MD5 requested, MD5 runs in a
second worker on the same buffer while SHA-256 runs here.
"""

from __future__ import annotations

import hashlib
import os
import queue
import threading
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

CHUNK_SIZE = 8 * 1024 * 1024
#: Small chunks are joined up to this size before they cross threads (hand-off costs ~10 us).
MIN_BATCH = 1024 * 1024
QUEUE_DEPTH = 4


@dataclass(frozen=True)
class Digests:
    sha256: str
    md5: str | None
    size: int


class _Done:
    """End of stream marker."""


@dataclass(frozen=True)
class _Failed:
    error: BaseException


def _batched(chunks: Iterable[bytes]) -> Iterator[bytes]:
    pending: list[bytes] = []
    pending_size = 0
    for chunk in chunks:
        if not pending and len(chunk) >= MIN_BATCH:
            yield chunk
            continue
        pending.append(bytes(chunk))
        pending_size += len(chunk)
        if pending_size >= MIN_BATCH:
            yield b"".join(pending)
            pending, pending_size = [], 0
    if pending:
        yield b"".join(pending)


def _produce(chunks: Iterable[bytes], out: queue.Queue[Any], stop: threading.Event) -> None:
    """Reader thread: pull chunks, hand them over; stop early if the consumer gave up."""
    iterator = iter(chunks)
    try:
        for chunk in _batched(iterator):
            while not stop.is_set():
                try:
                    out.put(chunk, timeout=0.1)
                    break
                except queue.Full:
                    continue
            if stop.is_set():
                return
        out.put(_Done())
    except BaseException as exc:  # noqa: BLE001 - handed to the consumer, re-raised there
        out.put(_Failed(exc))
    finally:
        close = getattr(iterator, "close", None)
        if close is not None:
            close()  # release the file or HTTP body in the thread that iterated it


def _consume(
    pending: queue.Queue[Any],
    update: Callable[[bytes], None],
    progress: Callable[[int], None] | None,
) -> int:
    size = 0
    while True:
        item = pending.get()
        if isinstance(item, _Done):
            return size
        if isinstance(item, _Failed):
            raise item.error
        update(item)
        size += len(item)
        if progress is not None:
            progress(size)


def hash_stream(
    chunks: Iterable[bytes],
    *,
    md5: bool = False,
    progress: Callable[[int], None] | None = None,
) -> Digests:
    """Digest every byte of ``chunks`` once; exceptions from the iterator propagate as they are
    (e.g. :class:`storage.ObjectNotFound` when a file vanishes mid-read). ``progress`` is called
    in the calling thread with the bytes hashed so far, after each batch."""
    sha = hashlib.sha256()
    md5_hash = hashlib.md5(usedforsecurity=False) if md5 else None
    pending: queue.Queue[Any] = queue.Queue(maxsize=QUEUE_DEPTH)
    stop = threading.Event()
    reader = threading.Thread(
        target=_produce, args=(chunks, pending, stop), name="hash-reader", daemon=True
    )
    reader.start()
    try:
        if md5_hash is None:
            size = _consume(pending, sha.update, progress)
        else:
            with ThreadPoolExecutor(max_workers=1, thread_name_prefix="hash-md5") as pool:
                size = _consume(pending, lambda data: _both(data, sha, md5_hash, pool), progress)
    finally:
        stop.set()
        _drain(pending)
        reader.join()
    return Digests(sha.hexdigest(), md5_hash.hexdigest() if md5_hash else None, size)


def _both(data: bytes, sha: Any, md5_hash: Any, pool: ThreadPoolExecutor) -> None:
    """MD5 in the worker while SHA-256 runs here; both release the GIL."""
    future = pool.submit(md5_hash.update, data)
    sha.update(data)
    future.result()


def _drain(pending: queue.Queue[Any]) -> None:
    while True:
        try:
            pending.get_nowait()
        except queue.Empty:
            return


def iter_file(path: str | os.PathLike[str], chunk_size: int = CHUNK_SIZE) -> Iterator[bytes]:
    with open(path, "rb") as handle:
        while chunk := handle.read(chunk_size):
            yield chunk


def hash_file(
    path: str | os.PathLike[str], *, md5: bool = False, chunk_size: int = CHUNK_SIZE
) -> Digests:
    """:func:`hash_stream` over a local file."""
    return hash_stream(iter_file(path, chunk_size), md5=md5)
