"""``python -m bench.cli_transfer``: ``openem upload`` and ``openem download`` of one big file
(1 GiB) against SeaweedFS's S3 server, next to ``aws s3 cp`` against the same server, in the same run.

The portal runs as ``manage.py runserver`` on a loopback port over a fresh database (SQLite in a
temporary folder, or a fresh PostgreSQL database when ``DATABASE_URL`` points at PostgreSQL),
with the S3 settings pointing at the SeaweedFS server. Both clients run as subprocesses, timed from
start to exit, alternating (aws, openem, aws, ...) so that each pair saw the same load:

- upload: ``aws s3 cp FILE s3://...`` vs ``openem upload DIR --dataset PID`` (which also
  registers the file through the API and computes its SHA-256 for ingest to verify, while it
  sends; both send each part's CRC32);
- download: ``aws s3 cp s3://... FILE`` vs ``openem download PID --to DIR`` (which verifies the
  SHA-256 against the manifest).

Ingest between the two (checksum, header) is not timed: with Redis at
``OPENEM_BENCH_REDIS_URL`` (default ``redis://127.0.0.1:6379/13``) the upload only queues it, as
in production, and a Celery worker started for the purpose runs it afterwards; without Redis it
runs inside the upload's last request (noted in the results). awscli is used from the PATH, or
installed into the virtualenv if missing. Results: ``bench/results/cli_transfer.json``.

    python -m bench.cli_transfer                      # 1 GiB, two rounds
    python -m bench.cli_transfer --size 256MiB --repeats 4
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from bench.common import (
    ROOT,
    S3Server,
    free_port,
    fresh_postgres_database,
    parse_size,
    rate,
    s3_server,
    wait_for_port,
    write_results,
)

NAME = "cli_transfer"
GOAL = 0.9
BENCH_DATABASE = "openem_bench_cli"
DEFAULT_REDIS = "redis://127.0.0.1:6379/13"
TIMEOUT = 3600


def _log(message: str) -> None:
    print(f"[{NAME}] {message}", file=sys.stderr, flush=True)


def _run(
    command: list[str], env: dict[str, str], timeout: float = TIMEOUT
) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(  # noqa: S603 - our own commands
        command, env=env, cwd=ROOT, capture_output=True, text=True, timeout=timeout
    )
    if result.returncode != 0:
        raise RuntimeError(
            f"{' '.join(command[:6])} ... exited with {result.returncode}:\n"
            f"{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
        )
    return result


def _timed(command: list[str], env: dict[str, str]) -> tuple[float, str]:
    started = time.perf_counter()
    result = _run(command, env)
    return time.perf_counter() - started, result.stdout


# --- the pieces ------------------------------------------------------------------------------------


def aws_command() -> list[str]:
    """awscli from the virtualenv or the PATH; installed into the virtualenv if neither."""
    venv_aws = Path(sys.executable).with_name("aws")
    if venv_aws.exists():
        return [str(venv_aws)]
    found = shutil.which("aws")
    if found:
        return [found]
    _log("awscli not found: pip install awscli (into this virtualenv, for the benchmark only)")
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "awscli"], check=True)  # noqa: S603
    return [str(venv_aws)]


def redis_url() -> str | None:
    url = os.environ.get("OPENEM_BENCH_REDIS_URL", DEFAULT_REDIS)
    try:
        import redis

        if redis.Redis.from_url(url, socket_connect_timeout=1).ping():
            return url
    except Exception:  # noqa: S110 - no Redis: ingest runs in-process
        pass
    return None


def database_url(workdir: Path) -> tuple[str, str]:
    """(DATABASE_URL for the portal, a description): a fresh PostgreSQL database if
    DATABASE_URL points at PostgreSQL, else SQLite in the work folder."""
    configured = os.environ.get("DATABASE_URL", "")
    if configured.startswith(("postgres://", "postgresql://")):
        return fresh_postgres_database(configured, BENCH_DATABASE), "postgresql"
    return f"sqlite:///{workdir / 'db.sqlite3'}", "sqlite"


def portal_env(
    workdir: Path, server: S3Server, db_url: str, broker: str | None, part_size: int | None
) -> dict[str, str]:
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("S3_", "DATABASE_URL", "CELERY_", "REDIS_URL", "DJANGO_", "OPENEM_"))
    }
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": "openem.settings",
            "OPENEM_DATA_DIR": str(workdir / "var"),
            "DATABASE_URL": db_url,
            "S3_BUCKET": server.bucket,
            "S3_ENDPOINT_URL": server.endpoint_url,
            "S3_ACCESS_KEY_ID": server.access_key,
            "S3_SECRET_ACCESS_KEY": server.secret_key,
            "S3_REGION": server.region,
            "PYTHONUNBUFFERED": "1",
        }
    )
    if part_size:
        env["OPENEM_UPLOAD_PART_SIZE"] = str(part_size)
    if broker:
        env["CELERY_BROKER_URL"] = broker
    return env


SETUP_CODE = """
import json
from django.contrib.auth import get_user_model
import storage
from ingest.uploads import part_size_for
from repository import tokens
from repository.models import Facility, FacilityMembership, FacilityRole
from repository.services import dataset_create

storage.get_store().ensure_bucket()
facility, _ = Facility.objects.get_or_create(slug="bench", defaults={"name": "Bench facility"})
user, _ = get_user_model().objects.get_or_create(username="bench-staff")
FacilityMembership.objects.get_or_create(user=user, facility=facility, defaults={"role": FacilityRole.STAFF})
_, secret = tokens.token_create(user=user, name="cli transfer bench", scope="read_write")
pids = [dataset_create(actor=user, facility=facility, technique="other", title=f"CLI bench {i}").pid for i in range(COUNT)]
print(json.dumps({"token": secret, "pids": pids, "part_size": part_size_for(SIZE)}))
"""


def worker_command() -> list[str]:
    return [
        sys.executable, "-m", "celery", "-A", "openem", "worker", "--loglevel=INFO",
        "--concurrency=2", "--without-gossip", "--without-mingle", "-Q", "default,ingest,export",
    ]  # fmt: skip


def wait_for_worker(log: Path, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if log.exists() and "ready." in log.read_text(errors="replace"):
            return
        time.sleep(0.2)
    raise RuntimeError(f"the Celery worker did not start:\n{log.read_text(errors='replace')}")


@contextlib.contextmanager
def background(
    command: list[str], env: dict[str, str], log: Path
) -> Iterator[subprocess.Popen[bytes]]:
    with open(log, "wb") as out:
        process = subprocess.Popen(  # noqa: S603 - our own commands
            command, env=env, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        yield process
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)


def make_file(path: Path, size: int) -> str:
    """``size`` random bytes (incompressible), returning their SHA-256."""
    path.parent.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256()
    block = 64 * 1024 * 1024
    with open(path, "wb") as out:
        remaining = size
        while remaining:
            data = os.urandom(min(block, remaining))
            out.write(data)
            digest.update(data)
            remaining -= len(data)
    return digest.hexdigest()


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(8 * 1024 * 1024):
            digest.update(block)
    return digest.hexdigest()


# --- the run -------------------------------------------------------------------------------------


def run(args: argparse.Namespace) -> dict[str, Any]:
    size = parse_size(args.size)
    workdir = Path(tempfile.mkdtemp(prefix="openem-bench-cli-"))
    _log(f"work folder {workdir}")
    aws = aws_command()
    aws_version = subprocess.run(  # noqa: S603
        [*aws, "--version"], capture_output=True, text=True, check=False
    )
    broker = redis_url()
    try:
        with s3_server(workdir) as server:
            db_url, database = database_url(workdir)
            env = portal_env(
                workdir,
                server,
                db_url,
                broker,
                parse_size(args.part_size) if args.part_size else None,
            )
            _log(f"database {database}; broker {broker or 'none (ingest in-process)'}")
            _run([sys.executable, "manage.py", "migrate", "--noinput"], env)
            setup = _run(
                [
                    sys.executable,
                    "manage.py",
                    "shell",
                    "-c",
                    SETUP_CODE.replace("COUNT", str(args.repeats)).replace("SIZE", str(size)),
                ],
                env,
            )
            config = json.loads(setup.stdout.strip().splitlines()[-1])
            part_size = int(config["part_size"])
            _log(f"upload parts of {part_size / 2**20:g} MiB (the portal's choice for this size)")
            if broker:
                # A worker declares the queues on the broker; until one has, Redis would drop
                # the ingest messages the upload sends.
                with background(worker_command(), env, workdir / "worker-warmup.log"):
                    wait_for_worker(workdir / "worker-warmup.log")
            port = free_port()
            portal = f"http://127.0.0.1:{port}"
            with background(
                [sys.executable, "manage.py", "runserver", f"127.0.0.1:{port}", "--noreload"],
                env,
                workdir / "runserver.log",
            ):
                wait_for_port(port, timeout=60)
                figures = _measure(args, workdir, server, env, aws, portal, config, size, broker)
    finally:
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)
    figures["setup"] = {
        "server": "manage.py runserver (threaded), S3 on SeaweedFS, both on 127.0.0.1",
        "database": database,
        "ingest": "queued to Redis, run by a Celery worker after the upload (not timed)"
        if broker
        else "in-process, inside the upload's last request (timed with the upload)",
        "awscli": (aws_version.stdout or aws_version.stderr).strip(),
        "aws_defaults": "s3 cp: 8 MiB multipart chunks, 10 concurrent requests",
        "openem": f"--parallel {args.parallel}; upload parts of {part_size / 2**20:g} MiB, "
        "the portal's choice for this size ("
        + (f"OPENEM_UPLOAD_PART_SIZE={args.part_size}" if args.part_size else "its default")
        + "); download ranges of 64 MiB; SHA-256 computed before the upload and verified "
        "after the download",
    }
    figures["upload_part_size"] = part_size
    return figures


def _measure(
    args: argparse.Namespace,
    workdir: Path,
    server: S3Server,
    env: dict[str, str],
    aws: list[str],
    portal: str,
    config: dict[str, Any],
    size: int,
    broker: str | None,
) -> dict[str, Any]:
    source_dir = workdir / "upload"
    source = source_dir / "big.bin"
    _log(f"writing {size / 2**30:.2f} GiB of random bytes")
    expected = make_file(source, size)
    aws_env = {
        **env,
        "AWS_ACCESS_KEY_ID": server.access_key,
        "AWS_SECRET_ACCESS_KEY": server.secret_key,
        "AWS_DEFAULT_REGION": server.region,
        "AWS_CONFIG_FILE": str(workdir / "aws-config"),  # the defaults, whatever ~/.aws says
        "AWS_SHARED_CREDENTIALS_FILE": str(workdir / "aws-credentials"),
    }
    openem = [
        sys.executable, "-m", "openem_client", "--server", portal, "--token", config["token"],
        "--no-progress",
    ]  # fmt: skip
    s3 = [*aws, "--endpoint-url", server.endpoint_url, "s3", "cp", "--only-show-errors"]
    times: dict[str, list[float]] = {
        "aws_upload": [],
        "openem_upload": [],
        "aws_download": [],
        "openem_download": [],
    }

    def timed(name: str, command: list[str], command_env: dict[str, str]) -> str:
        seconds, output = _timed(command, command_env)
        times[name].append(seconds)
        _log(f"  {name}: {seconds:.1f} s, {rate(size, seconds)} MiB/s")
        return output

    def in_turns(index: int, runs: list[Callable[[], Any]]) -> None:
        """aws first in odd rounds, openem first in even ones: the S3 server slows down as it
        fills, and neither client should always meet the fuller one."""
        for run in runs if index % 2 == 0 else reversed(runs):
            run()

    # A portal in use has loaded its code and opened its database: the first request to a
    # fresh runserver takes a second, which only openem would pay (aws never asks the portal).
    _run([*openem, "files", config["pids"][0], "--json"], env)
    load = [round(value, 2) for value in os.getloadavg()]
    sessions = []
    for index, pid in enumerate(config["pids"]):
        _log(f"upload, round {index + 1}")

        def openem_upload(pid: str = pid) -> None:
            command = [*openem, "upload", str(source_dir), "--dataset", pid, "--json"]
            output = timed("openem_upload", [*command, "--parallel", str(args.parallel)], env)
            report = json.loads(output)["upload"]
            assert report["files_uploaded"] == 1 and report["bytes_uploaded"] == size, report
            sessions.append(report["session"])

        key = f"s3://{server.bucket}/aws/{index}/big.bin"
        in_turns(
            index,
            [
                lambda key=key: timed("aws_upload", [*s3, str(source), key], aws_env),
                openem_upload,
            ],
        )

    if broker:
        _log("ingest (not timed): a Celery worker checksums the uploaded files")
        with background(worker_command(), env, workdir / "worker.log"):
            for session in sessions:
                _run(
                    [*openem, "status", str(session), "--wait", "--interval", "1", "--json"],
                    env,
                    timeout=900,
                )
    for pid in config["pids"]:
        files = json.loads(_run([*openem, "files", pid, "--json"], env).stdout)
        assert files[0]["checksum_sha256"] == expected, files

    for index, pid in enumerate(config["pids"]):
        target = workdir / "download" / str(index)
        _log(f"download, round {index + 1}")

        def openem_download(pid: str = pid, target: Path = target) -> None:
            command = [*openem, "download", pid, "--to", str(target / "openem"), "--json"]
            output = timed("openem_download", [*command, "--parallel", str(args.parallel)], env)
            report = json.loads(output)
            assert report["ok"] and report["verified_files"] == 1, report

        key = f"s3://{server.bucket}/aws/{index}/big.bin"
        aws_target = str(target / "aws" / "big.bin")
        in_turns(
            index,
            [
                lambda key=key, aws_target=aws_target: timed(
                    "aws_download", [*s3, key, aws_target], aws_env
                ),
                openem_download,
            ],
        )
        assert sha256_of(target / "aws" / "big.bin") == expected
        assert sha256_of(target / "openem" / "big.bin") == expected
        shutil.rmtree(target)

    best = {name: min(values) for name, values in times.items()}
    median = {name: sorted(values)[len(values) // 2] for name, values in times.items()}
    throughput = {name: rate(size, seconds) for name, seconds in best.items()}
    ratio = {
        "upload": round(best["aws_upload"] / best["openem_upload"], 2),
        "download": round(best["aws_download"] / best["openem_download"], 2),
    }
    ratio_median = {
        "upload": round(median["aws_upload"] / median["openem_upload"], 2),
        "download": round(median["aws_download"] / median["openem_download"], 2),
    }
    return {
        "size_bytes": size,
        "repeats": args.repeats,
        "seconds_best": {name: round(value, 2) for name, value in best.items()},
        "seconds_all": {name: [round(v, 2) for v in values] for name, values in times.items()},
        "order": "aws, openem in rounds 1, 3, ...; the other way round in rounds 2, 4, ...",
        "throughput_mib_s": throughput,
        "ratio_openem_to_aws": ratio,
        "ratio_openem_to_aws_of_medians": ratio_median,
        "goal": f"openem throughput >= {GOAL}x aws s3 cp",
        # The machine may be shared: the 1/5/15-minute load averages at the start and the end.
        "load_average": {"start": load, "end": [round(v, 2) for v in os.getloadavg()]},
        "meets_goal": all(value >= GOAL for value in ratio.values()),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.cli_transfer", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--size", default="1GiB", help="file size (1GiB)")
    parser.add_argument(
        "--repeats", type=int, default=3, help="rounds, in alternating order (3; best counts)"
    )
    parser.add_argument("--parallel", type=int, default=8, help="openem --parallel (8)")
    parser.add_argument(
        "--part-size",
        default="",
        help="set the portal's OPENEM_UPLOAD_PART_SIZE (default: leave the portal's own "
        "default, what users get; awscli sends 8MiB parts)",
    )
    parser.add_argument("--keep", action="store_true", help="keep the work folder")
    args = parser.parse_args(argv)
    # Stopped with SIGTERM: still stop the servers and remove the work folder.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    figures = run(args)
    path = write_results(NAME, figures)
    ratio = figures["ratio_openem_to_aws"]
    speed = figures["throughput_mib_s"]
    print(
        f"{NAME}: upload openem {speed['openem_upload']} MiB/s vs aws {speed['aws_upload']} MiB/s "
        f"({ratio['upload']}x); download openem {speed['openem_download']} MiB/s vs aws "
        f"{speed['aws_download']} MiB/s ({ratio['download']}x); goal >= {GOAL}x: "
        f"{'met' if figures['meets_goal'] else 'NOT met'} -> {path.relative_to(ROOT)}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
