"""`python -m openem.assets`: ReDoc's bundle as the portal serves it (no request to a CDN)."""

from __future__ import annotations

import pytest

from openem import assets


def test_the_served_redoc_bundle_names_no_cdn(tmp_path):
    target = assets.build_redoc(assets.sidecar_redoc(), tmp_path)
    source = assets.sidecar_redoc().read_bytes()
    built = target.read_bytes()
    assert b"cdn.redoc.ly" in source and b"cdn.redoc.ly" not in built
    assert len(built) == len(source) - len(assets.CDN_LOGO) + len(b'src:""')
    assert target == tmp_path / "redoc" / "bundles" / "redoc.standalone.js"


def test_an_unexpected_bundle_is_refused_and_nothing_is_written(tmp_path):
    changed = tmp_path / "redoc.standalone.js"
    changed.write_bytes(b'img({src:"https://cdn.redoc.ly/redoc/new-logo.svg"})')
    with pytest.raises(assets.AssetError, match="expected ReDoc's CDN logo once, found it 0"):
        assets.build_redoc(changed, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_a_second_cdn_address_is_refused(tmp_path):
    changed = tmp_path / "redoc.standalone.js"
    changed.write_bytes(assets.CDN_LOGO + b';fetch("https://cdn.redoc.ly/x")')
    with pytest.raises(assets.AssetError, match="somewhere else too"):
        assets.build_redoc(changed, tmp_path / "out")


def test_the_command_says_what_is_missing(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(assets, "sidecar_redoc", lambda: tmp_path / "absent.js")
    assert assets.main() == 1
    assert "absent.js" in capsys.readouterr().err
