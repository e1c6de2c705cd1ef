"""Benchmark of the REST API on PostgreSQL: ``python -m bench.api``.

Not a test: it prints figures and writes ``bench/results/api.json``. Goals (issue 6):

- batch registration of 10,000 files: < 5 s end to end (create the session, send the list,
  read the answer);
- dataset list, 50 per page, over 100,000 datasets: p95 < 100 ms;
- files listing of a dataset of 1,000,000 files, any page: p95 < 100 ms.

It reuses the web benchmark's database and data (``bench.web``: 100,000 datasets and one
dataset of 1,000,000 files, loaded on first use). Requests go through the whole Django and
DRF stack in-process (``django.test.Client``: URL routing, real API-token authentication,
throttling, access rules, queries, JSON rendering), without a network; figures are wall time
and on-CPU time of this process plus its PostgreSQL backend (see ``bench.web._summary``).

    python -m bench.api
    python -m bench.api --files 10000 --loads 20
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import statistics
import sys
import time
from typing import Any
from urllib.parse import urlencode

from bench.web import (
    BIG_PID,
    DEFAULT_DATABASE_URL,
    LOADS,
    MARKER_FACILITY,
    RESULTS,
    _summary,
    _time,
    load,
    prepare,
    vacuum,
)

GOAL_REGISTER_SECONDS = 5.0
GOAL_P95_MS = 100.0

DATASET_LISTS = [
    "",
    "?page=2",
    "?page=400",
    "?technique=spa",
    "?technique=subtomo&ordering=title",
    "?q=apoferritin",
    "?q=spike+protein&technique=spa",
    "?keyword=nanodisc",
    f"?facility={MARKER_FACILITY}",
    "?created_after=2024-01-01&created_before=2024-12-31",
    "?ordering=oldest",
]


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.api", description=__doc__.split("\n")[0])
    parser.add_argument(
        "--database-url",
        default=os.environ.get("OPENEM_BENCH_WEB_DATABASE_URL", DEFAULT_DATABASE_URL),
    )
    parser.add_argument("--loads", type=int, default=LOADS, help="timed loads per URL")
    parser.add_argument("--files", type=int, default=10_000, help="files per registration")
    parser.add_argument("--registrations", type=int, default=3, help="timed registrations")
    return parser.parse_args(argv)


class Api:
    """``django.test.Client`` speaking to /api/v1/ with a real token (or none)."""

    def __init__(self, secret: str | None):
        from django.test import Client

        headers = {"HTTP_AUTHORIZATION": f"Token {secret}"} if secret else {}
        self.client = Client(SERVER_NAME="localhost", **headers)

    def get(self, url: str) -> dict[str, Any]:
        response = self.client.get(url)
        assert response.status_code == 200, (url, response.status_code, response.content[:500])
        return json.loads(response.content)

    def post(self, url: str, body: Any) -> dict[str, Any]:
        response = self.client.post(url, json.dumps(body), content_type="application/json")
        assert response.status_code in (200, 201), (url, response.status_code, response.content)
        return json.loads(response.content)


def _cursor(path: str) -> str:
    """DRF's cursor for "the page after ``path``" (its own encoding: base64 of ``p=<path>``),
    so that any page can be asked for without walking there."""
    return base64.b64encode(urlencode({"p": path}).encode("ascii")).decode("ascii")


def bench_dataset_list(apis: dict[str, Api], loads: int) -> dict[str, Any]:
    from django.core.cache import cache

    results: dict[str, Any] = {}
    for who, api in apis.items():
        samples = []
        per_url = {}
        for query in DATASET_LISTS:
            url = f"/api/v1/datasets/{query}"
            page = api.get(url)  # warm-up; also checks the answer
            assert len(page["results"]) == min(50, max(0, page["count"] - 50 * _page(query)))
            # The throttle history is cache-kept: cleared before each load so that a run of
            # hundreds of requests is measured, not refused with 429.
            timed = _time(lambda u=url, a=api: a.get(u), loads, before=cache.clear)
            samples += timed
            per_url[query or "(first page)"] = {**_summary(timed), "count": page["count"]}
        results[who] = _summary(samples)
        results[f"{who}_per_url"] = per_url
    return results


def _page(query: str) -> int:
    for part in query.lstrip("?").split("&"):
        if part.startswith("page="):
            return int(part.split("=", 1)[1]) - 1
    return 0


def bench_file_list(api: Api, loads: int) -> dict[str, Any]:
    from django.core.cache import cache

    from repository.models import DataFile, Dataset

    big = Dataset.objects.get(pid=BIG_PID)
    total = DataFile.objects.filter(dataset=big).count()
    ordered = DataFile.objects.filter(dataset=big).order_by("path").values_list("path", flat=True)
    # Positions across the whole listing (found once, untimed): page k starts after these.
    positions = {
        f"after {share:.0%}": ordered[int(total * share)] for share in (0.1, 0.5, 0.9, 0.9999)
    }
    base = f"/api/v1/datasets/{BIG_PID}/files/"
    urls = {"first page": base}
    urls.update({name: f"{base}?cursor={_cursor(path)}" for name, path in positions.items()})
    urls["prefix Movies/, deep"] = (
        f"{base}?prefix=Movies/&cursor={_cursor('Movies/movie_0950000.tiff')}"
    )
    urls["format tiff"] = f"{base}?format=tiff"
    urls["newest id first"] = f"{base}?ordering=-id"
    results: dict[str, Any] = {"files": total}
    samples = []
    for name, url in urls.items():
        page = api.get(url)
        assert page["results"], (name, url)
        timed = _time(lambda u=url: api.get(u), loads, before=cache.clear)
        samples += timed
        results[name] = _summary(timed)
    # The goal is about pages as the API serves them (100 files); the largest page a client
    # may ask for (1,000) is reported beside them.
    results["all_pages"] = _summary(samples)
    big_page = f"{base}?page_size=1000"
    api.get(big_page)
    results["first page, 1000 per page (not in all_pages)"] = _summary(
        _time(lambda: api.get(big_page), loads, before=cache.clear)
    )
    # Walking: each "next" link from the first page, as a client following the cursor does.
    walked = []
    url = base
    for _ in range(loads):
        started = time.perf_counter()
        page = api.get(url)
        walked.append((time.perf_counter() - started, None))
        url = page["next"].split("://", 1)[-1].split("/", 1)[-1]
        url = "/" + url
        cache.clear()
    results["walking_next_links"] = _summary(walked)
    return results


def bench_register(api: Api, files: int, registrations: int) -> dict[str, Any]:
    """Create a dataset and an upload session, register ``files`` files in one request (and,
    for comparison, in requests of 1,000); timed end to end as a client sees it."""
    from django.core.cache import cache

    from repository.models import Dataset

    entries = [
        {
            "path": f"Images-Disc1/GridSquare_{i // 1000:04d}/Data/FoilHole_{i:07d}_EER.eer",
            "size": 1_800_000_000 + i,
            "sha256": f"{i:064x}",
        }
        for i in range(files)
    ]
    created: list[str] = []

    def register(batch: int) -> float:
        cache.clear()
        started = time.perf_counter()
        dataset = api.post(
            "/api/v1/datasets/",
            {"title": "Registration benchmark", "facility": MARKER_FACILITY, "technique": "spa"},
        )
        created.append(dataset["pid"])
        session = api.post("/api/v1/uploads/", {"dataset": dataset["pid"]})
        registered = 0
        for start in range(0, files, batch):
            answer = api.post(
                f"/api/v1/uploads/{session['id']}/files/",
                {"files": entries[start : start + batch]},
            )
            registered += len(answer["files"])
        seconds = time.perf_counter() - started
        assert registered == files, registered
        return seconds

    try:
        one_request = [register(files) for _ in range(registrations)]
        thousands = [register(1000) for _ in range(registrations)]
    finally:
        Dataset.objects.filter(pid__in=created).delete()
    return {
        "files": files,
        "one_request_seconds": [round(s, 3) for s in one_request],
        "one_request_median_s": round(statistics.median(one_request), 3),
        "requests_of_1000_seconds": [round(s, 3) for s in thousands],
        "requests_of_1000_median_s": round(statistics.median(thousands), 3),
    }


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    prepare(args.database_url)
    from django.contrib.auth import get_user_model
    from django.core.management import call_command
    from django.db import connection

    from repository import tokens
    from repository.models import TokenScope

    connection.settings_dict["CONN_MAX_AGE"] = None
    call_command("migrate", verbosity=0)
    loaded = load(False)
    vacuum()
    staff = get_user_model().objects.get(username="bench-staff")
    token, secret = tokens.token_create(
        user=staff, name="api benchmark", scope=TokenScope.READ_WRITE
    )
    figures: dict[str, Any] = {"data": loaded, "load_average_before": os.getloadavg()}
    # As the server does at start (openem/wsgi.py): what is loaded by now is frozen, so the
    # garbage collector's full passes scan only what requests create.
    from openem.wsgi import freeze_startup_objects

    Api(None).get("/api/v1/datasets/")
    figures["frozen_startup_objects"] = freeze_startup_objects()
    try:
        apis = {"anonymous": Api(None), "facility_staff_token": Api(secret)}
        figures["dataset_list"] = bench_dataset_list(apis, args.loads)
        print(
            f"dataset list: {json.dumps({k: v for k, v in figures['dataset_list'].items() if not k.endswith('_per_url')})}",
            flush=True,
        )
        figures["file_list"] = bench_file_list(apis["facility_staff_token"], args.loads)
        print(f"file list: {json.dumps(figures['file_list']['all_pages'])}", flush=True)
        figures["register"] = bench_register(
            apis["facility_staff_token"], args.files, args.registrations
        )
        print(f"registration: {json.dumps(figures['register'])}", flush=True)
    finally:
        tokens.token_revoke(actor=staff, token=token)
    dataset_p95 = max(
        figures["dataset_list"][who]["p95_ms"] for who in ("anonymous", "facility_staff_token")
    )
    files_p95 = figures["file_list"]["all_pages"]["p95_ms"]
    register_s = figures["register"]["one_request_median_s"]
    figures["goals"] = {
        "dataset_list_p95_under_100ms": dataset_p95 < GOAL_P95_MS,
        "file_list_p95_under_100ms": files_p95 < GOAL_P95_MS,
        "register_10000_under_5s": register_s < GOAL_REGISTER_SECONDS,
    }
    figures["load_average_after"] = os.getloadavg()
    figures["summary"] = (
        f"api: dataset list p95 {dataset_p95} ms (goal < {GOAL_P95_MS:.0f}), files list any page "
        f"p95 {files_p95} ms (goal < {GOAL_P95_MS:.0f}), register {args.files:,} files "
        f"{register_s} s (goal < {GOAL_REGISTER_SECONDS:.0f}); goals "
        + ", ".join(f"{k}: {'met' if v else 'NOT met'}" for k, v in figures["goals"].items())
    )
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "api.json").write_text(json.dumps(figures, indent=1))
    print(figures["summary"], flush=True)
    return 0 if all(figures["goals"].values()) else 1


if __name__ == "__main__":
    sys.exit(main())
