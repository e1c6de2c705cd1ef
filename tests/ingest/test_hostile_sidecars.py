"""Hostile values inside the sidecar files people upload (SerialEM .mdoc, EPU XML), through the
real parsers and the pipeline, then through the pages that show what was read.

test_epu.py and test_pipeline.py already cover XML bombs, external entities and DTDs and a
non-UTF-8 mdoc as *files*; here the corpus of tests/security/hostile.py goes into the *values*
(a header value is shown on the file's page), and broken encodings into the XML: each file ends
ready with its value shown escaped, or failed with a clear reason; never a crash, never markup.
"""

from __future__ import annotations

from typing import Any
from xml.sax.saxutils import escape as xml_escape

import pytest
from django.test import Client
from django.urls import reverse

from demo import seed as demo
from ingest.services import Outcome, datafile_process
from repository.models import DataFile, FileState
from tests.security.hostile import CORPUS, assert_page_safe, shown
from tests.support.formats import custom_entry, epu_xml
from tests.support.pipeline import new_dataset, new_session, store

#: The corpus values a sidecar can carry as text (a line of an mdoc, a text node of XML).
SIDECAR_VALUES = [
    h for h in CORPUS if h.id not in {"nul_byte", "lone_surrogate", "crlf_header", "very_long"}
]


def _mdoc(value: str) -> bytes:
    return demo.mdoc_text("TS.mrc").replace(
        b"DataMode = 1", b"DataMode = 1\nSubFramePath = " + value.encode()
    )


def _epu(value: str) -> bytes:
    return epu_xml(extra_custom=custom_entry("HostileNote", xml_escape(value), "string"))


def _pages(client: Client, datafile: DataFile) -> dict[str, str]:
    pid = datafile.dataset.pid
    urls = [
        reverse("datafile-detail", kwargs={"pid": pid, "file_id": datafile.pk}),
        reverse("dataset-files", kwargs={"pid": pid}),
        reverse("dataset-detail", kwargs={"pid": pid}),
    ]
    pages = {}
    for url in urls:
        response = client.get(url)
        assert response.status_code == 200, (url, response.status_code)
        pages[url] = response.content.decode()
    return pages


@pytest.mark.parametrize("kind", ["mdoc", "epu"])
@pytest.mark.parametrize("hostile", SIDECAR_VALUES, ids=str)
def test_hostile_sidecar_values_are_read_and_shown_escaped(
    world: Any, local_storage: Any, kind: str, hostile: Any
) -> None:
    dataset = new_dataset(world)
    session = new_session(world, dataset)
    name, data = (
        ("TS_01.mrc.mdoc", _mdoc(hostile.value))
        if kind == "mdoc"
        else ("FoilHole_1_Data_1.xml", _epu(hostile.value))
    )
    datafile = store(world, session, f"Sidecars/{name}", data)

    assert datafile_process(datafile.pk) == Outcome.READY
    datafile.refresh_from_db()
    assert datafile.state == FileState.READY, datafile.error
    client = Client()
    client.force_login(world["staff"])
    pages = _pages(client, datafile)
    for url, page in pages.items():
        assert_page_safe(page, where=f"{kind} {hostile} at {url}")
    detail = next(iter(pages.values()))
    kept = " ".join(hostile.value.split())
    if kept and any(ch in kept for ch in "<>\"'&"):
        assert shown(kept) in detail, f"the header value {kept!r} is not shown escaped"


BROKEN_XML = {
    "invalid_utf8": b'<?xml version="1.0" encoding="utf-8"?><MicroscopeImage><name>\xff\xfe'
    b"</name></MicroscopeImage>",
    "overlong_utf8": b'<?xml version="1.0" encoding="utf-8"?><MicroscopeImage><name>\xc0\xbc'
    b"script\xc0\xbe</name></MicroscopeImage>",
    "nul_byte": b"<MicroscopeImage><name>a\x00b</name></MicroscopeImage>",
    "surrogate_bytes": b"<MicroscopeImage><name>\xed\xa0\x80</name></MicroscopeImage>",
    "wrong_declared_encoding": b'<?xml version="1.0" encoding="x-hostile-9"?><MicroscopeImage/>',
    "utf7_script": b'<?xml version="1.0" encoding="utf-7"?><MicroscopeImage><name>'
    b"+ADw-script+AD4-alert(1)+ADw-/script+AD4-</name></MicroscopeImage>",
}


@pytest.mark.parametrize("case", sorted(BROKEN_XML))
def test_broken_encodings_in_epu_xml_fail_clearly_or_read_safely(
    world: Any, local_storage: Any, case: str
) -> None:
    dataset = new_dataset(world)
    session = new_session(world, dataset)
    good = store(world, session, "Sidecars/FoilHole_1_Data_2.xml", epu_xml())
    bad = store(world, session, "Sidecars/FoilHole_1_Data_1.xml", BROKEN_XML[case])

    outcome = datafile_process(bad.pk)
    assert datafile_process(good.pk) == Outcome.READY  # the neighbour is not affected
    bad.refresh_from_db()
    if outcome == Outcome.FAILED:
        assert bad.state == FileState.FAILED
        assert bad.error.startswith("EPU XML: "), bad.error
        assert "Traceback" not in bad.error
        if "encoding" in case or "utf7" in case:
            assert "declares an encoding that cannot be read" in bad.error, bad.error
    else:
        assert outcome == Outcome.READY and bad.state == FileState.READY
    client = Client()
    client.force_login(world["staff"])
    for url, page in _pages(client, bad).items():
        assert_page_safe(page, where=f"{case} at {url}")
