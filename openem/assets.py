"""Static assets made from installed Python packages (`python -m openem.assets`, run by `make assets`).

ReDoc's standalone bundle (from drf-spectacular-sidecar) renders Redocly's logo from their CDN;
the portal serves everything itself and its CSP allows no other origin, so the copy served under
``static/vendor/redoc/`` leaves the logo's address empty: the bundle's own ``onError`` fallback
then hides the image, and no visitor's browser contacts a third party.
"""

from __future__ import annotations

import sys
from pathlib import Path

import drf_spectacular_sidecar

STATIC_VENDOR = Path(__file__).resolve().parent.parent / "static" / "vendor"
REDOC_BUNDLE = "redoc/bundles/redoc.standalone.js"
CDN_LOGO = b'src:"https://cdn.redoc.ly/redoc/logo-mini.svg"'


class AssetError(Exception):
    """An asset cannot be built from what is installed."""


def sidecar_redoc() -> Path:
    return (
        Path(drf_spectacular_sidecar.__file__).parent
        / "static"
        / "drf_spectacular_sidecar"
        / REDOC_BUNDLE
    )


def build_redoc(source: Path, target_dir: Path = STATIC_VENDOR) -> Path:
    """Write ReDoc's bundle without the CDN logo; refuse a bundle that does not look as expected."""
    bundle = source.read_bytes()
    if bundle.count(CDN_LOGO) != 1:
        raise AssetError(
            f"{source}: expected ReDoc's CDN logo once, found it {bundle.count(CDN_LOGO)} times;"
            " check the new drf-spectacular-sidecar release and update openem/assets.py"
        )
    offline = bundle.replace(CDN_LOGO, b'src:""')
    if b"cdn.redoc.ly" in offline:
        raise AssetError(f"{source}: ReDoc's bundle names cdn.redoc.ly somewhere else too")
    target = target_dir / REDOC_BUNDLE
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_suffix(".partial")
    partial.write_bytes(offline)
    partial.replace(target)
    return target


def main() -> int:
    try:
        target = build_redoc(sidecar_redoc())
    except (AssetError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"wrote {target.relative_to(STATIC_VENDOR.parent.parent)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
