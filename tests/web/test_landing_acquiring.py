"""The landing page of a dataset that ``openem watch`` is still filling: "acquiring", with the
newest micrographs, until the acquiring upload session is closed."""

from __future__ import annotations

from typing import Any

from ingest.models import UploadSession, UploadSessionState
from repository.models import FileState
from repository.services import dataset_create
from tests.factories import DataFileFactory


def test_acquiring_session_shows_the_latest_micrographs(world: Any, client: Any) -> None:
    dataset = dataset_create(
        actor=world["staff"], facility=world.facility, technique="spa", title="Live session"
    )
    url = f"/datasets/{dataset.pid}/"
    client.force_login(world["staff"])
    assert 'id="acquiring"' not in client.get(url).content.decode()

    session = UploadSession.objects.create(
        dataset=dataset, created_by=world["staff"], acquiring=True
    )
    files = [
        DataFileFactory(
            dataset=dataset,
            upload_session=session,
            path=f"Images-Disc1/GridSquare_1/Data/FoilHole_{n}_Data.mrc",
            state=FileState.READY,
            thumbnail_key=f"thumbnails/{n}.png",
        )
        for n in range(8)
    ]
    page = client.get(url).content.decode()
    assert 'id="acquiring"' in page
    assert "Acquiring" in page
    assert "8 so far" in page
    panel = page.split('id="acquiring"')[1].split("</section>")[0]
    shown = {f.pk for f in files if f"/files/{f.pk}/thumbnail.png" in panel}
    assert shown == {f.pk for f in files[-6:]}  # the six newest

    client.logout()  # a draft: outsiders see nothing of it
    assert client.get(url).status_code == 404

    UploadSession.objects.filter(pk=session.pk).update(state=UploadSessionState.COMPLETED)
    client.force_login(world["staff"])
    assert 'id="acquiring"' not in client.get(url).content.decode()
