"""Header extraction over S3 (SeaweedFS): requests and bytes per file, counted by
:class:`storage.ObjectSource`. Goal: <= 2 requests and <= 1 MiB per file, the same for an
EER movie of 100 frames and one of 10,000 (the frame count comes from the metadata, never from
walking every IFD). Thumbnails are counted separately, for information.
"""

from __future__ import annotations

import argparse
import io
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from bench.common import MiB, s3_server, s3_store

NAME = "headers"
MAX_REQUESTS = 2
MAX_BYTES = 1 * MiB


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--eer-frames",
        type=int,
        nargs="+",
        default=[100, 10_000],
        help="headers: EER frame counts to compare (100 10000)",
    )


def fei2_mrc() -> tuple[bytes, str]:
    """The real EPU 2.9 micrograph with an FEI2 extended header when the samples are there,
    else one of the same layout written by mrcfile."""
    from django.conf import settings

    sample = Path(settings.OPENEM_SAMPLES_DIR) / "mrc" / "epu2.9_example.mrc"
    if sample.is_file():
        return sample.read_bytes(), str(sample)
    import mrcfile
    from mrcfile.dtypes import get_ext_header_dtype

    records = np.zeros(1024, dtype=get_ext_header_dtype(b"FEI2", "<"))
    records["Metadata size"] = records.dtype.itemsize
    records["Metadata version"] = 2
    records[0]["HT"] = 300_000.0
    records[0]["Dose"] = 4.0e20
    records[0]["Pixel size X"] = records[0]["Pixel size Y"] = 8.3e-11
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "fei2.mrc"
        with mrcfile.new(path) as mrc:
            mrc.set_data(np.zeros((4096, 4096), np.uint16))
            mrc.set_extended_header(records)
            mrc.header.exttyp = b"FEI2"
        return path.read_bytes(), "generated 4096x4096 uint16 with 1024 FEI2 records"


def tiff_movie(frames: int = 48, side: int = 2048) -> bytes:
    """An EPU-like TIFF movie: uint8 counting frames, LZW-compressed, one page per frame."""
    import tifffile

    rng = np.random.default_rng(1)
    stack = rng.poisson(0.8, (frames, side, side)).astype(np.uint8)
    out = io.BytesIO()
    tifffile.imwrite(out, stack, compression="lzw", software="EPU 3.8 (bench)")
    return out.getvalue()


def measure(store: Any, key: str, name: str) -> dict[str, Any]:
    from ingest.formats import extract
    from ingest.thumbnails import render_thumbnail
    from storage import ObjectSource

    source = ObjectSource(store, key)
    started = time.perf_counter()
    result = extract(source, name)
    seconds = time.perf_counter() - started
    thumb_source = ObjectSource(store, key, size=source.size)
    started = time.perf_counter()
    thumbnail = render_thumbnail(thumb_source, result)
    thumb_seconds = time.perf_counter() - started
    header = result.header
    return {
        "file_bytes": source.size,
        "format": result.format.value,
        "errors": result.errors,
        "requests": source.stats.requests,
        "bytes_read": source.stats.bytes_read,
        "seconds": round(seconds, 4),
        "goal_met": source.stats.requests <= MAX_REQUESTS and source.stats.bytes_read <= MAX_BYTES,
        "frames": header.get("frames") or header.get("pages") or header.get("nz"),
        "thumbnail": {
            "made": thumbnail.png is not None,
            "what": thumbnail.reason,
            "requests": thumb_source.stats.requests,
            "bytes_read": thumb_source.stats.bytes_read,
            "seconds": round(thumb_seconds, 4),
        },
    }


def run(args: argparse.Namespace) -> dict[str, Any]:
    from demo.seed import eer_like_bytes

    mrc, mrc_origin = fei2_mrc()
    files: dict[str, tuple[str, bytes]] = {
        "mrc_fei2": ("FoilHole_1_Data_1.mrc", mrc),
        "tiff_movie": ("FoilHole_1_Data_2_fractions.tiff", tiff_movie()),
    }
    for frames in args.eer_frames:
        files[f"eer_{frames}_frames"] = (
            f"FoilHole_1_Data_{frames}_EER.eer",
            # 18 KiB per bilevel frame: even 100 frames are more than one whole-file read.
            eer_like_bytes(frames=frames, shape=(384, 384)),
        )
    results: dict[str, Any] = {}
    with (
        tempfile.TemporaryDirectory(prefix="openem-bench-") as folder,
        s3_server(Path(folder)) as server,
        s3_store(server) as store,
    ):
        for label, (name, data) in files.items():
            key = f"bench/{label}"
            store.put(key, data)
            results[label] = measure(store, key, name)
    results["mrc_fei2"]["origin"] = mrc_origin
    # The cost must not grow with the frame count (the smallest movie is the reference).
    eer = [results[f"eer_{n}_frames"] for n in sorted(args.eer_frames)]
    independent = all(
        r["requests"] <= eer[0]["requests"] and r["bytes_read"] <= eer[0]["bytes_read"] for r in eer
    )
    goal_met = all(r["goal_met"] and not r["errors"] for r in results.values()) and independent
    figures: dict[str, Any] = {
        "files": results,
        "eer_cost_independent_of_frame_count": independent,
        "goal": f"<= {MAX_REQUESTS} requests and <= {MAX_BYTES // MiB} MiB per file, EER "
        "independent of frame count",
        "goal_met": goal_met,
    }
    parts = [
        f"{label} {r['requests']} req/{r['bytes_read'] / 1024:.0f} KiB"
        for label, r in results.items()
    ]
    figures["summary"] = (
        f"headers over S3: {', '.join(parts)} "
        f"(goal <= {MAX_REQUESTS} req, <= 1 MiB, EER independent of frames: "
        f"{'met' if goal_met else 'NOT met'})"
    )
    return figures
