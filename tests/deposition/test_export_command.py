"""``manage.py export_deposition DATASET --target empiar|emdb|mmcif --out PATH``."""

from __future__ import annotations

import json

import gemmi
import pytest
from django.core.management import CommandError, call_command
from lxml import etree

from tests.support.deposition import spa_files


@pytest.mark.usefixtures("schemas")
def test_writes_a_valid_empiar_document_by_pid(spa_dataset, tmp_path, capsys):
    out = tmp_path / "empiar.json"
    call_command("export_deposition", spa_dataset.pid, "--target", "empiar", "--out", str(out))
    assert json.loads(out.read_text())["title"] == spa_dataset.title
    assert "VALID: 0 error(s)" in capsys.readouterr().err


@pytest.mark.usefixtures("emdb_schemas")
def test_emdb_and_mmcif_by_numeric_id(map_dataset, tmp_path):
    xml, cif = tmp_path / "header.xml", tmp_path / "em.cif"
    call_command("export_deposition", str(map_dataset.pk), "--target", "emdb", "--out", str(xml))
    assert etree.parse(str(xml)).getroot().get("version") == "3.0.11.3"
    call_command("export_deposition", str(map_dataset.pk), "--target", "mmcif", "--out", str(cif))
    block = gemmi.cif.read(str(cif)).sole_block()
    assert block.find_value("_em_imaging.accelerating_voltage") == "300"
    # PDBx: defocus in nanometres, underfocus positive (EPU wrote -2000..-800 nm)
    assert block.find_value("_em_imaging.nominal_defocus_min") == "800"
    assert block.find_value("_em_imaging.nominal_defocus_max") == "2000"
    files = [gemmi.cif.as_string(value) for value in block.find_values("_em_map.file")]
    assert files == ["emd_0000.map", "emd_0000_half_map_1.map", "emd_0000_half_map_2.map"]


@pytest.mark.usefixtures("schemas")
def test_an_invalid_document_exits_non_zero_with_the_report(ingest, tmp_path, capsys):
    dataset = ingest(files=spa_files(tmp_path)[-1:], metadata={})
    out = tmp_path / "empiar.json"
    with pytest.raises(CommandError, match="does not validate"):
        call_command("export_deposition", dataset.pid, "--target", "empiar", "--out", str(out))
    err = capsys.readouterr().err
    assert "INVALID" in err and "$.authors" in err
    assert "/metadata/edit#f-organizational-authors" in err


def test_an_unknown_dataset_is_a_clear_error(db, tmp_path):
    with pytest.raises(CommandError, match="no dataset 'oem-nothing'"):
        call_command("export_deposition", "oem-nothing", "--target", "emdb", "--out", "-")


@pytest.mark.usefixtures("schemas")
def test_the_exit_status_seen_by_a_shell(spa_dataset, tmp_path):
    # CommandError becomes exit status 1 for `manage.py` in a shell.
    from django.core.management import ManagementUtility

    utility = ManagementUtility(
        [
            "manage.py",
            "export_deposition",
            spa_dataset.pid,
            "--target",
            "emdb",
            "--out",
            str(tmp_path / "x.xml"),
        ]
    )
    with pytest.raises(SystemExit) as exit_info:
        utility.execute()
    assert exit_info.value.code == 1  # an SPA session has no map: the header does not validate
