"""A worker SIGKILLed in the middle of packaging a deposition (its server-side copies under way)
leaves the job ``running`` with nobody running it: its heartbeat stops, the reconciler's next
pass queues it again, and a new worker makes the package, with the checksums a clean run lists,
every step in the audit trail."""

from __future__ import annotations

import io
import json
from typing import Any

import pytest
from django.core.management import call_command

import storage
from bench.faultproxy import Fault
from deposition import packaging, services
from deposition.models import Deposition, DepositionState, PackageJob
from ingest.uploads import datafile_store_stream, upload_session_create
from repository.models import AuditAction, AuditEvent, DataFile, FileState
from repository.services import dataset_create
from tests.faults import harness
from tests.support.deposition import full_metadata, spa_files

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.services]


def test_a_worker_killed_mid_package_leaves_nothing_stuck(
    world: Any, fault_s3: Any, schemas: Any, request: Any, tmp_path: Any
) -> None:
    call_command("load_builtin_schemas", verbosity=0)
    dataset = dataset_create(
        actor=world["staff"], facility=world.facility, instrument=world.instrument,
        project=world.project, technique="spa", title="Apoferritin on a Krios G4",
        emdb_ids=["EMD-12345"],
    )  # fmt: skip
    session = upload_session_create(actor=world["staff"], dataset=dataset)
    for path, content in spa_files(tmp_path):  # ingested in this process (no worker yet)
        datafile_store_stream(
            actor=world["staff"], session=session, path=path, stream=io.BytesIO(content),
            size=len(content),
        )  # fmt: skip
    assert not DataFile.objects.filter(dataset=dataset).exclude(state=FileState.READY).exists()
    dataset.refresh_from_db()
    dataset.metadata = {**dataset.metadata, **full_metadata()}
    dataset.save(update_fields=["metadata"])
    worker = request.getfixturevalue("celery_worker_process")

    # The package's first two objects are written, then its writes stall in the proxy: the
    # worker is mid-package, with a partial package in the bucket.
    written = []

    def stall_copies(method: str, path: str) -> Fault | None:
        if method != "PUT" or "/depositions/" not in path:
            return None
        written.append(path)
        return Fault(stall=5.0) if len(written) > 2 else None

    fault_s3.proxy.rules.append(stall_copies)
    curator = world["curator"]
    deposition = services.deposition_validate(actor=curator, dataset=dataset, target="empiar")
    assert deposition.state == DepositionState.VALIDATED, deposition.report
    services.deposition_package_request(actor=curator, deposition=deposition)
    harness.wait_for(lambda: bool(fault_s3.proxy.applied), 60, "the worker to copy files")
    worker.kill()
    fault_s3.proxy.rules.clear()
    deposition.refresh_from_db()
    assert deposition.package_job == PackageJob.RUNNING  # and nobody is running it
    worker.start_again()

    harness.reconciler_pass()
    harness.wait_for(
        lambda: Deposition.objects.filter(pk=deposition.pk, package_job=PackageJob.NONE).exists(),
        90,
        "the package to be made again",
    )
    deposition.refresh_from_db()
    assert deposition.state == DepositionState.PACKAGED, deposition.package_error
    store = storage.get_store()
    manifest = json.loads(b"".join(store.iter_chunks(deposition.package["manifest_key"])))
    listed = {e["path"]: e["sha256"] for e in manifest["entries"] if e["path"].startswith("data/")}
    checksums = dict(
        DataFile.objects.filter(dataset=dataset).values_list("path", "checksum_sha256")
    )
    assert listed  # the data files, with the checksums ingest computed
    assert all(sha == checksums[path.removeprefix("data/")] for path, sha in listed.items())
    for path in listed:  # every copy is there, at its size
        assert store.size(f"{deposition.package_prefix}/{path}") > 0
    steps = list(
        AuditEvent.objects.filter(action=AuditAction.DEPOSITION, target_id=str(deposition.pk))
        .order_by("created")
        .values_list("details__step", flat=True)
    )
    assert steps[-4:] == [
        "package requested",
        "package requeued",
        "partial package discarded",
        "packaged",
    ], steps
    # Nothing of the dead run is left: every object of the deposition is in the new package.
    left = set(store.list_keys(packaging.package_namespace(deposition)))
    assert left and all(key.startswith(f"{deposition.package_prefix}/") for key in left)
    assert not list(store.multipart_list_uploads())
