"""What the deposition tests deposit: organizational metadata as the metadata form writes it
(``full_metadata``), files in real formats (``spa_files``, ``map_files``, ``mrc_file``) and the
official schemas from ``OPENEM_SCHEMAS_DIR`` (default ``<repo>/../shared/schemas``).

The schemas are never copied into the repository: tests that need them skip, saying where they
were looked for, when the folder is absent."""

from __future__ import annotations

import copy
import io
import os
from pathlib import Path
from typing import Any

import mrcfile
import numpy as np
import pytest
import tifffile
from django.conf import settings as django_settings

from demo import seed as demo

ORCID_OK = "0000-0002-1825-0097"


ORGANIZATIONAL = {
    "authors": [
        {
            "given_name": "Chris",
            "family_name": "Curator",
            "email": "chris.curator@example.org",
            "orcid": ORCID_OK,
            "name_org": "University of Basel, Biozentrum",
            "type_org": "Academic",
            "country": "CH",
            "role": "corresponding author, principal investigator",
        },
        {
            "given_name": "Jürgen Maria",
            "family_name": "Müller",
            "email": "jm.mueller@example.org",
            "orcid": None,
            "name_org": "University of Basel",
            "type_org": "Academic",
            "country": "Switzerland",
            "role": "investigator",
        },
    ],
    "funder": [{"funder_name": "Swiss National Science Foundation", "country": "CH"}],
    "grants": [{"project_id": "310030_212345"}],
}


SAMPLE = {
    "overall_molecule": {
        "name_sample": "Mouse heavy-chain apoferritin",
        "source": "recombinant",
        "molecular_overall_type": "COMPLEX",
        "assembly": "PARTICLE",
        "molecular_weight": {"value": 0.48, "unit": "MDa"},
    },
    "molecule": [
        {
            "name_mol": "Ferritin heavy chain",
            "sequence": "MTTASPSQVRQNYHQDSEAAINRQINLELYASYVYLSMSYYFDRDDVALKNFAKYFLHQSHEEREHAEKLMKLQNQRGGRIFLQDIKKPDRDDWESGLNAMECALHLEKSVNQSLLELHKLATDKNDPHLCDFIETYYLSEQVKSIKELGDHVTNLRKMGAPEAGMAEYLFDKHTLGHGDES",
            "natural_source": "Mus musculus",
            "taxonomy_id_source": "10090",
        }
    ],
    "specimen": {
        "buffer": "20 mM HEPES pH 7.5, 150 mM NaCl",
        "ph": 7.5,
        "vitrification": True,
        "vitrification_cryogen": "ethane",
        "humidity": {"value": 95, "unit": "%"},
    },
}


INSTRUMENT = {
    "microscope": {"manufacturer": "Thermo Fisher Scientific", "model": "Titan Krios G4"},
    "electron_source": "XFEG",
    "illumination": "FloodBeam",
    "imaging": "Brightfield",
    "acceleration_voltage": {"value": 300, "unit": "kV", "valueSI": 300000.0, "unitSI": "V"},
    "cs": {"value": 2.7, "unit": "mm"},
}


ACQUISITION = {
    "technique": "spa",
    "detectors": [{"name": "Falcon 4i", "mode": "counting"}],
    # EPU writes underfocus as negative numbers (nm).
    "nominal_defocus": {
        "minimal": {"value": -2000.0, "unit": "nm"},
        "maximal": {"value": -800.0, "unit": "nm"},
    },
    "dose_per_movie": {"value": 40.0, "unit": "e/Å^2"},
    "exposure_time": {"value": 2.5, "unit": "s"},
    "nominal_magnification": 165000,
}


def full_metadata(**overrides: Any) -> dict[str, Any]:
    document = {
        "organizational": copy.deepcopy(ORGANIZATIONAL),
        "sample": copy.deepcopy(SAMPLE),
        "instrument": copy.deepcopy(INSTRUMENT),
        "acquisition": copy.deepcopy(ACQUISITION),
    }
    document.update(overrides)
    return document


def schemas_dir() -> Path:
    return Path(os.environ.get("OPENEM_SCHEMAS_DIR") or django_settings.OPENEM_SCHEMAS_DIR)


@pytest.fixture
def schemas() -> Path:
    """The shared schemas folder, or a skip that says where it was looked for."""
    folder = schemas_dir()
    if (
        not (folder / "emdb" / "emdb.xsd").is_file()
        or not (folder / "empiar" / "working_example.json").is_file()
    ):
        pytest.skip(
            f"the official EMDB/EMPIAR schema files are not in {folder}: set OPENEM_SCHEMAS_DIR "
            "to the shared schemas folder"
        )
    return folder


def mrc_file(
    data: np.ndarray,
    voxel_size: float | tuple[float, float, float],
    *,
    tmp: Path,
    volume: bool = False,
    start: tuple[int, int, int] = (0, 0, 0),
) -> bytes:
    path = tmp / f"f{np.random.default_rng().integers(1 << 30)}.mrc"
    with mrcfile.new(path, overwrite=True) as mrc:
        mrc.set_data(data)
        if volume:
            mrc.set_volume()
        elif data.ndim == 3:
            mrc.set_image_stack()
        mrc.voxel_size = voxel_size
        mrc.header.nxstart, mrc.header.nystart, mrc.header.nzstart = start
    content = path.read_bytes()
    path.unlink()
    return content


def noise(shape: tuple[int, ...], dtype: Any = np.float32, seed: int = 1) -> np.ndarray:
    return np.random.default_rng(seed).normal(10.0, 2.0, shape).astype(dtype)


def tiff_movie(frames: int = 6, shape: tuple[int, int] = (256, 256)) -> bytes:
    out = io.BytesIO()
    stack = np.random.default_rng(2).poisson(1.5, (frames, *shape)).astype(np.uint8)
    tifffile.imwrite(out, stack, software="EPU 3.6 (test)")
    return out.getvalue()


def spa_files(tmp: Path) -> list[tuple[str, bytes]]:
    """An SPA session with EER, TIFF and MRC movies, and a motion-corrected micrograph."""
    return [
        (
            "Images-Disc1/GridSquare_1/Data/FoilHole_1_Data_1_1_20261120_091500_EER.eer",
            demo.eer_like_bytes(frames=8),
        ),
        (
            "Images-Disc1/GridSquare_2/Data/FoilHole_7_Data_1_1_20261120_093000_EER.eer",
            demo.eer_like_bytes(frames=8),
        ),
        ("Images-Disc1/GridSquare_1/Data/FoilHole_1_Data_2_1_20261120_091530.tiff", tiff_movie()),
        (
            "Movies/FoilHole_3_Data_1.mrcs",
            mrc_file(noise((5, 200, 240), np.int16), 0.83, tmp=tmp),
        ),
        ("Micrographs/FoilHole_1_Data_1.mrc", mrc_file(noise((384, 384)), 0.83, tmp=tmp)),
    ]


def map_files(
    tmp: Path, *, mode_dtype: Any = np.float32, halves: bool = True
) -> list[tuple[str, bytes]]:
    volume = demo.sphere_map(48).astype(mode_dtype)
    files = [("emd_demo.map", mrc_file(volume, 1.06, tmp=tmp, volume=True, start=(-24, -24, -24)))]
    if halves:
        for index in (1, 2):
            half = (volume + noise((48, 48, 48), seed=index) * 0.01).astype(mode_dtype)
            files.append(
                (
                    f"half_maps/run_half{index}_class001_unfil.mrc",
                    mrc_file(half, 1.06, tmp=tmp, volume=True),
                )
            )
    return files


@pytest.fixture
def emdb_schemas(schemas: Path, settings: Any) -> Path:
    """The portal's EMDB validation pointed at the shared XSDs (current and relaxed)."""
    settings.OPENEM_EMDB_XSD = str(schemas / "emdb" / "emdb.xsd")
    settings.OPENEM_EMDB_XSD_RELAXED = str(schemas / "emdb" / "emdb_relaxed.xsd")
    return schemas
