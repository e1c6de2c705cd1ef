"""Per-dataset plots: every demo dataset shows some, each with its numbers as a table, map
slices from ranged reads of one section at a time, and only for those who may see files."""

from __future__ import annotations

import re

import numpy as np
import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.test import Client

from demo import seed as demo
from repository.models import DataFile, Dataset, FileState
from stats import dataset_plots as plots
from tests.factories import DatasetFactory
from tests.support.formats import CountingSource

EXPECTED = {
    "Mouse apoferritin": {"defocus", "dose", "overview"},
    "Chlamydomonas": {"defocus", "dose", "tilt"},
    "Apoferritin 2.1": {"map-"},
    "Unpublished ribosome": {"defocus", "dose", "overview"},
}


@pytest.fixture
def demo_data(transactional_db, local_storage):
    call_command("load_builtin_schemas", verbosity=0)
    demo.load_demo(stdout=lambda _line: None)


@pytest.mark.usefixtures("demo_data")
def test_every_demo_dataset_shows_plots_with_their_numbers(client: Client) -> None:
    client.force_login(get_user_model().objects.get(username="curator"))
    for prefix, expected in EXPECTED.items():
        dataset = Dataset.objects.get(title__startswith=prefix)
        html = client.get(dataset.get_absolute_url()).content.decode()
        keys = set(re.findall(r'data-plot="([^"]+)"', html))
        if prefix == "Chlamydomonas":  # the tilt stack beside its mdoc is no map
            assert not any(key.startswith("map-") for key in keys), keys
        for key in expected:
            assert any(k.startswith(key) for k in keys), (prefix, key, keys)
        for key, extension in re.findall(r"/plots/([\w-]+)\.(svg|png)", html):
            response = client.get(f"{dataset.get_absolute_url()}plots/{key}.{extension}")
            assert response.status_code == 200, (prefix, key)
            body = response.content
            if extension == "svg":
                assert response["Content-Type"] == "image/svg+xml" and b"<svg" in body[:400]
                assert b"<style" not in body  # the portal's CSP
            else:
                assert body.startswith(b"\x89PNG")
        # the numbers beside each plot, readable without the image
        tables = re.findall(r'data-plot="[^"]+".*?<table class="data">(.*?)</table>', html, re.S)
        assert len(tables) == len(keys) and all("<td>" in table for table in tables)


@pytest.mark.usefixtures("demo_data")
def test_tilt_angles_follow_acquisition_order_in_the_table(client: Client) -> None:
    client.force_login(get_user_model().objects.get(username="curator"))
    tomo = Dataset.objects.get(title__startswith="Chlamydomonas")
    plot = next(p for p in plots.dataset_plots(tomo, with_files=True) if p.key == "tilt")
    assert [row[1] for row in plot.rows] == [str(n) for n in range(1, 12)]
    assert [row[3] for row in plot.rows] == [str(-30 + 6 * z) for z in range(11)]
    spa = Dataset.objects.get(title__startswith="Mouse apoferritin")
    defocus = next(p for p in plots.dataset_plots(spa, with_files=True) if p.key == "defocus")
    assert defocus.rows[-1] == ["all", "15"]
    assert defocus.columns == ["Defocus (µm)", "Exposures"]


@pytest.mark.usefixtures("demo_data")
def test_map_slices_are_only_for_those_who_may_see_the_files(client: Client) -> None:
    emdb_map = Dataset.objects.get(kind="map")
    assert any(p.key.startswith("map-") for p in plots.dataset_plots(emdb_map, with_files=True))
    assert not plots.dataset_plots(emdb_map, with_files=False)
    datafile = DataFile.objects.get(dataset=emdb_map)
    emdb_map.visibility = "embargoed"
    emdb_map.embargo_until = "2999-01-01"
    emdb_map.save()
    response = client.get(f"{emdb_map.get_absolute_url()}plots/map-{datafile.pk}.png")
    assert response.status_code == 404
    assert client.get(f"{emdb_map.get_absolute_url()}plots/nothing.svg").status_code == 404


def test_central_slices_read_one_section_at_a_time() -> None:
    nz, ny, nx = 300, 40, 48
    volume = np.zeros((nz, ny, nx), np.float32)
    volume[nz // 2, :, : nx // 2] = 1.0  # XY: left half bright
    volume[:, ny // 2, :] += np.linspace(0, 1, nz, dtype=np.float32)[:, None]  # XZ: ramp in z
    volume[:, :, nx // 2] += 2.0  # YZ: all bright
    header = {"nx": nx, "ny": ny, "nz": nz, "dtype": "float32", "data_offset": 1024}
    source = CountingSource(bytes(1024) + volume.tobytes())
    (_, xy), (_, xz), (_, yz) = plots.central_slices(source, header)
    assert np.array_equal(xy, volume[nz // 2])
    assert xz.shape == (plots.MAX_SECTIONS, nx) and yz.shape == (plots.MAX_SECTIONS, ny)
    assert xz[0, 0] == 0.0 and xz[-1, 0] == pytest.approx(1.0)
    assert (yz >= 2.0).all()
    # sampled sections only, each one read of exactly one section
    assert source.stats.requests <= plots.MAX_SECTIONS + 1
    assert {length for _, length in source.reads} == {nx * ny * 4}


def test_a_map_too_large_for_slices_says_so() -> None:
    header = {"nx": 8192, "ny": 8192, "nz": 10, "dtype": "float32"}
    with pytest.raises(ValueError, match="too large for slices"):
        plots.central_slices(CountingSource(b""), header)


@pytest.mark.django_db
def test_ice_and_ctf_figures_where_the_sidecars_have_them() -> None:
    dataset = DatasetFactory()
    for index, thickness in enumerate((22.0, 35.5, 41.0)):
        DataFile.objects.create(
            dataset=dataset,
            path=f"Data/FoilHole_{index}_Data_1.xml",
            size=10,
            storage_key=f"k/{index}",
            state=FileState.READY,
            format="epu_xml",
            header={"epu_image_kind": "data", "ice_thickness": thickness, "dose": 40.0},
        )
    keys = [p.key for p in plots.dataset_plots(dataset, with_files=False)]
    assert keys == ["dose", "ice-thickness"]
    ice = plots.dataset_plots(dataset, with_files=False)[1]
    assert ice.columns == ["Ice thickness (nm)", "Exposures"] and ice.rows[-1] == ["all", "3"]
    assert b"<svg" in ice.draw()[:400]
