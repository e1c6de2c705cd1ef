"""Each uploaded part carries its CRC32, computed by the CLI (Python) or the browser uploader
(``static/js/crc32.js``); S3 refuses a part whose bytes do not match. Both must write the value
exactly as S3 does: the 4 bytes of zlib's CRC32, big endian, in base64."""

from __future__ import annotations

import base64
import json
import random
import shutil
import subprocess
import zlib
from pathlib import Path

from openem_client.files import part_crc32

ROOT = Path(__file__).resolve().parents[2]


def test_the_cli_writes_the_crc32_as_s3_does():
    assert part_crc32(b"123456789") == "y/Q5Jg=="  # the CRC-32 check value, 0xCBF43926
    assert part_crc32(b"") == "AAAAAA=="
    data = random.Random(1).randbytes(3 * 1024 * 1024 + 5)
    assert base64.b64decode(part_crc32(memoryview(data))) == zlib.crc32(data).to_bytes(4, "big")


def test_the_browser_uploader_computes_the_same_crc32_as_zlib(tmp_path):
    node = shutil.which("node")
    assert node, "Node.js is needed to build the front-end assets (make assets) and for this test"
    rng = random.Random(7)
    # Lengths around the 8-byte stride and the 4 MiB slices the browser reads a part in.
    sizes = [0, 1, 7, 8, 9, 1000, 4 * 1024 * 1024 - 1, 4 * 1024 * 1024 + 13]
    blobs = []
    for index, size in enumerate(sizes):
        path = tmp_path / f"part{index}.bin"
        path.write_bytes(rng.randbytes(size))
        blobs.append(str(path))
    script = f"""
        import {{ readFileSync }} from 'node:fs'
        import {{ blobCrc32 }} from '{(ROOT / "static/js/crc32.js").as_uri()}'
        const paths = {json.dumps(blobs)}
        const out = []
        for (const path of paths) out.push(await blobCrc32(new Blob([readFileSync(path)])))
        console.log(JSON.stringify(out))
    """
    result = subprocess.run(  # noqa: S603 - node on our own module
        [node, "--input-type=module", "-e", script],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    computed = json.loads(result.stdout)
    assert computed == [part_crc32(Path(p).read_bytes()) for p in blobs]
