"""The EMPIAR API client against recorded responses, replayed by a server on 127.0.0.1."""

from __future__ import annotations

import pytest

from deposition.empiar.client import EmpiarApiError, EmpiarClient

DOCUMENT = {"title": "Apoferritin session of the test suite", "imagesets": []}


def client(replay, **kwargs) -> EmpiarClient:
    return EmpiarClient(base_url=replay.base_url, token="secret-token", dry_run=False, **kwargs)


def test_deposit_thumbnail_rights_redeposit_and_submit(empiar_replay):
    replay = empiar_replay("empiar_deposit_and_submit")
    empiar = client(replay)

    created = empiar.deposit_entry(DOCUMENT)
    assert (created.entry_id, created.directory) == (101, "DIR_20261124_101")
    empiar.image_upload(101, b"\x89PNG fake", "entry_thumbnail.png")
    empiar.grant_rights(101, emails={"colleague@example.org": 3})
    updated = empiar.redeposit_entry(101, DOCUMENT)
    assert updated.entry_id == 101
    submitted = empiar.submit_entry(101)
    assert submitted.accession == "EMPIAR-10001"

    assert [(r.method, r.path) for r in replay.received] == [
        ("POST", "/empiar/deposition/api/deposit_entry/"),
        ("POST", "/empiar/deposition/api/image_upload/"),
        ("POST", "/empiar/deposition/api/grant_rights/"),
        ("PUT", "/empiar/deposition/api/redeposit_entry/"),
        ("POST", "/empiar/deposition/api/submit_entry/"),
    ]
    assert all(r.headers["Authorization"] == "Token secret-token" for r in replay.received)
    deposit, upload, rights, redeposit, submit = replay.received
    assert deposit.json() == DOCUMENT
    assert deposit.headers["Content-Type"] == "application/json"
    assert upload.headers["Content-Type"].startswith("multipart/form-data")
    assert b'name="entry_id"' in upload.body and b"\x89PNG fake" in upload.body
    assert rights.json() == {"e": {"colleague@example.org": 3}, "entry_id": 101}
    assert redeposit.json() == {**DOCUMENT, "entry_id": 101}
    assert submit.json() == {"entry_id": "101"}


def test_a_dry_run_sends_nothing_and_never_the_token(empiar_replay):
    replay = empiar_replay("empiar_deposit_and_submit")
    empiar = EmpiarClient(base_url=replay.base_url, token="secret-token")  # dry run by default
    assert empiar.dry_run
    planned = [
        empiar.deposit_entry(DOCUMENT),
        empiar.image_upload(0, b"png", "entry_thumbnail.png"),
        empiar.submit_entry(0),
    ]
    assert replay.received == []
    assert [p.request.url for p in planned] == [
        f"{replay.base_url}deposit_entry/",
        f"{replay.base_url}image_upload/",
        f"{replay.base_url}submit_entry/",
    ]
    assert "secret-token" not in repr([p.to_dict() for p in planned])


def test_a_refused_token_is_an_error_with_the_archive_message(empiar_replay):
    replay = empiar_replay("empiar_refusals")
    empiar = client(replay)
    with pytest.raises(EmpiarApiError, match="Invalid token"):
        empiar.deposit_entry(DOCUMENT)
    with pytest.raises(EmpiarApiError, match="permission"):
        empiar.submit_entry(5)


def test_malformed_answers_are_errors(empiar_replay):
    replay = empiar_replay("empiar_refusals")
    empiar = client(replay)
    replay.remaining = replay.remaining[2:]  # skip the refusals
    with pytest.raises(EmpiarApiError, match="not a number"):
        empiar.deposit_entry(DOCUMENT)
    with pytest.raises(EmpiarApiError, match="thumbnail"):
        empiar.image_upload(5, b"png", "t.png")


def test_live_use_needs_a_token():
    with pytest.raises(EmpiarApiError, match="OPENEM_EMPIAR_API_TOKEN"):
        EmpiarClient(base_url="http://127.0.0.1:9/", token="", dry_run=False)


def test_an_unreachable_server_is_a_clear_error():
    empiar = EmpiarClient(base_url="http://127.0.0.1:9/api/", token="t", dry_run=False)
    with pytest.raises(EmpiarApiError, match="could not be reached"):
        empiar.submit_entry(1)
