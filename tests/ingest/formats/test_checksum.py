"""One-pass SHA-256/MD5 with a reader thread: same digests as hashlib, errors propagate, the
reader thread never outlives the call, and reading overlaps hashing."""

from __future__ import annotations

import hashlib
import threading

import pytest

from ingest.checksum import Digests, hash_file, hash_stream
from storage import ObjectNotFound


def expected(data: bytes, md5: bool) -> Digests:
    return Digests(
        hashlib.sha256(data).hexdigest(), hashlib.md5(data).hexdigest() if md5 else None, len(data)
    )


@pytest.mark.parametrize("md5", [False, True])
@pytest.mark.parametrize("chunk_size", [1, 1000, 1024 * 1024, 3 * 1024 * 1024 + 7])
def test_digests_match_hashlib(md5, chunk_size):
    data = bytes(range(256)) * 40_000 + b"tail"  # ~10 MiB
    if chunk_size == 1:
        data = data[:5000]  # one-byte chunks: the batching path
    chunks = (data[i : i + chunk_size] for i in range(0, len(data), chunk_size))
    assert hash_stream(chunks, md5=md5) == expected(data, md5)


def test_empty_stream():
    assert hash_stream(iter([]), md5=True) == expected(b"", True)


def test_hash_file(tmp_path):
    path = tmp_path / "movie.eer"
    data = b"EER" * 1_000_000
    path.write_bytes(data)
    assert hash_file(path, md5=True, chunk_size=65536) == expected(data, True)
    assert hash_file(path).md5 is None


def test_error_from_the_iterator_propagates_with_its_type():
    closed = threading.Event()

    def vanishing():
        try:
            yield b"x" * 2_000_000
            yield b"y" * 2_000_000
            raise ObjectNotFound("object 1/2/3 not found in storage")
        finally:
            closed.set()

    before = threading.active_count()
    with pytest.raises(ObjectNotFound, match="object 1/2/3 not found"):
        hash_stream(vanishing(), md5=True)
    assert closed.is_set()
    assert threading.active_count() == before


def test_consumer_failure_stops_and_closes_the_reader():
    closed = threading.Event()
    produced = []

    def endless():
        try:
            while True:
                produced.append(1)
                yield b"z" * 2_000_000
        finally:
            closed.set()

    def broken_progress(hashed):
        raise RuntimeError("disk full")  # e.g. the heartbeat's database write

    before = threading.active_count()
    with pytest.raises(RuntimeError, match="disk full"):
        hash_stream(endless(), progress=broken_progress)
    assert closed.wait(5)
    assert threading.active_count() == before
    assert len(produced) < 20  # the bounded queue kept the reader from running ahead


def test_chunks_are_read_in_another_thread_than_the_hashing():
    """Overlap is checked by structure here (the reading runs in its own thread, so hashing
    and I/O proceed together); the timings are the benchmark's job: `python -m bench
    checksum_local checksum_s3`."""
    chunk = b"\x5a" * (2 * 1024 * 1024)
    reader_threads: set[int] = set()

    def reader():
        for _ in range(8):
            reader_threads.add(threading.get_ident())
            yield chunk

    digests = hash_stream(reader(), md5=True)
    assert digests.sha256 == hashlib.sha256(chunk * 8).hexdigest()
    assert digests.md5 == hashlib.md5(chunk * 8).hexdigest()  # noqa: S324 - archives ask for it
    assert digests.size == len(chunk) * 8
    assert reader_threads and threading.get_ident() not in reader_threads


def test_progress_is_reported_in_the_calling_thread_with_the_bytes_so_far():
    import threading

    data = bytes(range(256)) * 40_000  # ~10 MiB in 8 MiB-ish batches
    seen: list[tuple[int, str]] = []
    hash_stream(
        (data[i : i + 3 * 2**20] for i in range(0, len(data), 3 * 2**20)),
        progress=lambda done: seen.append((done, threading.current_thread().name)),
    )
    assert [done for done, _ in seen] == sorted({done for done, _ in seen})
    assert seen[-1][0] == len(data) and len(seen) == 4
    assert {name for _, name in seen} == {threading.current_thread().name}
