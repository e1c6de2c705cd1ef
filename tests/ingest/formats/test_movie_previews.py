"""Previews of movies: the sum of their first frames, contrast-stretched by percentiles, read
frame by frame from storage with bounded memory, on frames of real detector size."""

from __future__ import annotations

import io
import tracemalloc
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from demo import seed as demo
from demo.movies import sample_events, write_eer, write_tiff_movie
from ingest.formats import extract
from ingest.thumbnails import render_thumbnail
from storage import FileSource
from tests.services import ROOT

SCREENSHOTS = ROOT / "test-output" / "screenshots"

SIZE = 4096
#: A decoded 4096 x 4096 frame is 16 MiB (bool or uint8); a preview may hold one or two of
#: them and its caches, never the movie.
MEMORY_BOUND = 96 * 1024 * 1024


def as_array(png: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(png)))


def left_half_absorbs(y: np.ndarray, x: np.ndarray) -> np.ndarray:
    """The specimen: the left half lets through 60 % of the electrons, the right half all."""
    return np.where(x < SIZE // 2, 0.6, 1.0)


def preview_with_peak_memory(path: Path, name: str):
    source = FileSource(path)
    result = extract(source, name)
    assert not result.errors
    tracemalloc.start()
    try:
        thumbnail = render_thumbnail(source, result)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return thumbnail, peak, source


def assert_shows_the_specimen(pixels: np.ndarray) -> None:
    """Every band of rows shows the same two halves: no streaks, nothing black below."""
    assert pixels.shape == (512, 512)
    for band in np.array_split(pixels, 4, axis=0):
        left, right = band[:, :256].mean(), band[:, 256:].mean()
        assert right - left > 60, (left, right)
        assert left > 10 and right > 100, (left, right)


def test_4k_eer_movie_preview_is_the_sum_of_its_frames(tmp_path):
    rng = np.random.default_rng(7)
    frames = 24
    path = tmp_path / "FoilHole_1_fractions.eer"
    xml = f'<metadata><item name="numberOfFrames">{frames}</item></metadata>'.encode()
    with path.open("wb") as out:
        # 0.02 electrons per pixel and frame, as on a Falcon 4: one frame alone is noise.
        write_eer(
            out,
            (sample_events(rng, (SIZE, SIZE), 0.02, left_half_absorbs) for _ in range(frames)),
            (SIZE, SIZE),
            xml,
        )
    thumbnail, peak, source = preview_with_peak_memory(path, path.name)
    assert thumbnail.reason == f"sum of the first {frames} of {frames} frames"
    assert_shows_the_specimen(as_array(thumbnail.png))
    assert peak < MEMORY_BOUND, f"peak {peak / 2**20:.0f} MiB"
    assert source.stats.bytes_read < 1.2 * path.stat().st_size  # each frame read once


def test_4k_tiff_stack_preview_is_the_sum_of_its_pages(tmp_path):
    rng = np.random.default_rng(8)
    frames = 12
    transmission = np.where(np.arange(SIZE) < SIZE // 2, 0.6, 1.0)[None, :]
    path = tmp_path / "FoilHole_1_Data_2_1_20240901_060108_fractions.tiff"
    write_tiff_movie(
        str(path),
        (rng.poisson(0.5 * transmission, (SIZE, SIZE)).astype(np.uint8) for _ in range(frames)),
    )
    assert path.stat().st_size > 4 * MEMORY_BOUND // 12  # LZW: still far more than one frame
    thumbnail, peak, _ = preview_with_peak_memory(path, path.name)
    assert thumbnail.reason == f"sum of the first {frames} pages"
    assert_shows_the_specimen(as_array(thumbnail.png))
    assert peak < MEMORY_BOUND, f"peak {peak / 2**20:.0f} MiB"


@pytest.mark.parametrize(
    ("name", "make"),
    [("demo.eer", demo.eer_like_bytes), ("demo.tiff", demo.tiff_movie_bytes)],
)
def test_demo_movie_thumbnails_look_like_micrographs(tmp_path, name, make):
    """The demo's movies decode as movies: the whole field is lit (no streaks over a black
    image) and the particles are darker than the ice around them."""
    path = tmp_path / name
    path.write_bytes(make())
    thumbnail, _, _ = preview_with_peak_memory(path, name)
    assert thumbnail.reason.startswith("sum of the first")
    pixels = as_array(thumbnail.png).astype(float)
    thirds = [band.mean() for band in np.array_split(pixels, 3, axis=0)]
    assert min(thirds) > 0.8 * max(thirds) and min(thirds) > 60, thirds
    specimen = demo._specimen((512, 512))
    # Shot noise hides single pixels; at 8 x 8 blocks the picture follows the specimen.
    binned = pixels.reshape(64, 8, 64, 8).mean(axis=(1, 3))
    expected = specimen.reshape(64, 8, 64, 8).mean(axis=(1, 3))
    correlation = np.corrcoef(binned.ravel(), expected.ravel())[0, 1]
    assert correlation > 0.7, correlation
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    (SCREENSHOTS / f"thumbnail-{name}.png").write_bytes(thumbnail.png)
