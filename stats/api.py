"""Usage in the API: a dataset's COUNTER figures (``/api/v1/datasets/<pid>/usage``) and a monthly
dataset report in Make Data Count's SUSHI shape (``/api/v1/stats/report``)."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import exceptions, permissions, serializers
from rest_framework.request import Request
from rest_framework.response import Response

from openem.api.authentication import TokenScopePermission
from openem.api.exceptions import error_responses
from openem.api.views import ApiView
from repository import access
from repository.models import Dataset

from . import api_docs as docs
from . import selectors

READ_ONLY = [TokenScopePermission, permissions.AllowAny]
MONTH = re.compile(r"^(\d{4})-(\d{2})$")
REPORT_MAX_MONTHS = 36


class UsageSerializer(serializers.Serializer[Any]):
    views = serializers.IntegerField(help_text="Total investigations (COUNTER).")
    unique_views = serializers.IntegerField(help_text="Unique investigations.")
    downloads = serializers.IntegerField(help_text="Total requests (COUNTER).")
    unique_downloads = serializers.IntegerField(help_text="Unique requests.")


class MonthUsageSerializer(UsageSerializer):
    month = serializers.CharField(help_text="The month, e.g. `2026-11`.")


class DatasetUsageSerializer(UsageSerializer):
    pid = serializers.CharField()
    by_month = MonthUsageSerializer(many=True)


def _month(value: str, name: str) -> dt.date:
    match = MONTH.match(value.strip())
    if not match:
        raise exceptions.ValidationError({name: [f"use a month like 2026-11, not {value!r}"]})
    year, month = int(match.group(1)), int(match.group(2))
    if not 1 <= month <= 12 or year < 2000:
        raise exceptions.ValidationError({name: [f"{value} is not a month"]})
    return dt.date(year, month, 1)


class ReportQuerySerializer(serializers.Serializer[Any]):
    begin_date = serializers.CharField(help_text="First month, e.g. `2026-01`.")
    end_date = serializers.CharField(
        required=False, help_text="Last month (default: the first month)."
    )

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        begin = _month(attrs["begin_date"], "begin_date")
        end = _month(attrs.get("end_date") or attrs["begin_date"], "end_date")
        if end < begin:
            raise exceptions.ValidationError(
                {"end_date": [f"{end:%Y-%m} is before begin_date {begin:%Y-%m}"]}
            )
        today = dt.date.today()
        if begin > today:
            raise exceptions.ValidationError({"begin_date": [f"{begin:%Y-%m} is in the future"]})
        months = (end.year - begin.year) * 12 + end.month - begin.month + 1
        if months > REPORT_MAX_MONTHS:
            raise exceptions.ValidationError(
                {"end_date": [f"a report covers at most {REPORT_MAX_MONTHS} months, not {months}"]}
            )
        following = (end.replace(day=28) + dt.timedelta(days=4)).replace(day=1)
        return {"begin": begin, "end": following - dt.timedelta(days=1)}


class DatasetUsageView(ApiView[Dataset]):
    permission_classes = READ_ONLY
    serializer_class = DatasetUsageSerializer

    @extend_schema(
        operation_id="datasets_usage",
        summary="A dataset's usage",
        description=docs.DATASETS_USAGE,
        parameters=[OpenApiParameter("pid", str, OpenApiParameter.PATH)],
        responses={200: DatasetUsageSerializer, **error_responses(404, 429)},
    )
    def get(self, request: Request, pid: str) -> Response:
        dataset = access.datasets_visible_to(request.user).filter(pid=pid).first()
        if dataset is None:
            raise exceptions.NotFound(f"no dataset {pid} exists or is visible to you")
        usage = selectors.dataset_usage(dataset)
        body = {
            "pid": dataset.pid,
            **usage.as_dict(),
            "by_month": selectors.dataset_usage_by_month(dataset),
        }
        return Response(DatasetUsageSerializer(body).data)


class UsageReportView(ApiView[Dataset]):
    permission_classes = READ_ONLY
    serializer_class = ReportQuerySerializer

    @extend_schema(
        operation_id="stats_report",
        summary="Monthly dataset usage report (SUSHI)",
        description=docs.STATS_REPORT,
        parameters=[ReportQuerySerializer],
        responses={
            200: inline_serializer(
                "UsageReport",
                {
                    "report-header": serializers.DictField(),
                    "report-datasets": serializers.ListField(child=serializers.DictField()),
                },
            ),
            **error_responses(400, 429),
        },
    )
    def get(self, request: Request) -> Response:
        query = ReportQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        period = query.validated_data
        return Response(
            selectors.usage_report(user=request.user, begin=period["begin"], end=period["end"])
        )
