"""The audit trail: one row per change to a dataset, its files or its people, written by every
app's services (repository, metadata edits, ingest, deposition) through :func:`audit_record`."""

from __future__ import annotations

from typing import Any

from .models import AuditAction, AuditEvent, Dataset


def audit_record(
    *,
    actor: Any,
    action: AuditAction,
    target: Any,
    dataset: Dataset | None = None,
    details: dict[str, Any] | None = None,
) -> AuditEvent:
    return AuditEvent.objects.create(
        actor=actor if getattr(actor, "is_authenticated", False) else None,
        action=action,
        target_type=target._meta.label_lower,
        target_id=str(target.pk),
        dataset=dataset,
        details=details or {},
    )
