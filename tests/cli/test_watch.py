"""``openem watch`` against the live portal and the S3 server (SeaweedFS over HTTP): a simulated
EPU acquisition grows while the watcher runs in its own process; the dataset ends with exactly
the files, their bytes equal to the local files, nothing uploaded twice, no partial file ever
uploaded; killed with SIGKILL at random points and restarted, it loses and duplicates nothing."""

from __future__ import annotations

import hashlib
import random
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from django.db import connection

from bench.faultproxy import Fault, FaultProxy
from ingest.models import UploadSession, UploadSessionState
from repository import tokens
from repository.models import DataFile, Dataset, FacilityRole, TokenScope
from storage import get_store
from tests.cli.watch_support import (
    Acquisition,
    WatchProcess,
    local_checksums,
    samples_dir,
    wait_until,
)
from tests.factories import FacilityMembershipFactory, UserFactory

pytestmark = pytest.mark.skipif(
    connection.vendor == "sqlite",
    reason="the watcher's parallel requests need PostgreSQL behind the live server",
)


@pytest.fixture
def robot(world: Any) -> Any:
    user = UserFactory(username="krios1-watch")
    FacilityMembershipFactory(user=user, facility=world.facility, role=FacilityRole.STAFF)
    return user


@pytest.fixture
def service_token(world: Any, robot: Any) -> str:
    _token, secret = tokens.token_create(
        user=robot, name="watch", scope=TokenScope.FACILITY_UPLOAD, facility=world.facility
    )
    return secret


@pytest.fixture
def small_parts(settings: Any) -> None:
    settings.OPENEM_UPLOAD_PART_SIZE = 5 * 1024 * 1024  # the 33 MiB micrograph has 7 parts


@pytest.fixture
def watch(
    live_server: Any, tmp_path: Path, world: Any, service_token: str
) -> Callable[..., WatchProcess]:
    def make(
        folder: Path, *extra: str, token: str | None = None, server: str | None = None
    ) -> WatchProcess:
        argv = [
            "--server", server or live_server.url, "--token", token or service_token, "--retries", "3",
            "watch", str(folder),
            "--facility", "basel", "--instrument", str(world.instrument.pk),
            "--stable", "1.5s", "--interval", "0.3s", "--finish-marker", "SESSION_DONE",
            "--state-db", str(tmp_path / "state" / "watch.sqlite3"),
            "--log-file", str(tmp_path / "logs" / "watch.log"),
            "--parallel", "3", "-v",
            *extra,
        ]  # fmt: skip
        return WatchProcess(argv, tmp_path / "watch.out")

    return make


def stored_sha256(datafile: DataFile) -> str:
    digest = hashlib.sha256()
    for chunk in get_store().iter_chunks(datafile.storage_key):
        digest.update(chunk)
    return digest.hexdigest()


def check_portal_holds_exactly(folder: Path, acquisition: Acquisition) -> Dataset:
    datasets = list(Dataset.objects.filter(title=folder.name))
    assert len(datasets) == 1, "one dataset per session, never two"
    dataset = datasets[0]
    assert dataset.facility.slug == "basel"
    assert dataset.instrument is not None
    assert dataset.technique == "spa"
    local = local_checksums(folder, skip=(acquisition.marker,))
    files = list(DataFile.objects.filter(dataset=dataset))
    paths = [f.path for f in files]
    assert sorted(paths) == sorted(local), "exactly the session's files"
    assert len(paths) == len(set(paths)), "nothing twice"
    for datafile in files:
        assert datafile.size == (folder / datafile.path).stat().st_size, datafile.path
        assert stored_sha256(datafile) == local[datafile.path], f"{datafile.path} differs"
    assert acquisition.renamed_from not in paths
    assert acquisition.renamed_to in paths
    rewritten = next(f for f in files if f.path == acquisition.rewritten)
    assert stored_sha256(rewritten) == local[acquisition.rewritten]
    sessions = list(UploadSession.objects.filter(dataset=dataset))
    assert [s.state for s in sessions] == [UploadSessionState.COMPLETED]
    assert sessions[0].acquiring
    return dataset


@pytest.mark.usefixtures("eager", "builtin_schemas", "s3_storage", "small_parts")
def test_a_growing_epu_session_is_uploaded_as_it_is_acquired(
    tmp_path: Path, watch: Callable[..., WatchProcess]
) -> None:
    folder = tmp_path / "EPU" / "Apoferritin_Krios1_20240901"
    folder.mkdir(parents=True)
    acquisition = Acquisition(folder, samples_dir())
    watcher = watch(folder.parent)
    acquisition.start()
    watcher.start()
    # While acquiring: the dataset appears with an acquiring session and files arriving.
    wait_until(
        lambda: DataFile.objects.filter(dataset__title=folder.name).exists(),
        timeout=60,
        what="the first uploaded file",
        log=watcher,
    )
    assert acquisition.running, "files arrive while the acquisition goes on"
    open_session = UploadSession.objects.get(dataset__title=folder.name)
    assert open_session.state == UploadSessionState.OPEN and open_session.acquiring
    acquisition.join()
    acquisition.finish()
    wait_until(
        lambda: "session finished" in watcher.output(),
        timeout=90,
        what="the session closed",
        log=watcher,
    )
    assert watcher.stop() == 0, watcher.output()
    dataset = check_portal_holds_exactly(folder, acquisition)
    output = watcher.output()
    assert "Traceback" not in output, output
    assert "session finished" in output
    # The state database knows every file as uploaded; the rotating log file was written.
    db = sqlite3.connect(tmp_path / "state" / "watch.sqlite3")
    states = dict(db.execute("SELECT path, state FROM files").fetchall())
    assert set(states.values()) == {"uploaded"}, states
    assert (tmp_path / "logs" / "watch.log").read_text().count("uploaded into") >= 1
    # A second pass (cron) finds nothing to do and sends nothing.
    again = watch(folder.parent, "--once")
    again.start()
    assert again.wait() == 0, again.output()
    assert DataFile.objects.filter(dataset=dataset).count() == len(states)
    assert "0 files uploaded" in again.output()


@pytest.mark.usefixtures("eager", "builtin_schemas", "s3_storage", "small_parts")
def test_killed_at_random_points_loses_and_duplicates_nothing(
    tmp_path: Path, watch: Callable[..., WatchProcess]
) -> None:
    folder = tmp_path / "EPU" / "Session_killed"
    folder.mkdir(parents=True)
    acquisition = Acquisition(folder, samples_dir(), squares=2, holes=3)
    watcher = watch(folder.parent)
    randomness = random.Random(20240901)  # noqa: S311 - reproducible kill points
    acquisition.start()
    kills = 0
    while acquisition.running or kills < 4:
        watcher.start()
        time.sleep(randomness.uniform(0.8, 3.0))
        watcher.kill()
        kills += 1
        if kills > 30:
            break
    acquisition.join()
    acquisition.finish()
    watcher.start()
    wait_until(
        lambda: "session finished" in watcher.output(),
        timeout=120,
        what="the session closed",
        log=watcher,
    )
    assert watcher.stop() == 0, watcher.output()
    assert kills >= 4
    check_portal_holds_exactly(folder, acquisition)
    assert "Traceback" not in watcher.output()


@pytest.mark.usefixtures("eager", "builtin_schemas", "s3_storage", "small_parts")
def test_a_portal_outage_mid_session_loses_and_duplicates_nothing(
    tmp_path: Path, live_server: Any, watch: Callable[..., WatchProcess]
) -> None:
    """The portal answers 503 to everything for a while (a restart behind its proxy): the
    agent backs off, keeps running, and goes on where it was once the portal is back."""
    proxy = FaultProxy(live_server.url).start()
    down = {"now": False}
    proxy.rules.append(lambda method, path: Fault(status=503) if down["now"] else None)
    try:
        folder = tmp_path / "EPU" / "Session_outage"
        folder.mkdir(parents=True)
        acquisition = Acquisition(folder, samples_dir())
        watcher = watch(folder.parent, server=proxy.endpoint_url)
        acquisition.start()
        watcher.start()
        wait_until(
            lambda: DataFile.objects.filter(dataset__title=folder.name).exists(),
            timeout=60,
            what="the first uploaded file",
            log=watcher,
        )
        down["now"] = True
        wait_until(
            lambda: "trying again" in watcher.output(), timeout=60, what="a retry", log=watcher
        )
        time.sleep(2)
        assert watcher.process is not None and watcher.process.poll() is None, "still running"
        down["now"] = False
        acquisition.join()
        acquisition.finish()
        wait_until(
            lambda: "session finished" in watcher.output(),
            timeout=120,
            what="the session closed",
            log=watcher,
        )
        assert watcher.stop() == 0, watcher.output()
        check_portal_holds_exactly(folder, acquisition)
        assert any(fault.status == 503 for _, _, fault in proxy.applied)
    finally:
        proxy.stop()
