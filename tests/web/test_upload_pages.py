"""Facility staff's pages: the New session form, the uploader page and the live ingest panel."""

from __future__ import annotations

import datetime as dt
import json
import re
from typing import Any

import pytest
from django.test import Client
from django.urls import resolve
from django.utils import timezone

from ingest.models import UploadSession, UploadSessionState
from ingest.views import HTMX_STOP_POLLING
from repository.models import AuditEvent, Dataset, DatasetStatus, FileState, Visibility
from tests.support.catalogue import add_file

pytestmark = pytest.mark.django_db


def form_data(world: Any, **changes: Any) -> dict[str, Any]:
    data = {
        "facility": world.facility.pk,
        "instrument": world.instrument.pk,
        "project": world.project.pk,
        "technique": "spa",
        "title": "  Apoferritin   grid 3, Krios  ",
        "description": "Test session.",
        "keywords": "apoferritin, EER ,, Falcon 4i",
        "visibility": "private",
        "embargo_until": "",
    }
    data.update(changes)
    return data


def test_staff_creates_a_draft_dataset_and_session(client: Client, world: Any) -> None:
    client.force_login(world["staff"])
    response = client.post("/upload/", form_data(world))
    assert response.status_code == 302
    session = UploadSession.objects.get()
    assert response["Location"] == f"/upload/{session.pk}/"
    dataset = session.dataset
    assert dataset.title == "Apoferritin grid 3, Krios"
    assert dataset.status == DatasetStatus.DRAFT and dataset.owner == world["staff"]
    assert dataset.keywords == ["apoferritin", "EER", "Falcon 4i"]
    assert dataset.instrument == world.instrument and dataset.project == world.project
    assert session.state == UploadSessionState.OPEN and session.created_by == world["staff"]
    assert AuditEvent.objects.filter(dataset=dataset, action="create").exists()


def test_embargo_needs_a_future_date(client: Client, world: Any) -> None:
    client.force_login(world["curator"])
    response = client.post("/upload/", form_data(world, visibility="embargoed"))
    assert response.status_code == 200
    assert "An embargo needs the date the files open." in response.content.decode()
    past = (timezone.localdate() - dt.timedelta(days=1)).isoformat()
    response = client.post("/upload/", form_data(world, visibility="embargoed", embargo_until=past))
    assert "must be in the future" in response.content.decode()
    future = (timezone.localdate() + dt.timedelta(days=90)).isoformat()
    assert (
        client.post(
            "/upload/", form_data(world, visibility="embargoed", embargo_until=future)
        ).status_code
        == 302
    )
    dataset = Dataset.objects.get()
    assert (
        dataset.visibility == Visibility.EMBARGOED and dataset.embargo_until.isoformat() == future
    )


def test_instrument_of_another_facility_is_refused(
    client: Client, world: Any, other_instrument: Any
) -> None:
    client.force_login(world["admin"])  # may upload anywhere, so both instruments are offered
    response = client.post("/upload/", form_data(world, instrument=other_instrument.pk))
    assert response.status_code == 200
    assert f"This instrument is not at {world.facility.name}." in response.content.decode()
    assert not Dataset.objects.exists()


def test_facility_choices_are_the_users_own(client: Client, world: Any) -> None:
    client.force_login(world["staff"])
    html = client.get("/upload/").content.decode()
    assert world.facility.name in html and world.other_facility.name not in html
    response = client.post("/upload/", form_data(world, facility=world.other_facility.pk))
    assert response.status_code == 200 and not Dataset.objects.exists()


@pytest.mark.parametrize("persona", ["stranger", "member"])
def test_people_who_are_not_facility_staff_cannot_start_sessions(
    client: Client, world: Any, persona: str
) -> None:
    client.force_login(world[persona])
    assert client.get("/upload/").status_code == 403
    assert client.post("/upload/", form_data(world)).status_code == 403
    assert not Dataset.objects.exists()


def test_anonymous_is_sent_to_log_in(client: Client, world: Any) -> None:
    response = client.get("/upload/")
    assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")


def _session(client: Client, world: Any) -> UploadSession:
    client.force_login(world["staff"])
    client.post("/upload/", form_data(world))
    return UploadSession.objects.get()


def test_uploader_page_configures_the_browser_uploader(
    client: Client, world: Any, local_storage: Any, settings: Any
) -> None:
    settings.OPENEM_UPLOAD_PART_SIZE = 5 * 1024 * 1024
    session = _session(client, world)
    html = client.get(f"/upload/{session.pk}/").content.decode()
    config = json.loads(re.search(r'id="uploader-config"[^>]*>(.*?)</script>', html, re.S).group(1))
    assert config["storage"] == "local" and config["partSize"] == 5 * 1024 * 1024
    assert config["open"] is True and config["dataset"] == session.dataset.pid
    # the URLs the script calls are the upload API's
    assert resolve(config["api"]["files"]).url_name == "upload-files"
    assert resolve(config["api"]["complete"]).url_name == "upload-complete"
    assert resolve(config["api"]["files"] + "7/content").url_name == "upload-content"
    assert (
        resolve(config["api"]["files"] + "7/multipart/parts").url_name == "upload-multipart-parts"
    )
    assert resolve(config["statusUrl"]).url_name == "session-status"
    assert 'id="folder-input" webkitdirectory' in html


def test_uploader_page_is_for_the_facility_only(client: Client, world: Any) -> None:
    session = _session(client, world)
    for persona, status in (("other_staff", 404), ("stranger", 404), ("curator", 200)):
        client.force_login(world[persona])
        assert client.get(f"/upload/{session.pk}/").status_code == status, persona
        assert client.get(f"/upload/{session.pk}/status").status_code == status, persona


def test_resume_hint_counts_files_waiting_for_bytes(
    client: Client, world: Any, local_storage: Any
) -> None:
    session = _session(client, world)
    add_file(session.dataset, "a.mrc", b"1234", state=FileState.REGISTERED)
    add_file(session.dataset, "b.mrc", b"5678")
    from repository.models import DataFile

    DataFile.objects.update(upload_session=session)
    html = client.get(f"/upload/{session.pk}/").content.decode()
    assert "data-resume-hint" in html
    assert "2 files are registered in this session and 1 still waits for its bytes" in html


def _resume_hint(html: str) -> str:
    """The resume hint's element: ``<div id="resume-hint" ...>...</div>``."""
    found = re.search(r'<div id="resume-hint"[^>]*>.*?</div>', html, re.S)
    assert found, html
    return found.group(0)


def test_resume_hint_follows_the_upload_instead_of_the_first_page_load(
    client: Client, world: Any, local_storage: Any
) -> None:
    """The page is loaded while a file waits for its bytes; the upload then finishes in the
    page. The status fragment (what htmx polls, and what the uploader fetches when it is
    done) carries the hint out of band, so the stale "1 still waits" goes away."""
    from repository.models import DataFile

    session = _session(client, world)
    add_file(session.dataset, "a.mrc", b"1234", state=FileState.REGISTERED)
    add_file(session.dataset, "b.mrc", b"5678")
    add_file(session.dataset, "c.mrc", b"9012", state=FileState.REGISTERED)
    DataFile.objects.update(upload_session=session)
    page = client.get(f"/upload/{session.pk}/").content.decode()
    assert "2 still wait for their bytes" in _resume_hint(page)
    assert "hx-swap-oob" not in _resume_hint(page)  # the page's own element, swapped later

    # one file arrives: the fragment says so
    DataFile.objects.filter(path="a.mrc").update(state=FileState.STORED)
    status = client.get(f"/upload/{session.pk}/status", HTTP_HX_REQUEST="true")
    hint = _resume_hint(status.content.decode())
    assert 'hx-swap-oob="true"' in hint
    assert "3 files are registered in this session and 1 still waits for its bytes" in hint

    # the last one arrives and the uploader closes the session: the hint empties
    DataFile.objects.filter(path="c.mrc").update(state=FileState.STORED)
    session.state = UploadSessionState.COMPLETED
    session.save()
    status = client.get(f"/upload/{session.pk}/status", HTTP_HX_REQUEST="true")
    hint = _resume_hint(status.content.decode())
    assert 'hx-swap-oob="true"' in hint
    assert "still wait" not in hint and "data-resume-hint" not in hint
    # a page loaded now has the (empty) element too, so an out-of-band swap finds its target
    page = client.get(f"/upload/{session.pk}/").content.decode()
    assert "still wait" not in page and 'id="resume-hint"' in page


def test_status_panel_counts_and_explains_failures(
    client: Client, world: Any, local_storage: Any
) -> None:
    session = _session(client, world)
    from repository.models import DataFile

    add_file(session.dataset, "good.mrc", b"x" * 1000)
    add_file(
        session.dataset,
        "bad.mrc",
        b"y" * 500,
        state=FileState.FAILED,
        error="the MRC header says 4096 bytes of data, the file has 500",
    )
    add_file(session.dataset, "slow.mrc", b"z" * 250, state=FileState.PROCESSING)
    DataFile.objects.update(upload_session=session)
    response = client.get(f"/upload/{session.pk}/status", HTTP_HX_REQUEST="true")
    html = response.content.decode()
    assert response.status_code == 200  # still moving: htmx keeps polling
    assert 'hx-trigger="every 2s"' in html
    assert re.search(r"data-files-total>3<", html)
    assert re.search(r"data-files-ready>1 <small>1000", html)
    assert re.search(r"data-files-failed>1 <small>500", html)
    assert "the MRC header says 4096 bytes of data, the file has 500" in html

    DataFile.objects.filter(path="slow.mrc").update(state=FileState.READY)
    session.state = UploadSessionState.COMPLETED
    session.save()
    Dataset.objects.filter(pk=session.dataset_id).update(status=DatasetStatus.READY)
    response = client.get(f"/upload/{session.pk}/status", HTTP_HX_REQUEST="true")
    assert response.status_code == HTMX_STOP_POLLING  # every file settled: polling stops
    html = response.content.decode()
    assert 'hx-trigger="every 2s"' not in html
    assert "data-ingest-ready" in html and 'data-dataset-status="ready"' in html


def test_sessions_list(client: Client, world: Any) -> None:
    session = _session(client, world)
    html = client.get("/upload/sessions/").content.decode()
    assert f'data-session="{session.pk}"' in html
    client.force_login(world["other_staff"])
    assert f'data-session="{session.pk}"' not in client.get("/upload/sessions/").content.decode()


def test_uploads_menu_is_for_facility_staff(client: Client, world: Any) -> None:
    client.force_login(world["stranger"])
    assert 'href="/upload/sessions/"' not in client.get("/").content.decode()
    client.force_login(world["staff"])
    assert 'href="/upload/sessions/"' in client.get("/").content.decode()
