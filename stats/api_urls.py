"""Routes of the statistics API (included under /api/v1/ in the ``api`` namespace)."""

from django.urls import path

from . import api

urlpatterns = [
    path("datasets/<str:pid>/usage", api.DatasetUsageView.as_view(), name="dataset-usage"),
    path("stats/report", api.UsageReportView.as_view(), name="stats-report"),
]
