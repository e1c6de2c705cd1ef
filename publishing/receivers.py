"""The repository's dataset events (``repository.signals``) that change what DataCite should
hold, handed to the ``doi_on_*`` hooks of :mod:`publishing.services`. Connected in
``PublishingConfig.ready``; they run inside the repository's transaction, and the hooks send
to DataCite on commit."""

from __future__ import annotations

from typing import Any

from repository import signals
from repository.models import Dataset, DatasetVersion

from . import services


def on_dataset_created(sender: Any, *, dataset: Dataset, **kwargs: Any) -> None:
    services.doi_on_create(dataset=dataset)


def on_dataset_published(
    sender: Any, *, dataset: Dataset, version: DatasetVersion, **kwargs: Any
) -> None:
    services.doi_on_publish(dataset=dataset, version=version)


def on_dataset_visibility_changed(sender: Any, *, dataset: Dataset, **kwargs: Any) -> None:
    services.doi_on_change(dataset=dataset)


def on_version_withdrawn(
    sender: Any, *, dataset: Dataset, version: DatasetVersion, **kwargs: Any
) -> None:
    services.doi_on_withdraw(dataset=dataset, version=version)


def connect() -> None:
    signals.dataset_created.connect(on_dataset_created, dispatch_uid="publishing.doi_on_create")
    signals.dataset_published.connect(
        on_dataset_published, dispatch_uid="publishing.doi_on_publish"
    )
    signals.dataset_visibility_changed.connect(
        on_dataset_visibility_changed, dispatch_uid="publishing.doi_on_change"
    )
    signals.version_withdrawn.connect(
        on_version_withdrawn, dispatch_uid="publishing.doi_on_withdraw"
    )
