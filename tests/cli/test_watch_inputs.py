"""``openem watch --once`` (as from cron) against the live portal: bad inputs get one clear line
and an exit status, nothing is created or changed; cron passes wait for files to be stable;
include/exclude globs; the bandwidth limit; session folders of SerialEM and Tomo5."""

from __future__ import annotations

import os
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from ingest.models import UploadSession
from openem_client.upload import RateLimiter
from openem_client.watch import find_sessions
from repository import tokens
from repository.models import DataFile, Dataset, FacilityRole, TokenScope
from tests.factories import FacilityMembershipFactory, InstrumentFactory, UserFactory
from tests.support.cli import Result, write_file


@pytest.fixture
def robot(world: Any) -> Any:
    user = UserFactory(username="krios1-watch")
    FacilityMembershipFactory(user=user, facility=world.facility, role=FacilityRole.STAFF)
    FacilityMembershipFactory(user=user, facility=world.other_facility, role=FacilityRole.STAFF)
    return user


@pytest.fixture
def scoped_token(world: Any, robot: Any) -> str:
    return tokens.token_create(
        user=robot, name="watch", scope=TokenScope.FACILITY_UPLOAD, facility=world.facility
    )[1]


@pytest.fixture
def epu(tmp_path: Path) -> Path:
    root = tmp_path / "EPU" / "Session_A"
    write_file(root / "EpuSession.dm", 500, seed=1)
    write_file(root / "Images-Disc1" / "GridSquare_1" / "Data" / "FoilHole_1_Data_1.mrc", 9000)
    write_file(root / "Images-Disc1" / "GridSquare_1" / "Data" / "FoilHole_1_Data_1.xml", 800)
    write_file(root / "Images-Disc1" / "GridSquare_1" / "Frames" / "f1.tiff", 3000, seed=4)
    write_file(root / "Images-Disc1" / "scratch.tmp", 100, seed=5)
    return root


@pytest.fixture
def watch(
    cli: Callable[..., Result], tmp_path: Path, world: Any, scoped_token: str
) -> Callable[..., Result]:
    def run(folder: Path, *extra: str, token: str | None = None, **options: str) -> Result:
        args = {
            "--facility": "basel",
            "--instrument": str(world.instrument.pk),
            "--stable": "0s",
            "--finish-marker": "DONE",
            "--state-db": str(tmp_path / "state.sqlite3"),
            **{f"--{k.replace('_', '-')}": v for k, v in options.items()},
        }
        flat = [item for pair in args.items() for item in pair]
        return cli(
            "watch", str(folder), "--once", "--quiet", *flat, *extra, token=token or scoped_token
        )

    return run


@pytest.mark.usefixtures("eager", "builtin_schemas", "local_storage")
def test_once_uploads_complete_files_and_skips_what_it_should(
    watch: Callable[..., Result], epu: Path
) -> None:
    first = watch(epu.parent, "--exclude", "*/Frames/*", stable="1s")
    assert first.code == 0, first.err
    assert not DataFile.objects.exists(), "nothing is complete on the first sight"
    time.sleep(1.1)
    second = watch(epu.parent, "--exclude", "*/Frames/*", stable="1s")
    assert second.code == 0, second.err
    dataset = Dataset.objects.get(title="Session_A")
    assert sorted(DataFile.objects.filter(dataset=dataset).values_list("path", flat=True)) == [
        "EpuSession.dm",
        "Images-Disc1/GridSquare_1/Data/FoilHole_1_Data_1.mrc",
        "Images-Disc1/GridSquare_1/Data/FoilHole_1_Data_1.xml",
    ]
    session = UploadSession.objects.get(dataset=dataset)
    assert session.state == "open" and session.acquiring
    # The marker finishes the session; a later pass uploads nothing again.
    (epu / "DONE").write_text("")
    third = watch(epu.parent, "--exclude", "*/Frames/*", stable="1s")
    assert third.code == 0, third.err
    session.refresh_from_db()
    assert session.state == "completed"
    assert DataFile.objects.filter(dataset=dataset).count() == 3
    assert Dataset.objects.filter(title="Session_A").count() == 1


@pytest.mark.usefixtures("eager", "builtin_schemas", "local_storage")
def test_include_and_no_frames(watch: Callable[..., Result], epu: Path) -> None:
    result = watch(epu, "--include", "*.mrc", "--include", "*.dm")
    assert result.code == 0, result.err
    assert sorted(DataFile.objects.values_list("path", flat=True)) == [
        "EpuSession.dm",
        "Images-Disc1/GridSquare_1/Data/FoilHole_1_Data_1.mrc",
    ]
    result = watch(epu, "--no-frames", state_db=str(epu.parent / "other.sqlite3"))
    assert result.code == 0, result.err
    assert "Images-Disc1/GridSquare_1/Frames/f1.tiff" not in set(
        DataFile.objects.values_list("path", flat=True)
    )
    assert "Images-Disc1/scratch.tmp" not in set(DataFile.objects.values_list("path", flat=True))


@pytest.mark.usefixtures("local_storage")
def test_unknown_facility_lists_the_valid_slugs(watch: Callable[..., Result], epu: Path) -> None:
    result = watch(epu, facility="nowhere")
    assert result.code == 2
    assert "unknown facility 'nowhere'" in result.err
    assert "basel, scopem" in result.err
    assert not Dataset.objects.exists()


@pytest.mark.usefixtures("local_storage")
def test_unknown_instrument_lists_the_facility_instruments(
    world: Any, watch: Callable[..., Result], epu: Path
) -> None:
    InstrumentFactory(facility=world.other_facility, name="Zurich Glacios")
    result = watch(epu, instrument="Krios 9")
    assert result.code == 2
    assert "unknown instrument 'Krios 9' at basel" in result.err
    assert f"{world.instrument.pk} ({world.instrument.name})" in result.err
    assert "Zurich Glacios" not in result.err
    assert not Dataset.objects.exists()
    by_name = watch(epu, instrument=world.instrument.name.upper())
    assert by_name.code == 0, by_name.err


def test_missing_folder(watch: Callable[..., Result], tmp_path: Path) -> None:
    missing = watch(tmp_path / "nope")
    assert missing.code == 2 and "is not a folder" in missing.err
    write_file(tmp_path / "a-file", 10)
    assert watch(tmp_path / "a-file").code == 2
    assert not Dataset.objects.exists()


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads every folder: run as a user")
def test_unreadable_folder(watch: Callable[..., Result], epu: Path) -> None:
    epu.chmod(0)
    try:
        locked = watch(epu)
    finally:
        epu.chmod(0o755)
    assert locked.code == 2 and "cannot be read" in locked.err
    assert not Dataset.objects.exists()


@pytest.mark.usefixtures("local_storage")
def test_tokens_without_the_right(
    world: Any, robot: Any, watch: Callable[..., Result], epu: Path
) -> None:
    read_only = tokens.token_create(user=robot, name="ro", scope=TokenScope.READ)[1]
    result = watch(epu, token=read_only)
    assert result.code == 3, result.err
    assert "'read' scope" in result.err
    elsewhere = tokens.token_create(
        user=robot, name="z", scope=TokenScope.FACILITY_UPLOAD, facility=world.other_facility
    )[1]
    result = watch(epu, token=elsewhere)
    assert result.code == 3, result.err
    assert "cannot create datasets" in result.err or "Zurich" in result.err
    assert not Dataset.objects.exists()
    assert not UploadSession.objects.exists()


@pytest.mark.usefixtures("local_storage")
def test_a_corrupt_state_database_is_left_alone(
    watch: Callable[..., Result], epu: Path, tmp_path: Path
) -> None:
    state = tmp_path / "state.sqlite3"
    junk = b"this is not SQLite" * 300
    state.write_bytes(junk)
    result = watch(epu)
    assert result.code == 10, result.err
    assert "damaged or not a database" in result.err
    assert "move it away" in result.err
    assert state.read_bytes() == junk
    assert not Dataset.objects.exists()


def test_a_state_database_from_a_newer_client(
    watch: Callable[..., Result], epu: Path, tmp_path: Path
) -> None:
    state = tmp_path / "state.sqlite3"
    db = sqlite3.connect(state)
    db.execute("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
    db.execute("INSERT INTO meta VALUES ('schema', '99')")
    db.commit()
    db.close()
    result = watch(epu)
    assert result.code == 10 and "newer openem-client" in result.err


def test_session_kinds(tmp_path: Path) -> None:
    write_file(tmp_path / "epu" / "EpuSession.dm", 10)
    write_file(tmp_path / "serialem" / "TS_41.mrc.mdoc", 10)
    write_file(tmp_path / "tomo5" / "Batch" / "TS_1.mdoc", 10)
    write_file(tmp_path / "not-yet" / "readme.txt", 10)
    assert [(p.name, kind) for p, kind in find_sessions(tmp_path)] == [
        ("epu", "epu"),
        ("serialem", "serialem"),
        ("tomo5", "tomo5"),
    ]
    assert find_sessions(tmp_path / "epu") == [(tmp_path / "epu", "epu")]


def test_bandwidth_limit_holds_the_rate() -> None:
    limiter = RateLimiter(4_000_000)  # 4 MB/s: the first second's burst, then 4 MB a second
    started = time.monotonic()
    for _ in range(12):
        limiter.take(1_000_000)
    elapsed = time.monotonic() - started
    assert 1.8 <= elapsed <= 3.5, elapsed
