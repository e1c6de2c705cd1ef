"""Reads of the deposition workflow, with the access rules applied."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet

from deposition.documents import BuiltDocument, build_document
from deposition.models import Deposition, DepositionTarget
from openem.errors import NotAllowed, NotFound
from repository import access
from repository.models import AuditEvent, Dataset
from repository.selectors import dataset_for_user


def dataset_for_curator(*, user: Any, pid: str) -> Dataset:
    """The dataset, if ``user`` may prepare its depositions (404 if unseen, 403 otherwise)."""
    dataset = dataset_for_user(user=user, pid=pid)
    if dataset is None:
        raise NotFound("no dataset with this identifier is visible to you")
    if not access.can_publish(user, dataset):
        raise NotAllowed(
            "depositions are prepared by curators of the dataset's facility (and site admins)"
        )
    return dataset


def target_or_404(target: str) -> DepositionTarget:
    try:
        return DepositionTarget(target)
    except ValueError:
        raise NotFound(f"no archive called {target!r}") from None


def deposition_for(*, dataset: Dataset, target: str) -> Deposition | None:
    return (
        Deposition.objects.select_related("dataset").filter(dataset=dataset, target=target).first()
    )


def depositions_of(*, dataset: Dataset) -> dict[str, Deposition | None]:
    found = {d.target: d for d in Deposition.objects.filter(dataset=dataset)}
    return {target: found.get(target) for target in DepositionTarget.values}


def deposition_trail(*, deposition: Deposition, limit: int = 50) -> QuerySet[AuditEvent]:
    return AuditEvent.objects.filter(
        target_type=Deposition._meta.label_lower, target_id=str(deposition.pk)
    ).select_related("actor")[:limit]


def suggested_target(dataset: Dataset) -> str:
    """Maps go to EMDB, raw sessions to EMPIAR."""
    return DepositionTarget.EMDB if dataset.kind == "map" else DepositionTarget.EMPIAR


def preview_document(*, dataset: Dataset, target: str) -> BuiltDocument:
    """The document as it would be built now (read only: nothing is saved)."""
    return build_document(dataset, target)
