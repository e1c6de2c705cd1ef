"""Demo data for the embedded default: a facility, people in every role, and datasets whose
small files are real formats generated on the fly (MRC via mrcfile, TIFF and EER-like via
tifffile, a SerialEM mdoc), ingested through the same pipeline as uploaded files."""

from __future__ import annotations

import datetime as dt
import functools
import io
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import mrcfile
import numpy as np
from django.contrib.auth import get_user_model
from django.utils import timezone

from demo.movies import sample_events, write_eer, write_tiff_movie
from deposition.demo import demo_deposition_metadata
from ingest.uploads import datafile_store_stream, upload_session_complete, upload_session_create
from repository import services
from repository.models import (
    Facility,
    FacilityMembership,
    FacilityRole,
    Instrument,
    Project,
    ProjectMembership,
    Visibility,
)

DEMO_PASSWORD = "openem-demo"  # noqa: S105 - printed on purpose: demo logins for a local portal
DEMO_USERS = {
    "admin": "Ada Admin",
    "curator": "Chris Curator",
    "staff": "Sam Staff",
    "member": "Mia Member",
    "researcher": "Rene Researcher",
}


def _rng() -> np.random.Generator:
    return np.random.default_rng(20261124)


def _particles(shape: tuple[int, int], count: int = 40) -> np.ndarray:
    """A noisy micrograph with round 'particles' so thumbnails show something."""
    rng = _rng()
    yy, xx = np.mgrid[0 : shape[0], 0 : shape[1]]
    image = rng.normal(0.0, 1.0, shape).astype(np.float32)
    for _ in range(count):
        cy, cx = rng.integers(10, shape[0] - 10), rng.integers(10, shape[1] - 10)
        image -= 2.5 * np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * 6.0**2)).astype(np.float32)
    return image


def mrc_bytes(data: np.ndarray, voxel_size: float) -> bytes:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "file.mrc"
        with mrcfile.new(path) as mrc:
            mrc.set_data(data)
            mrc.voxel_size = voxel_size
        return path.read_bytes()


def _specimen(shape: tuple[int, int]) -> np.ndarray:
    """Transmission in [0.35, 1]: the particles absorb, the ice around them does not."""
    image = _particles(shape, count=max(40, shape[0] * shape[1] // 6000))
    smooth = np.clip(1.0 + 0.26 * (image - image.mean()), 0.35, 1.0)
    return smooth.astype(np.float32)


def tiff_movie_bytes(frames: int = 12, shape: tuple[int, int] = (512, 512)) -> bytes:
    """An EPU-style LZW TIFF stack of counting frames (about 1.5 electrons per pixel each)."""
    rng = _rng()
    specimen = _specimen(shape)
    out = io.BytesIO()
    write_tiff_movie(out, (rng.poisson(1.5 * specimen).astype(np.uint8) for _ in range(frames)))
    return out.getvalue()


EER_XML = (
    '<metadata><item name="numberOfFrames">{frames}</item>'
    '<item name="exposureTime" unit="s">2.5</item>'
    '<item name="totalDose" unit="e/A^2">40.0</item>'
    '<item name="meanDoseRate" unit="e/pixel/s">5.2</item>'
    '<item name="sensorPixelSize.width" unit="m">7.6e-11</item>'
    '<item name="sensorPixelSize.height" unit="m">7.6e-11</item>'
    '<item name="commercialName">Falcon 4i</item>'
    '<item name="serialNumber">F4I-DEMO-001</item>'
    '<item name="timestamp">2026-11-20T09:15:00.000+01:00</item></metadata>'
)


def eer_like_bytes(frames: int = 40, shape: tuple[int, int] = (512, 512)) -> bytes:
    """A real EER movie (EER v1 run-length coded electron events, metadata in tag 65001):
    each frame a sparse scatter of single electrons thinned where the particles absorb."""
    rng = _rng()
    specimen = _specimen(shape)
    out = io.BytesIO()
    write_eer(
        out,
        (sample_events(rng, shape, 0.15, lambda y, x: specimen[y, x]) for _ in range(frames)),
        shape,
        EER_XML.format(frames=frames).encode(),
    )
    return out.getvalue()


EPU_XML = """<?xml version="1.0" encoding="utf-8"?>
<MicroscopeImage xmlns="http://schemas.datacontract.org/2004/07/Fei.SharedObjects"
 xmlns:i="http://www.w3.org/2001/XMLSchema-instance">
<microscopeData><acquisition><acquisitionDateTime>{time}</acquisitionDateTime></acquisition>
<optics><Defocus>{defocus:.4e}</Defocus></optics>
<stage><Position><X>{x:.6e}</X><Y>{y:.6e}</Y></Position></stage></microscopeData>
<CustomData>
<KeyValueOfstringanyType><Key>AppliedDefocus</Key><Value>{applied:.4e}</Value></KeyValueOfstringanyType>
<KeyValueOfstringanyType><Key>Dose</Key><Value>{dose:.6e}</Value></KeyValueOfstringanyType>
</CustomData>
</MicroscopeImage>
"""


def epu_sidecars(count: int, *, seed: int = 0) -> DemoFiles:
    """Per-exposure EPU XML files of one session: a defocus series (-0.8 to -2.2 µm, as
    set in EPU, each measured a little off), a dose around 40 e⁻/Å², holes on a grid square
    (no pixel size: the movies' own headers give it)."""
    rng = np.random.default_rng(20261124 + seed)
    start = dt.datetime(2026, 11, 20, 9, 15, tzinfo=dt.UTC)
    files: DemoFiles = []
    targets = (-0.8e-6, -1.2e-6, -1.6e-6, -2.0e-6, -2.2e-6)
    for index in range(count):
        applied = targets[index % len(targets)]
        text = EPU_XML.format(
            time=(start + dt.timedelta(seconds=30 * index)).isoformat(),
            defocus=applied + rng.normal(0, 0.08e-6),
            applied=applied,
            dose=(40.0 + rng.normal(0, 0.6)) * 1e20,  # EPU writes electrons per m²
            x=(-12.0 + 6.0 * (index % 5) + rng.normal(0, 0.3)) * 1e-6,
            y=(8.0 - 6.0 * (index // 5) + rng.normal(0, 0.3)) * 1e-6,
        ).encode()
        name = f"FoilHole_{3100 + index}_Data_{7700 + index}_1_20261120_{91500 + 30 * index}.xml"
        files.append((f"Images-Disc1/GridSquare_1/Data/{name}", functools.partial(bytes, text)))
    return files


def mdoc_text(name: str, tilts: int = 11) -> bytes:
    lines = [
        "PixelSpacing = 2.68",
        "Voltage = 300",
        f"ImageFile = {name}",
        "ImageSize = 128 128",
        "DataMode = 1",
        "",
        "[T = SerialEM: Digitized on EMBL Krios (demo)   20-Nov-26  10:02:11]",
        "",
        "[T =     Tilt axis angle = 85.3, binning = 1  spot = 8  camera = 0]",
        "",
    ]
    start = dt.datetime(2026, 11, 20, 10, 2, 11)
    for z in range(tilts):
        angle = -30 + z * 6
        moment = start + dt.timedelta(seconds=45 * z)
        lines += [
            f"[ZValue = {z}]",
            f"TiltAngle = {angle:.2f}",
            "Magnification = 53000",
            "Intensity = 0.11",
            "ExposureDose = 3.1",
            "PixelSpacing = 2.68",
            "SpotSize = 8",
            f"Defocus = {-3.5 + 0.05 * z:.3f}",
            "ExposureTime = 1.2",
            "Binning = 1",
            "NumSubFrames = 10",
            f"DateTime = {moment:%d-%b-%y  %H:%M:%S}",
            "",
        ]
    return "\n".join(lines).encode()


def sphere_map(size: int = 48) -> np.ndarray:
    grid = np.indices((size, size, size)) - size / 2
    radius = np.sqrt((grid**2).sum(axis=0))
    return (np.exp(-((radius - size / 4) ** 2) / 8.0)).astype(np.float32)


DemoFiles = list[tuple[str, Callable[[], bytes]]]


def load_demo(*, stdout: Callable[[str], Any] = print) -> bool:
    """Create the demo facility, people and datasets; False if they are already there."""
    if Facility.objects.filter(slug="demo-basel").exists():
        stdout("Demo data already loaded.")
        return False
    users = _users()
    facility = Facility.objects.create(
        name="Cryo-EM Facility Basel (demo)", slug="demo-basel", contact_email="cryoem@example.org"
    )
    other = Facility.objects.create(name="ScopeM Zurich (demo)", slug="demo-scopem")
    FacilityMembership.objects.create(
        user=users["staff"], facility=facility, role=FacilityRole.STAFF
    )
    FacilityMembership.objects.create(
        user=users["curator"], facility=facility, role=FacilityRole.CURATOR
    )
    krios = Instrument.objects.create(
        facility=facility,
        name="Krios G4 (demo)",
        manufacturer="Thermo Fisher Scientific",
        model="Titan Krios G4",
        serial_number="KRIOS-DEMO-1",
        detectors=["Falcon 4i", "Selectris X"],
    )
    Instrument.objects.create(
        facility=other,
        name="Glacios (demo)",
        manufacturer="Thermo Fisher Scientific",
        model="Glacios 2",
    )
    project = Project.objects.create(
        title="Ribosome dynamics (demo)",
        code="demo-ribosome",
        facility=facility,
        principal_investigator=users["member"],
    )
    ProjectMembership.objects.create(user=users["member"], project=project)

    spa = _dataset(
        users,
        facility,
        krios,
        project,
        title="Mouse apoferritin, Falcon 4i EER session (demo)",
        technique="spa",
        description="A small single-particle session: EER and TIFF movies and an MRC micrograph.",
        keywords=["apoferritin", "single particle", "EER"],
        files=[
            (
                "Images-Disc1/GridSquare_1/Data/FoilHole_1_Data_1_1_20261120_091500_EER.eer",
                eer_like_bytes,
            ),
            (
                "Images-Disc1/GridSquare_1/Data/FoilHole_1_Data_2_1_20261120_091530.tiff",
                tiff_movie_bytes,
            ),
            ("Micrographs/FoilHole_1_Data_1.mrc", lambda: mrc_bytes(_particles((384, 384)), 0.83)),
            *epu_sidecars(15),
        ],
    )
    services.dataset_publish(actor=users["curator"], dataset=spa)

    tomo = _dataset(
        users,
        facility,
        krios,
        project,
        title="Chlamydomonas cellular tomography tilt series (demo)",
        technique="cellular_tomo",
        description="A SerialEM tilt series with its mdoc.",
        keywords=["Chlamydomonas", "cryo-ET"],
        files=[
            ("TS_01/TS_01.mrc.mdoc", lambda: mdoc_text("TS_01.mrc")),
            (
                "TS_01/TS_01.mrc",
                lambda: mrc_bytes(
                    np.stack([_particles((128, 128), 8)] * 11).astype(np.int16), 2.68
                ),
            ),
        ],
    )
    services.dataset_publish(
        actor=users["curator"],
        dataset=tomo,
        visibility=Visibility.EMBARGOED,
        embargo_until=timezone.localdate() + dt.timedelta(days=365),
    )

    emdb_map = _dataset(
        users,
        facility,
        krios,
        None,
        title="Apoferritin 2.1 A map (demo)",
        technique="spa",
        kind="map",
        description="A small reconstructed volume.",
        keywords=["apoferritin", "map"],
        files=[("emd_demo.map", lambda: mrc_bytes(sphere_map(), 1.06))],
    )
    services.dataset_publish(actor=users["curator"], dataset=emdb_map)

    _dataset(
        users,
        facility,
        krios,
        project,
        title="Unpublished ribosome session (demo, private)",
        technique="spa",
        description="Only the project and the facility see this one.",
        keywords=["ribosome"],
        files=[
            ("Micrographs/mic_0001.mrc", lambda: mrc_bytes(_particles((256, 256)), 1.1)),
            *epu_sidecars(6, seed=1),
        ],
    )
    stdout(f"Demo data loaded. Logins (password {DEMO_PASSWORD}): {', '.join(DEMO_USERS)}")
    return True


def _users() -> dict[str, Any]:
    user_model = get_user_model()
    users = {}
    for username, full_name in DEMO_USERS.items():
        first, last = full_name.split(" ", 1)
        user = user_model.objects.create_user(
            username=username,
            email=f"{username}@example.org",
            password=DEMO_PASSWORD,
            first_name=first,
            last_name=last,
            is_staff=username == "admin",
            is_superuser=username == "admin",
        )
        users[username] = user
    return users


#: What the demo curator entered about each session that no file header records (binning,
#: the session's start, the detector, the gun and optics modes of a tomography session), so
#: that every demo dataset validates against its schema.
_SESSION_FACTS: dict[str, dict[str, Any]] = {
    "spa": {
        "acquisition": {
            "binning_camera": {"width": 1, "height": 1},
            "date_time": "2026-11-20T09:15:00+01:00",
            "detectors": [{"name": "Falcon 4i", "mode": "counting"}],
        }
    },
    "cellular_tomo": {
        "acquisition": {"detectors": [{"name": "Gatan K3", "mode": "counting"}]},
        "instrument": {
            "microscope": {"manufacturer": "Thermo Fisher Scientific", "model": "Titan Krios G4"},
            "electron_source": "XFEG",
            "illumination": "FloodBeam",
            "imaging": "Brightfield",
        },
    },
}


def _merged(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merged(out[key], value)
        else:
            out[key] = value
    return out


def _dataset(
    users: dict[str, Any],
    facility: Facility,
    instrument: Instrument,
    project: Project | None,
    *,
    files: DemoFiles,
    **fields: Any,
) -> Any:
    # What a curator would enter in the metadata form (authors, sample, grant...), so that the
    # demo's EMPIAR and EMDB exports validate out of the box.
    metadata = _merged(
        demo_deposition_metadata(fields["technique"], fields.get("kind", "raw")),
        _SESSION_FACTS.get(fields["technique"], {}),
    )
    dataset = services.dataset_create(
        actor=users["staff"],
        facility=facility,
        instrument=instrument,
        project=project,
        metadata=metadata,
        **fields,
    )
    session = upload_session_create(actor=users["staff"], dataset=dataset)
    for path, make in files:
        data = make()
        datafile_store_stream(
            actor=users["staff"],
            session=session,
            path=path,
            stream=io.BytesIO(data),
            size=len(data),
        )
    upload_session_complete(actor=users["staff"], session=session)
    dataset.refresh_from_db()
    return dataset
