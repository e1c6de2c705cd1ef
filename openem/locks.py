"""One run at a time of a periodic task, across processes and machines: two beat processes
started by mistake (or a slow run still going when the next is due) must not run fixity or the
embargo release twice at once.

On PostgreSQL a session-level advisory lock (``pg_try_advisory_lock``): taken without waiting,
released when the run ends, and by PostgreSQL itself if the worker dies (its connection
closes), so a killed run never leaves the task locked. The embedded default (SQLite, tasks run
in-process) has one process: there the lock always succeeds.
"""

from __future__ import annotations

import contextlib
import zlib
from collections.abc import Iterator

from django.db import connection


def _lock_id(name: str) -> int:
    """A stable signed 64-bit id for ``name`` (advisory locks take a bigint)."""
    return zlib.crc32(f"openem:{name}".encode()) - 2**31


@contextlib.contextmanager
def single_run(name: str) -> Iterator[bool]:
    """Yield True if this process now holds ``name``'s lock (run), False if another holds it
    (skip)."""
    if connection.vendor != "postgresql":
        yield True
        return
    lock = _lock_id(name)
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(%s)", [lock])
        acquired = bool(cursor.fetchone()[0])
    try:
        yield acquired
    finally:
        if acquired:
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_unlock(%s)", [lock])
