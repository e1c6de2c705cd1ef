"""What a fault must never do, counted: the invariants of the fault tests (``tests/faults``) and
of the randomized run (``python -m bench faults``).

- lost: a file that was stored has no row, or its object is gone from the bucket;
- stuck: a file not ``ready`` or ``failed``, a ``failed`` one without a reason, or a dataset
  still ``ingesting`` with every file settled;
- duplicates: two rows for one path of a dataset;
- checksum mismatches: a ``ready`` file whose SHA-256 differs from a clean run's (the SHA-256
  of the bytes that were uploaded);
- orphans: multipart uploads left open in the bucket;
- audit gaps: a dataset without its ``create`` event, a deposition step without its event.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass
class Counts:
    files: int = 0
    ready: int = 0
    failed: int = 0
    lost: int = 0
    stuck: int = 0
    duplicates: int = 0
    checksum_mismatches: int = 0
    orphans: int = 0
    audit_gaps: int = 0
    problems: list[str] = field(default_factory=list)

    @property
    def clean(self) -> bool:
        return not (
            self.lost
            or self.stuck
            or self.duplicates
            or self.checksum_mismatches
            or self.orphans
            or self.audit_gaps
        )

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["problems"] = self.problems[:50]
        return out

    def summary(self) -> str:
        return (
            f"{self.files} files: {self.ready} ready, {self.failed} failed; lost {self.lost}, "
            f"stuck {self.stuck}, duplicates {self.duplicates}, checksum mismatches "
            f"{self.checksum_mismatches}, orphaned multipart uploads {self.orphans}, "
            f"audit gaps {self.audit_gaps}"
        )


def check(
    expected: dict[int, dict[str, str]], *, failures_allowed: set[str] | None = None
) -> Counts:
    """``expected``: dataset id -> {path: SHA-256 of the uploaded bytes}. ``failures_allowed``:
    paths expected to fail (bad files); any other failure counts as a problem (lost)."""
    import storage
    from repository.models import (
        AuditAction,
        AuditEvent,
        DataFile,
        Dataset,
        DatasetStatus,
        FileState,
    )

    failures_allowed = failures_allowed or set()
    counts = Counts()
    store = storage.get_store()
    existing = _existing_keys(store)
    for dataset_id, files in expected.items():
        rows = list(
            DataFile.objects.filter(dataset_id=dataset_id).values(
                "pk", "path", "state", "error", "checksum_sha256", "storage_key"
            )
        )
        per_path = Counter(row["path"] for row in rows)
        for path, count in per_path.items():
            if count > 1:
                counts.duplicates += count - 1
                counts.problems.append(f"duplicate rows for {path}")
        by_path = {row["path"]: row for row in rows}
        for path, sha256 in files.items():
            counts.files += 1
            row = by_path.get(path)
            if row is None:
                counts.lost += 1
                counts.problems.append(f"lost (no row): {path}")
                continue
            if existing is not None and row["storage_key"] not in existing:
                counts.lost += 1
                counts.problems.append(f"lost (no object): {path}")
                continue
            state = row["state"]
            if state == FileState.READY:
                counts.ready += 1
                if row["checksum_sha256"] != sha256:
                    counts.checksum_mismatches += 1
                    counts.problems.append(f"checksum of {path}: {row['checksum_sha256']}")
            elif state == FileState.FAILED:
                counts.failed += 1
                if not row["error"]:
                    counts.stuck += 1
                    counts.problems.append(f"failed without a reason: {path}")
                elif path not in failures_allowed:
                    counts.lost += 1  # a good file the fault made fail: as good as lost
                    counts.problems.append(f"failed by the fault: {path}: {row['error']}")
            else:
                counts.stuck += 1
                counts.problems.append(f"stuck {state}: {path}")
        dataset = Dataset.objects.get(pk=dataset_id)
        if dataset.status == DatasetStatus.INGESTING:
            counts.stuck += 1
            counts.problems.append(f"dataset {dataset.pid} still ingesting")
        if not AuditEvent.objects.filter(dataset_id=dataset_id, action=AuditAction.CREATE).exists():
            counts.audit_gaps += 1
            counts.problems.append(f"dataset {dataset.pid}: no create event")
    counts.orphans = len(list(_multipart_uploads(store)))
    if counts.orphans:
        counts.problems.append(f"{counts.orphans} multipart uploads left open")
    return counts


def _existing_keys(store: Any) -> set[str] | None:
    import storage

    if not isinstance(store, storage.S3Store):
        return None
    keys: set[str] = set()
    paginator = store.client.get_paginator("list_objects_v2")
    for page in paginator.paginate(Bucket=store.bucket):
        keys.update(item["Key"] for item in page.get("Contents", []))
    return keys


def _multipart_uploads(store: Any) -> list[tuple[str, str, Any]]:
    import storage

    if not isinstance(store, storage.S3Store):
        return []
    return list(store.multipart_list_uploads())
