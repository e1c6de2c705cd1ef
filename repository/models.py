"""Facilities, instruments, projects, memberships (roles), datasets, files and the audit trail.

Writes go through ``repository.services``; reads with rules through ``repository.selectors`` and
``repository.access``. Models hold data, constraints and single-instance behaviour only.
"""

from __future__ import annotations

import datetime as dt
import secrets

from django.conf import settings
from django.core.validators import RegexValidator
from django.db import models
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone

from metadata.models import Technique  # the vocabulary is metadata's; importable from here too

ROR_VALIDATOR = RegexValidator(
    r"^0[a-hj-km-np-tv-z0-9]{6}[0-9]{2}$", "Enter a ROR id like 05a28rw58."
)
EMDB_ID_VALIDATOR = RegexValidator(r"^EMD-\d{4,6}$", "EMDB ids look like EMD-1234.")
EMPIAR_ID_VALIDATOR = RegexValidator(r"^EMPIAR-\d{5,6}$", "EMPIAR ids look like EMPIAR-10001.")
DOI_VALIDATOR = RegexValidator(r"^10\.\d{4,9}/\S+$", "A DOI looks like 10.1038/s41586-020-2649-2.")
PID_ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"  # Crockford base32, lower case: no i l o u


def new_pid() -> str:
    """A short, stable, unambiguous public identifier: ``oem-`` + 10 base32 characters (50 bits)."""
    return "oem-" + "".join(secrets.choice(PID_ALPHABET) for _ in range(10))


class Facility(models.Model):
    name = models.CharField(max_length=200, unique=True)
    slug = models.SlugField(max_length=64, unique=True)
    ror_id = models.CharField("ROR id", max_length=9, blank=True, validators=[ROR_VALIDATOR])
    contact_email = models.EmailField(blank=True)
    homepage = models.URLField(blank=True)
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name_plural = "facilities"
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Instrument(models.Model):
    facility = models.ForeignKey(Facility, on_delete=models.PROTECT, related_name="instruments")
    name = models.CharField(max_length=200, help_text="Local name, e.g. 'Krios G4 (room 1.23)'.")
    manufacturer = models.CharField(max_length=100)
    model = models.CharField(max_length=100, help_text="e.g. Titan Krios G4")
    serial_number = models.CharField(max_length=100, blank=True)
    detectors = models.JSONField(
        default=list, blank=True, help_text="Detector models, e.g. ['Falcon 4i']."
    )

    class Meta:
        ordering = ["facility__name", "name"]
        constraints = [
            models.UniqueConstraint(
                fields=["facility", "name"], name="unique_instrument_name_per_facility"
            )
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.manufacturer} {self.model})"


class FacilityRole(models.TextChoices):
    STAFF = "staff", "Facility staff"
    CURATOR = "curator", "Curator"


class FacilityMembership(models.Model):
    """A user's role at a facility: staff create datasets and upload; curators also publish."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="facility_memberships"
    )
    facility = models.ForeignKey(Facility, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=16, choices=FacilityRole.choices)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "facility"], name="unique_facility_membership")
        ]

    def __str__(self) -> str:
        return f"{self.user} - {self.get_role_display()} at {self.facility}"


class Project(models.Model):
    """A research group or proposal; its members see and edit its non-public datasets."""

    title = models.CharField(max_length=300)
    code = models.SlugField(max_length=64, unique=True, help_text="Proposal or group code.")
    facility = models.ForeignKey(Facility, on_delete=models.PROTECT, related_name="projects")
    principal_investigator = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="led_projects"
    )
    members = models.ManyToManyField(
        settings.AUTH_USER_MODEL, through="ProjectMembership", related_name="projects"
    )
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["title"]

    def __str__(self) -> str:
        return self.title


class ProjectMembership(models.Model):
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="project_memberships"
    )
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="memberships")

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "project"], name="unique_project_membership")
        ]

    def __str__(self) -> str:
        return f"{self.user} in {self.project}"


class DatasetKind(models.TextChoices):
    RAW_SESSION = "raw", "Raw session"
    PROCESSED = "processed", "Processed data"
    MAP = "map", "Map"


class Visibility(models.TextChoices):
    PRIVATE = "private", "Private"
    EMBARGOED = "embargoed", "Embargoed"
    PUBLIC = "public", "Public"


class DatasetStatus(models.TextChoices):
    DRAFT = "draft", "Draft"
    INGESTING = "ingesting", "Ingesting"
    READY = "ready", "Ready for curation"
    PUBLISHED = "published", "Published"
    WITHDRAWN = "withdrawn", "Withdrawn"


class Dataset(models.Model):
    pid = models.CharField(
        "persistent identifier", max_length=20, unique=True, default=new_pid, editable=False
    )
    title = models.CharField(max_length=300)
    description = models.TextField(blank=True)
    kind = models.CharField(
        max_length=16, choices=DatasetKind.choices, default=DatasetKind.RAW_SESSION
    )
    technique = models.CharField(max_length=16, choices=Technique.choices)
    facility = models.ForeignKey(Facility, on_delete=models.PROTECT, related_name="datasets")
    instrument = models.ForeignKey(
        Instrument, on_delete=models.PROTECT, related_name="datasets", null=True, blank=True
    )
    project = models.ForeignKey(
        Project, on_delete=models.PROTECT, related_name="datasets", null=True, blank=True
    )
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="owned_datasets"
    )
    keywords = models.JSONField(default=list, blank=True)
    licence = models.CharField(max_length=64, default="CC-BY-4.0", help_text="SPDX licence id.")
    visibility = models.CharField(
        max_length=16, choices=Visibility.choices, default=Visibility.PRIVATE
    )
    embargo_until = models.DateField(null=True, blank=True)
    status = models.CharField(
        max_length=16, choices=DatasetStatus.choices, default=DatasetStatus.DRAFT
    )
    metadata = models.JSONField(default=dict, blank=True)
    metadata_schema = models.ForeignKey(
        "metadata.MetadataSchema",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="datasets",
        help_text="The schema (and version) the metadata was last validated against.",
    )
    metadata_validation = models.JSONField(
        default=dict,
        blank=True,
        help_text='{"valid": bool, "problems": [{"path", "message"}], "checked_at"}',
    )
    emdb_ids = models.JSONField("EMDB ids", default=list, blank=True)
    empiar_id = models.CharField(
        "EMPIAR id", max_length=16, blank=True, validators=[EMPIAR_ID_VALIDATOR]
    )
    publication_dois = models.JSONField("publication DOIs", default=list, blank=True)
    created = models.DateTimeField(default=timezone.now, db_index=True)
    modified = models.DateTimeField(auto_now=True)
    published_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created"]
        indexes = [
            models.Index(fields=["status", "visibility", "-created"], name="dataset_listing_idx"),
            models.Index(fields=["facility", "-created"], name="dataset_facility_idx"),
            models.Index(fields=["technique"], name="dataset_technique_idx"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=~Q(visibility="embargoed") | Q(embargo_until__isnull=False),
                name="embargo_needs_date",
                violation_error_message="An embargoed dataset needs an embargo date.",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.pid}: {self.title}"

    def get_absolute_url(self) -> str:
        return reverse("dataset-detail", kwargs={"pid": self.pid})

    def files_are_open(self, today: dt.date | None = None) -> bool:
        """Whether its visibility and embargo open the files to anyone (:func:`files_open`;
        that the dataset is published too is ``repository.access``'s to add)."""
        return files_open(self.visibility, self.embargo_until, today)


def files_open(
    visibility: str, embargo_until: dt.date | None, today: dt.date | None = None
) -> bool:
    """Whether files of this visibility and embargo (a dataset's, or a published version's)
    are open to anyone once published: public, or an embargo that has ended (then
    automatically, whether or not the periodic release task has run). :func:`files_open_q`
    is the same rule as a filter on datasets."""
    if visibility == Visibility.PUBLIC:
        return True
    today = today or timezone.localdate()
    return bool(visibility == Visibility.EMBARGOED and embargo_until and embargo_until <= today)


def files_open_q(today: dt.date) -> Q:
    """:func:`files_open` as a filter on datasets."""
    return Q(visibility=Visibility.PUBLIC) | Q(
        visibility=Visibility.EMBARGOED, embargo_until__lte=today
    )


class FileState(models.TextChoices):
    REGISTERED = "registered", "Registered"
    STORED = "stored", "Stored"
    PROCESSING = "processing", "Processing"
    READY = "ready", "Ready"
    FAILED = "failed", "Failed"


class DataFile(models.Model):
    """One file of a dataset. Scales to 10^6 rows per dataset: every filter and sort is indexed."""

    dataset = models.ForeignKey(Dataset, on_delete=models.CASCADE, related_name="files")
    upload_session = models.ForeignKey(
        "ingest.UploadSession",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="files",
    )
    path = models.CharField(
        max_length=1024, help_text="Sanitised relative path inside the session."
    )
    directory = models.CharField(
        max_length=1024, blank=True, help_text="Parent folder of path ('' at top)."
    )
    name = models.CharField(max_length=255)
    size = models.BigIntegerField()
    storage_key = models.CharField(max_length=255, unique=True)
    # Values come from ingest.formats.base.FileFormat; kept without choices so that a new
    # reader never needs a schema migration.
    format = models.CharField(max_length=16, blank=True)
    checksum_sha256 = models.CharField("SHA-256", max_length=64, blank=True)
    checksum_md5 = models.CharField("MD5", max_length=32, blank=True)
    upload_id = models.CharField(
        max_length=1024, blank=True, help_text="Open S3 multipart upload, if any."
    )
    part_crc32s = models.JSONField(
        default=dict,
        blank=True,
        help_text="CRC32 (base64) of each part signed for the open multipart upload, by part "
        "number: S3 wants them back at completion, and not every S3 server lists them "
        "(SeaweedFS does not).",
    )
    expected_sha256 = models.CharField(
        max_length=64, blank=True, help_text="As declared by the uploader."
    )
    header = models.JSONField(default=dict, blank=True)
    thumbnail_key = models.CharField(max_length=255, blank=True)
    state = models.CharField(max_length=16, choices=FileState.choices, default=FileState.REGISTERED)
    error = models.TextField(
        blank=True, help_text="Why the file failed, in words a person can act on."
    )
    created = models.DateTimeField(auto_now_add=True)
    modified = models.DateTimeField(auto_now=True)
    checksum_verified_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["path"]
        constraints = [
            models.UniqueConstraint(fields=["dataset", "path"], name="unique_file_path_per_dataset")
        ]
        indexes = [
            models.Index(fields=["dataset", "directory", "name"], name="datafile_browse_idx"),
            models.Index(fields=["dataset", "state"], name="datafile_state_idx"),
            # Listing one format in path order (the API's ?format=): no sort of all its files.
            models.Index(fields=["dataset", "format", "path"], name="datafile_format_path_idx"),
            models.Index(fields=["state", "modified"], name="datafile_reconcile_idx"),
            models.Index(fields=["checksum_verified_at"], name="datafile_fixity_idx"),
        ]

    def __str__(self) -> str:
        return self.path


class AuditAction(models.TextChoices):
    CREATE = "create", "Created"
    UPDATE = "update", "Updated"
    PUBLISH = "publish", "Published"
    VISIBILITY = "visibility", "Visibility changed"
    EMBARGO_RELEASED = "embargo_released", "Embargo released"
    DOWNLOAD = "download", "Downloaded non-public file"
    DEPOSITION = "deposition", "Deposition"
    FIXITY_FAILED = "fixity_failed", "Checksum mismatch"
    VERSION_CREATED = "version_created", "New version started"
    WITHDRAWN = "withdrawn", "Version withdrawn"
    DOI = "doi", "DOI registration"
    ACCESS = "access", "People and roles changed"


class AuditEvent(models.Model):
    """Who did what to which object, when. Append-only."""

    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    action = models.CharField(max_length=32, choices=AuditAction.choices)
    target_type = models.CharField(max_length=64, help_text="app_label.model of the target")
    target_id = models.CharField(max_length=64)
    dataset = models.ForeignKey(
        Dataset, on_delete=models.SET_NULL, null=True, blank=True, related_name="audit_events"
    )
    details = models.JSONField(default=dict, blank=True)
    created = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created"]
        indexes = [
            models.Index(fields=["dataset", "-created"], name="audit_dataset_idx"),
            models.Index(fields=["action", "-created"], name="audit_action_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.created:%Y-%m-%d %H:%M} {self.actor} {self.action} {self.target_type}:{self.target_id}"


class TokenScope(models.TextChoices):
    READ = "read", "Read only"
    READ_WRITE = "read_write", "Read and write"
    # A service account's token (``openem watch`` at the microscope): creates datasets and
    # upload sessions in its one facility, reads only what an upload needs there.
    FACILITY_UPLOAD = "facility_upload", "Uploads to one facility"


class ApiToken(models.Model):
    """A personal API token. Only its SHA-256 is stored; the secret is shown once at creation."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens"
    )
    name = models.CharField(
        max_length=100, help_text="What the token is for, e.g. 'pipeline on gpu01'."
    )
    prefix = models.CharField(
        max_length=12, db_index=True, help_text="First characters, to recognise it."
    )
    token_hash = models.CharField(max_length=64, unique=True)
    scope = models.CharField(max_length=16, choices=TokenScope.choices, default=TokenScope.READ)
    facility = models.ForeignKey(
        Facility,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="+",
        help_text="The one facility a 'facility_upload' token may upload to.",
    )
    created = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created"]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}...)"

    def is_usable(self, now: dt.datetime | None = None) -> bool:
        now = now or timezone.now()
        return self.revoked_at is None and (self.expires_at is None or self.expires_at > now)


# --- Versions ------------------------------------------------------------------------------------
# A dataset is the *concept*; each publication freezes a DatasetVersion (its citation metadata and
# its file list as VersionFile rows). The dataset's DataFile rows are the working copy: the files
# of the open draft version, or of the latest published one when no draft is open. Frozen file
# rows share the storage objects of the working copy (same storage_key): nothing is copied in
# storage, and freezing is one INSERT ... SELECT.


class VersionState(models.TextChoices):
    DRAFT = "draft", "Draft"
    PUBLISHED = "published", "Published"
    WITHDRAWN = "withdrawn", "Withdrawn"


class DatasetVersion(models.Model):
    dataset = models.ForeignKey(Dataset, on_delete=models.CASCADE, related_name="versions")
    number = models.PositiveIntegerField(help_text="1, 2, ... in the order of publication.")
    state = models.CharField(
        max_length=16, choices=VersionState.choices, default=VersionState.DRAFT
    )
    # The citation metadata as published (copied from the dataset when the version is frozen).
    title = models.CharField(max_length=300, blank=True)
    description = models.TextField(blank=True)
    licence = models.CharField(max_length=64, blank=True)
    keywords = models.JSONField(default=list, blank=True)
    metadata = models.JSONField(default=dict, blank=True)
    visibility = models.CharField(max_length=16, choices=Visibility.choices, blank=True)
    embargo_until = models.DateField(null=True, blank=True)
    emdb_ids = models.JSONField(default=list, blank=True)
    empiar_id = models.CharField(max_length=16, blank=True)
    publication_dois = models.JSONField(default=list, blank=True)
    notes = models.TextField(blank=True, help_text="What changed in this version.")
    files_changed = models.BooleanField(
        default=False,
        help_text="A draft whose working copy no longer equals the latest published file list "
        "(outsiders are then served the frozen list).",
    )
    file_count = models.BigIntegerField(default=0)
    total_bytes = models.BigIntegerField(default=0)
    created = models.DateTimeField(default=timezone.now)
    published_at = models.DateTimeField(null=True, blank=True)
    published_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    withdrawn_at = models.DateTimeField(null=True, blank=True)
    withdrawn_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    withdrawal_reason = models.TextField(blank=True)

    class Meta:
        ordering = ["dataset", "number"]
        constraints = [
            models.UniqueConstraint(fields=["dataset", "number"], name="unique_version_number"),
            # At most one open draft per dataset: a new version starts from the latest.
            models.UniqueConstraint(
                fields=["dataset"],
                condition=Q(state="draft"),
                name="one_draft_version_per_dataset",
            ),
            models.CheckConstraint(
                condition=~Q(state="withdrawn") | ~Q(withdrawal_reason=""),
                name="withdrawal_needs_reason",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.dataset.pid} v{self.number} ({self.state})"

    def get_absolute_url(self) -> str:
        return reverse("dataset-version", kwargs={"pid": self.dataset.pid, "number": self.number})

    @property
    def is_withdrawn(self) -> bool:
        return self.state == VersionState.WITHDRAWN


class VersionFile(models.Model):
    """One file of a published version, frozen: path, size and checksums never change.
    ``storage_key`` is shared with the working copy and with other versions holding the same
    file (not unique)."""

    version = models.ForeignKey(DatasetVersion, on_delete=models.CASCADE, related_name="files")
    path = models.CharField(max_length=1024)
    directory = models.CharField(max_length=1024, blank=True)
    name = models.CharField(max_length=255)
    size = models.BigIntegerField()
    storage_key = models.CharField(max_length=255, db_index=True)
    format = models.CharField(max_length=16, blank=True)
    checksum_sha256 = models.CharField("SHA-256", max_length=64, blank=True)
    checksum_md5 = models.CharField("MD5", max_length=32, blank=True)

    class Meta:
        ordering = ["path"]
        constraints = [
            models.UniqueConstraint(fields=["version", "path"], name="unique_file_path_per_version")
        ]
        indexes = [
            models.Index(fields=["version", "directory", "name"], name="versionfile_browse_idx"),
        ]

    def __str__(self) -> str:
        return self.path
