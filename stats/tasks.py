"""Periodic folding of usage events into daily rows (beat), also started, at most once a
minute, by recorded events themselves so that a portal without beat still catches up."""

from __future__ import annotations

from typing import Any

from celery import shared_task
from django.core.cache import cache

from . import services
from .recording import AGGREGATE_SOON_KEY


@shared_task(name="stats.aggregate_usage", soft_time_limit=1800)
def aggregate_usage() -> dict[str, Any]:
    # Events from now on schedule the next pass; those before it are in this one.
    cache.delete(AGGREGATE_SOON_KEY)
    return services.usage_aggregate().as_dict()
