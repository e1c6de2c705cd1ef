"""``python -m bench watch``: ``openem watch`` against ``openem upload`` of the same finished folder,
in the same run, for many small files and for a few large ones, and the delay from a file
becoming stable to it being ``ready`` in the portal while a session is acquired.

Set up as ``bench.cli_transfer`` does: ``manage.py runserver`` on a loopback port over a fresh
database (PostgreSQL ``openem_bench_watch`` when ``DATABASE_URL`` points at PostgreSQL, else
SQLite), SeaweedFS's S3 server, and (with Redis at ``OPENEM_BENCH_REDIS_URL``, default
``redis://127.0.0.1:6379/4``) a Celery worker for ingest. The clients are subprocesses, timed
from start to exit:

- throughput: a finished EPU-shaped folder is sent by ``openem upload DIR --dataset PID`` and by
  ``openem watch DIR --once --stable 0s`` (which also walks the folder, keeps its SQLite state and
  creates the dataset), ``--watch-rounds`` (2) rounds alternating which goes first, the best
  of each counting; files/s and MiB/s of each, and the ratio (goal: watch >= 0.9x upload). Ingest is queued then (not timed); without Redis it runs in the
  last request of each file, for both alike.
- delay: the watcher runs (``--stable 2s --interval 1s``) while a writer creates files one by
  one; a file is stable ``--stable`` after its last write, and it is ready when the files
  listing first shows it settled (``ready``, or ``failed`` for a format ingest cannot read) (polled every 0.25 s, so figures are up to 0.25 s late).
  p50/p95/max of ready - stable. This runs first, with the ingest worker up.

    python -m bench watch                                   # 2,000 x 64 KiB, 4 x 256 MiB
    python -m bench watch --watch-small 10000 --watch-large 20 --watch-large-size 1GiB
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from bench.cli_transfer import (
    _run,
    background,
    portal_env,
    wait_for_worker,
    worker_command,
)
from bench.common import (
    ROOT,
    free_port,
    fresh_postgres_database,
    parse_size,
    rate,
    s3_server,
    wait_for_port,
)

NAME = "watch"
GOAL = 0.9
BENCH_DATABASE = "openem_bench_watch"
DEFAULT_REDIS = "redis://127.0.0.1:6379/4"


def _log(message: str) -> None:
    print(f"[{NAME}] {message}", file=sys.stderr, flush=True)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--watch-small", type=int, default=2000, help="watch: small files (2000)")
    parser.add_argument("--watch-small-size", default="64KiB", help="watch: their size (64KiB)")
    parser.add_argument("--watch-large", type=int, default=4, help="watch: large files (4)")
    parser.add_argument("--watch-large-size", default="256MiB", help="watch: their size (256MiB)")
    parser.add_argument(
        "--watch-delay-files", type=int, default=120, help="watch: files of the delay run (120)"
    )
    parser.add_argument("--watch-parallel", type=int, default=8, help="watch: --parallel (8)")
    parser.add_argument(
        "--watch-rounds",
        type=int,
        default=2,
        help="watch: rounds per workload, in alternating order (2; the best of each counts)",
    )
    parser.add_argument("--watch-keep", action="store_true", help="watch: keep the work folder")


def _redis() -> str | None:
    url = os.environ.get("OPENEM_BENCH_REDIS_URL", DEFAULT_REDIS)
    try:
        import redis

        if redis.Redis.from_url(url, socket_connect_timeout=1).ping():
            return url
    except Exception:  # noqa: S110 - no Redis: ingest runs in-process
        pass
    return None


SETUP_CODE = """
import json
from django.contrib.auth import get_user_model
import storage
from repository import tokens
from repository.models import Facility, FacilityMembership, FacilityRole, Instrument
from repository.services import dataset_create

storage.get_store().ensure_bucket()
facility, _ = Facility.objects.get_or_create(slug="bench", defaults={"name": "Bench facility"})
instrument, _ = Instrument.objects.get_or_create(facility=facility, name="Krios bench", defaults={"manufacturer": "TFS", "model": "Titan Krios G4"})
user, _ = get_user_model().objects.get_or_create(username="bench-watch")
FacilityMembership.objects.get_or_create(user=user, facility=facility, defaults={"role": FacilityRole.STAFF})
_, service = tokens.token_create(user=user, name="watch bench", scope="facility_upload", facility=facility)
_, staff = tokens.token_create(user=user, name="upload bench", scope="read_write")
pids = [dataset_create(actor=user, facility=facility, technique="spa", title=f"upload bench {i}").pid for i in range(COUNT)]
print(json.dumps({"service": service, "staff": staff, "pids": pids, "instrument": instrument.pk}))
"""


def make_session(root: Path, count: int, size: int, seed: int) -> int:
    """An EPU-shaped finished session folder of ``count`` files of ``size`` random bytes."""
    (root / "Images-Disc1").mkdir(parents=True, exist_ok=True)
    (root / "EpuSession.dm").write_bytes(b'<?xml version="1.0"?><EpuSessionXml />\n')
    total = 0
    block = os.urandom(min(size, 64 * 1024 * 1024))
    for index in range(count):
        folder = root / "Images-Disc1" / f"GridSquare_{index // 500 + 1}" / "Data"
        folder.mkdir(parents=True, exist_ok=True)
        with open(folder / f"FoilHole_{seed}_{index:05d}_Data.dat", "wb") as out:
            out.write(index.to_bytes(8, "little"))
            remaining = size - 8
            while remaining > 0:
                piece = block[: min(len(block), remaining)]
                out.write(piece)
                remaining -= len(piece)
        total += size
    return total + (root / "EpuSession.dm").stat().st_size


def run(args: argparse.Namespace) -> dict[str, Any]:
    workdir = Path(tempfile.mkdtemp(prefix="openem-bench-watch-"))
    _log(f"work folder {workdir}")
    broker = _redis()
    configured = os.environ.get("DATABASE_URL", "")
    if configured.startswith(("postgres://", "postgresql://")):
        db_url, database = fresh_postgres_database(configured, BENCH_DATABASE), "postgresql"
    else:
        db_url, database = f"sqlite:///{workdir / 'db.sqlite3'}", "sqlite"
    try:
        with s3_server(workdir) as server:
            env = portal_env(workdir, server, db_url, broker, None)
            _log(f"database {database}; broker {broker or 'none (ingest in-process)'}")
            _run([sys.executable, "manage.py", "migrate", "--noinput"], env)
            code = SETUP_CODE.replace("COUNT", str(2 * args.watch_rounds))
            setup = _run([sys.executable, "manage.py", "shell", "-c", code], env)
            config = json.loads(setup.stdout.strip().splitlines()[-1])
            port = free_port()
            portal = f"http://127.0.0.1:{port}"
            with background(
                [sys.executable, "manage.py", "runserver", f"127.0.0.1:{port}", "--noreload"],
                env,
                workdir / "runserver.log",
            ):
                wait_for_port(port, timeout=60)
                figures: dict[str, Any] = {}
                if broker:
                    # Ingest messages an earlier run queued (and no worker took) would come
                    # first and delay every file of this one.
                    purge = [sys.executable, "-m", "celery", "-A", "openem", "purge", "-f"]
                    _run([*purge, "-Q", "default,ingest,export"], env)
                    with background(worker_command(), env, workdir / "worker.log"):
                        wait_for_worker(workdir / "worker.log")
                        figures["delay"] = _delay(args, workdir, env, portal, config)
                else:
                    figures["delay"] = _delay(args, workdir, env, portal, config)
                figures["small"] = _throughput(
                    "small", args.watch_small, parse_size(args.watch_small_size), args,
                    workdir, env, portal, config, 0,
                )  # fmt: skip
                figures["large"] = _throughput(
                    "large", args.watch_large, parse_size(args.watch_large_size), args,
                    workdir, env, portal, config, 1,
                )  # fmt: skip
    finally:
        if not args.watch_keep:
            shutil.rmtree(workdir, ignore_errors=True)
    ratios = {kind: figures[kind]["ratio_watch_to_upload"] for kind in ("small", "large")}
    figures.update(
        setup={
            "server": "manage.py runserver (threaded), S3 on SeaweedFS, both on 127.0.0.1",
            "database": database,
            "ingest": "Celery worker (delay run); queued, not timed (throughput runs)"
            if broker
            else "in-process, in each file's last request (timed, for both clients)",
            "parallel": args.watch_parallel,
        },
        goal=f"watch throughput >= {GOAL}x openem upload of the finished folder",
        meets_goal=all(value >= GOAL for value in ratios.values()),
        summary=(
            f"{NAME}: small {figures['small']['watch']['files_per_s']} files/s "
            f"({ratios['small']}x upload), large {figures['large']['watch']['mib_per_s']} MiB/s "
            f"({ratios['large']}x upload); stable->ready p95 {figures['delay']['p95_s']} s; "
            f"goal >= {GOAL}x: {'met' if all(v >= GOAL for v in ratios.values()) else 'NOT met'}"
        ),
    )
    return figures


def _openem(portal: str, token: str) -> list[str]:
    return [sys.executable, "-m", "openem_client", "--server", portal, "--token", token,
            "--no-progress"]  # fmt: skip


def _watch_argv(portal: str, config: dict[str, Any], folder: Path, state: Path) -> list[str]:
    return [
        *_openem(portal, config["service"]), "watch", str(folder), "--facility", "bench",
        "--instrument", str(config["instrument"]), "--state-db", str(state), "--quiet",
    ]  # fmt: skip


def _throughput(
    kind: str,
    count: int,
    size: int,
    args: argparse.Namespace,
    workdir: Path,
    env: dict[str, str],
    portal: str,
    config: dict[str, Any],
    index: int,
) -> dict[str, Any]:
    parent = workdir / f"{kind}-parent"
    session = parent / f"Session_{kind}_new"
    _log(f"{kind}: writing {count} files of {size / 2**20:g} MiB")
    total = make_session(session, count, size, seed=index)
    files = count + 1
    parallel = str(args.watch_parallel)

    times: dict[str, list[float]] = {"upload": [], "watch": []}
    order_seen = []
    for round_number in range(args.watch_rounds):
        # A fresh dataset for each: the folder's name is the watched dataset's title.
        named = parent / f"Session_{kind}_{round_number}"
        session.rename(named)
        session = named
        pid = config["pids"][index * args.watch_rounds + round_number]
        state = workdir / f"{kind}-{round_number}.sqlite3"
        runs = [("upload", pid), ("watch", state)]
        if (index + round_number) % 2:
            runs.reverse()
        order_seen.append([name for name, _ in runs])
        for name, target in runs:
            started = time.perf_counter()
            if name == "upload":
                command = [*_openem(portal, config["staff"]), "upload", str(session)]
                command += ["--dataset", str(target), "--parallel", parallel, "--json"]
            else:
                command = [*_watch_argv(portal, config, parent, Path(target)), "--once"]
                command += ["--stable", "0s", "--parallel", parallel]
            _run(command, env)
            seconds = time.perf_counter() - started
            times[name].append(seconds)
            _log(
                f"  {kind} {name}: {seconds:.1f} s, {files / seconds:.0f} files/s, "
                f"{rate(total, seconds)} MiB/s"
            )
    seconds = {name: min(values) for name, values in times.items()}
    return {
        "files": files,
        "bytes": total,
        "order": order_seen,
        "seconds_all": {name: [round(v, 2) for v in values] for name, values in times.items()},
        **{
            name: {
                "seconds": round(value, 2),
                "files_per_s": round(files / value, 1),
                "mib_per_s": rate(total, value),
            }
            for name, value in seconds.items()
        },
        "ratio_watch_to_upload": round(seconds["upload"] / seconds["watch"], 2),
    }


def _delay(
    args: argparse.Namespace,
    workdir: Path,
    env: dict[str, str],
    portal: str,
    config: dict[str, Any],
) -> dict[str, Any]:
    from openem_client import Client

    stable = 2.0
    parent = workdir / "live"
    session = parent / "Session_live"
    session.mkdir(parents=True)
    (session / "EpuSession.dm").write_bytes(b"<EpuSessionXml />\n")
    argv = _watch_argv(portal, config, parent, workdir / "live-state.sqlite3")
    argv += ["--stable", f"{stable}s", "--interval", "1s", "--parallel", str(args.watch_parallel)]
    argv += ["--log-file", str(workdir / "watch-live.log"), "--verbose"]
    written: dict[str, float] = {}  # path -> when it became stable
    count = args.watch_delay_files
    _log(f"delay: {count} files of 1 MiB written one by one while the watcher runs")

    def writer() -> None:
        data = os.urandom(1024 * 1024)
        for index in range(count):
            relative = f"Images-Disc1/GridSquare_1/Data/FoilHole_{index:05d}_Data.dat"
            path = session / relative
            path.parent.mkdir(parents=True, exist_ok=True)
            with open(path, "wb") as out:
                out.write(index.to_bytes(8, "little") + data)
            written[relative] = time.time() + stable
            time.sleep(0.05)

    ready: dict[str, float] = {}
    with background(argv, env, workdir / "watch-live.log"):
        thread = threading.Thread(target=writer)
        thread.start()
        with Client(portal, config["service"]) as client:
            deadline = time.monotonic() + 120
            pid = ""
            while sum(p in ready for p in written) < count and time.monotonic() < deadline:
                time.sleep(0.25)
                if not pid:
                    # The agent's own record (the search index may lag behind a new dataset).
                    pid = _pid_in_state(workdir / "live-state.sqlite3")
                    continue
                now = time.time()
                for datafile in client.files(pid):
                    if datafile["path"] not in written:
                        continue  # EpuSession.dm
                    if datafile["state"] in ("ready", "failed"):  # settled: ingest is done
                        ready.setdefault(datafile["path"], now)
        thread.join()
    delays = sorted(ready[p] - written[p] for p in written if p in ready)
    if len(delays) < count:
        raise RuntimeError(f"only {len(delays)} of {count} files became ready in time")

    def quantile(q: float) -> float:
        return round(delays[min(len(delays) - 1, int(q * len(delays)))], 2)

    return {
        "files": count,
        "stable_seconds": stable,
        "poll_seconds": 0.25,
        "p50_s": quantile(0.5),
        "p95_s": quantile(0.95),
        "max_s": round(delays[-1], 2),
    }


def _pid_in_state(path: Path) -> str:
    import sqlite3

    if not path.exists():
        return ""
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5)
    try:
        row = db.execute("SELECT pid FROM sessions WHERE pid != ''").fetchone()
    except sqlite3.Error:
        return ""
    finally:
        db.close()
    return str(row[0]) if row else ""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.watch")
    add_arguments(parser)
    args = parser.parse_args(argv)
    from bench.common import write_results

    figures = run(args)
    path = write_results(NAME, figures)
    print(f"{figures['summary']} -> {path.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
