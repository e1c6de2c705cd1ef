"""Thumbnails: the right section, one ranged read, sensible contrast and size."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from ingest.formats import FileFormat, FormatResult, ThumbnailPlan, extract
from ingest.thumbnails import decode_section, make_thumbnail, render_thumbnail, to_png


def thumbnail_of(source, name, **kwargs):
    result = extract(source, name)
    source.stats.requests = source.stats.bytes_read = 0
    return render_thumbnail(source, result, **kwargs)


def as_array(png: bytes) -> np.ndarray:
    image = Image.open(io.BytesIO(png))
    assert image.mode == "L"
    return np.asarray(image)


def test_4k_uint16_micrograph_reads_exactly_one_section(counting, make):
    rng = np.random.default_rng(0)
    frames = rng.integers(0, 4000, size=(2, 4096, 4096), dtype=np.uint16)
    frames[0, :, :2048] += 20000  # first frame: bright left half
    source = counting(make.mrc(frames, stack=True))
    thumbnail = thumbnail_of(source, "movie.mrc")
    assert (source.stats.requests, source.stats.bytes_read) == (1, 4096 * 4096 * 2)
    pixels = as_array(thumbnail.png)
    assert pixels.shape == (512, 512) == (thumbnail.height, thumbnail.width)
    assert pixels[:, :256].mean() > 200 and pixels[:, 256:].mean() < 60
    assert thumbnail.reason == "section 0 of 2"


def test_volume_shows_its_middle_section_with_y_up(counting, make):
    volume = np.zeros((9, 40, 40), np.float32)
    volume[4, :20, :] = 1.0  # middle section: the first rows (y = 0, the bottom) are bright
    volume[4, 20:, :] = np.linspace(0, 0.1, 20 * 40).reshape(20, 40)
    thumbnail = thumbnail_of(counting(make.mrc(volume)), "vol.map")
    pixels = as_array(thumbnail.png)
    assert pixels.shape == (40, 40)
    assert pixels[20:].min() == 255 and pixels[:20].max() < 255  # bottom of the picture
    assert thumbnail.reason == "section 4 of 9"


def test_percentile_clipping_ignores_hot_pixels():
    image = np.tile(np.linspace(0, 100, 200, dtype=np.float32), (200, 1))
    image[0, 0] = 1e9  # one hot pixel must not flatten the rest to black
    pixels = as_array(to_png(image, 512)[0])
    assert pixels[100, 100] == pytest.approx(128, abs=8)
    assert pixels[:, -2:].min() == 255 and pixels[1:, :2].max() == 0  # [0, 0] is the hot pixel


def test_long_side_is_at_most_max_size_and_aspect_is_kept():
    png, width, height = to_png(np.random.default_rng(1).random((300, 1200)), 256)
    assert (width, height) == (256, 64) == Image.open(io.BytesIO(png)).size


def test_constant_and_nan_images_do_not_fail():
    assert as_array(to_png(np.full((10, 10), 7.0), 512)[0]).max() == 0
    nans = np.full((10, 10), np.nan, dtype=np.float32)
    nans[0, 0] = 1.0
    assert as_array(to_png(nans, 512)[0]).shape == (10, 10)


@pytest.mark.parametrize("codec", ["gzip", "bzip2"])
def test_compressed_map(counting, make, codec):
    volume = np.zeros((5, 16, 16), np.float32)
    volume[2, :, :8] = 1.0
    raw = make.mrc(volume)
    packed = make.gzip(raw) if codec == "gzip" else make.bzip2(raw)
    pixels = as_array(thumbnail_of(counting(packed), "a.map.gz").png)
    assert pixels[:, :8].min() == 255 and pixels[:, 8:].max() == 0


def test_tiff_first_page_and_rgb(counting, make):
    pages = np.zeros((3, 32, 48), np.uint16)
    pages[0, :, 24:] = 1000
    pages[1] = 5000
    pixels = as_array(
        thumbnail_of(counting(make.tiff(pages, photometric="minisblack")), "a.tif").png
    )
    assert pixels.shape == (32, 48)
    assert pixels[:, 24:].min() == 255 and pixels[:, :24].max() == 0
    rgb = np.zeros((20, 20, 3), np.uint8)
    rgb[:10] = 255
    pixels = as_array(thumbnail_of(counting(make.tiff(rgb, photometric="rgb")), "o.tiff").png)
    assert pixels[:10].min() == 255 and pixels[10:].max() == 0


def test_eer_sums_frames(counting, make):
    source = counting(make.eer(frames=6, width=64, height=64))
    thumbnail = thumbnail_of(source, "m.eer")
    assert thumbnail.reason == "sum of the first 6 of 6 frames"
    expected = np.zeros(64 * 64)
    for index in range(6):
        expected[make.frame_events(index, 64, 64)] += 1
    pixels = as_array(thumbnail.png).reshape(-1)
    assert pixels[expected == expected.max()].min() == 255
    assert pixels[expected == 0].max() == 0


def test_eer_frame_limit(counting, make, monkeypatch):
    from ingest import thumbnails

    monkeypatch.setattr(thumbnails, "MAX_EER_FRAMES", 3)
    thumbnail = thumbnail_of(counting(make.eer(frames=8)), "m.eer")
    assert thumbnail.reason == "sum of the first 3 of 8 frames"


def test_no_thumbnail_reasons(counting, make):
    text = FormatResult(format=FileFormat.MDOC)
    assert render_thumbnail(counting(b"x"), text).reason == "no image to preview in a mdoc file"
    assert make_thumbnail(counting(b"x"), text) is None
    header_only = make.mrc(np.zeros((64, 64), np.float32))[:1024]
    thumbnail = thumbnail_of(counting(header_only), "cut.mrc")
    assert thumbnail.png is None and thumbnail.reason.startswith("no preview: truncated: expected")


def test_decode_packed_and_complex_sections():
    packed = ThumbnailPlan(kind="raw_slice", width=3, height=2, dtype="<u1", pixel_format="packed4")
    assert decode_section(bytes([0x21, 0x03, 0x54, 0x06]), packed).tolist() == [
        [1, 2, 3],
        [4, 5, 6],
    ]
    complex_int = ThumbnailPlan(
        kind="raw_slice", width=1, height=1, dtype="<i2", pixel_format="complex_int16"
    )
    assert decode_section(np.array([3, 4], "<i2").tobytes(), complex_int).tolist() == [[5.0]]
    complex_float = ThumbnailPlan(kind="raw_slice", width=1, height=1, dtype="<c8")
    assert decode_section(np.array([3 + 4j], "<c8").tobytes(), complex_float).tolist() == [[5.0]]


def test_eer_with_unknown_frame_count_sums_what_is_there(counting, make):
    raw = make.eer(frames=4, items={"commercialName": ("Falcon 4", None)})
    thumbnail = thumbnail_of(counting(raw), "m.eer")
    assert (thumbnail.reason, thumbnail.png is not None) == ("sum of the first 4 frames", True)
