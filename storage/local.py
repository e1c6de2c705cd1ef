"""Objects as files under a root folder: the embedded default's store."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO

from storage.base import DEFAULT_CHUNK_SIZE, ObjectNotFound


class LocalStore:
    """Objects as files under a root folder (the embedded default)."""

    name = "local"

    def __init__(self, root: str | os.PathLike[str]):
        self.root = Path(root).resolve()
        self._prefix = str(self.root) + os.sep

    def path(self, key: str) -> Path:
        # Lexical normalisation catches ``..`` and absolute keys without a filesystem call per
        # path component (``resolve()`` cost ~0.2 ms a call, several calls per ingested file).
        # The portal alone writes below the root, so no symlink leads out of it.
        path = os.path.normpath(os.path.join(self._prefix, key))
        if not path.startswith(self._prefix):
            raise ValueError(f"key {key!r} escapes the storage root")
        return Path(path)

    def size(self, key: str) -> int:
        try:
            return self.path(key).stat().st_size
        except FileNotFoundError as exc:
            raise ObjectNotFound(f"object {key} not found in storage") from exc

    def exists(self, key: str) -> bool:
        return self.path(key).is_file()

    def read(self, key: str, offset: int, length: int) -> bytes:
        if offset < 0 or length < 0:
            raise ValueError("offset and length must be >= 0")
        try:
            with open(self.path(key), "rb") as handle:
                handle.seek(offset)
                return handle.read(length)
        except FileNotFoundError as exc:
            raise ObjectNotFound(f"object {key} not found in storage") from exc

    def iter_chunks(self, key: str, chunk_size: int = DEFAULT_CHUNK_SIZE) -> Iterator[bytes]:
        try:
            handle = open(self.path(key), "rb")  # noqa: SIM115 - closed in finally
        except FileNotFoundError as exc:
            raise ObjectNotFound(f"object {key} not found in storage") from exc
        try:
            while chunk := handle.read(chunk_size):
                yield chunk
        finally:
            handle.close()

    def put(self, key: str, data: IO[bytes] | bytes, *, content_type: str = "") -> int:
        target = self.path(key)
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_name(target.name + ".partial")
        with open(partial, "wb") as out:
            if isinstance(data, bytes | bytearray):
                out.write(data)
            else:
                shutil.copyfileobj(data, out, DEFAULT_CHUNK_SIZE)
        os.replace(partial, target)  # a failed write never leaves a half object behind
        return target.stat().st_size

    def delete(self, key: str) -> None:
        self.path(key).unlink(missing_ok=True)

    def list_keys(self, prefix: str) -> Iterator[str]:
        """Every key starting with ``prefix`` (in no particular order), read folder by folder."""
        folder, _, start = prefix.rpartition("/")
        base = self.path(folder) if folder else self.root
        if not base.is_dir():
            return
        for entry in base.iterdir():
            if not entry.name.startswith(start):
                continue
            if entry.is_dir():
                for dirpath, _dirs, names in os.walk(entry):
                    for name in names:
                        if not name.endswith(".partial"):  # a write under way, not an object
                            yield self._key(os.path.join(dirpath, name))
            elif not entry.name.endswith(".partial"):
                yield self._key(entry)

    def _key(self, path: str | os.PathLike[str]) -> str:
        return os.path.relpath(path, self.root).replace(os.sep, "/")

    def delete_keys(self, keys: Iterable[str]) -> int:
        deleted = 0
        for key in keys:
            self.delete(key)
            deleted += 1
        return deleted

    def copy(self, src_key: str, dst_key: str) -> int:
        """Copy an object inside the store (deposition packages); returns the copy's size."""
        target = self.path(dst_key)
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_name(target.name + ".partial")
        try:
            shutil.copyfile(self.path(src_key), partial)
        except FileNotFoundError as exc:
            raise ObjectNotFound(f"object {src_key} not found in storage") from exc
        os.replace(partial, target)
        return target.stat().st_size

    def presign_get(self, key: str, *, filename: str | None = None, expires: int = 0) -> str | None:
        """Local files have no presigned URL: the web layer streams them with Range support."""
        return None

    def presign_head(
        self, key: str, *, filename: str | None = None, expires: int = 0
    ) -> str | None:
        return None

    # -- chunked upload (the local counterpart of S3 multipart) ---------------------------------

    def _upload_path(self, key: str) -> Path:
        target = self.path(key)
        return target.with_name(target.name + ".upload")

    def partial_size(self, key: str) -> int:
        """Bytes received so far for an upload in progress (0 when none started)."""
        try:
            return self._upload_path(key).stat().st_size
        except FileNotFoundError:
            return 0

    def partial_append(self, key: str, stream: IO[bytes], length: int) -> int:
        """Append up to ``length`` bytes of ``stream``; returns the bytes received in all.

        A chunk that arrives short (a dropped connection) is cut back entirely, so the upload
        resumes from the last complete chunk and never holds a half-written one.
        """
        partial = self._upload_path(key)
        partial.parent.mkdir(parents=True, exist_ok=True)
        with open(partial, "ab") as out:
            start = out.tell()
            remaining = length
            while remaining > 0:
                data = stream.read(min(remaining, DEFAULT_CHUNK_SIZE))
                if not data:
                    break
                out.write(data)
                remaining -= len(data)
            if remaining:
                out.truncate(start)
                return start
            return start + length

    def partial_commit(self, key: str) -> None:
        """Make a complete upload the object (atomic rename)."""
        os.replace(self._upload_path(key), self.path(key))
