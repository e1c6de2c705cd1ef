"""API serializers: input serializers parse and validate requests (query strings and bodies),
output serializers render objects. No serializer writes: views call services."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from django.core.exceptions import ImproperlyConfigured
from django.urls import NoReverseMatch
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.reverse import reverse

from metadata.privacy import without_personal_data
from metadata.search import CONDITION_SYNTAX, Condition, condition_filters, parse_condition
from openem.errors import ValidationFailed
from repository import access, identifiers
from repository.manifests import ManifestFormat
from repository.models import (
    ApiToken,
    DataFile,
    Dataset,
    DatasetKind,
    DatasetStatus,
    Facility,
    FileState,
    Instrument,
    Project,
    Technique,
    TokenScope,
    Visibility,
)
from repository.search import RANGE_BY_KEY, Dated, Facet, Sort

from .dois import DoiStatusSerializer


def _url(serializer: serializers.Field[Any, Any, Any, Any], viewname: str, **kwargs: Any) -> str:
    request: Request | None = serializer.context.get("request")
    return reverse(viewname, kwargs=kwargs, request=request)


# --- Input: query strings -----------------------------------------------------------------------


class DatasetListQuerySerializer(serializers.Serializer[Any]):
    q = serializers.CharField(
        required=False,
        max_length=200,
        help_text="Words to find, as on the search page: title, keywords, authors, sample, "
        "microscope, detectors, description and instrument; ranked full text with "
        '`"exact phrase"`, `or` and `-word` on PostgreSQL.',
    )
    facility = serializers.SlugField(required=False, help_text="Facility slug, e.g. `basel`.")
    instrument = serializers.IntegerField(required=False, min_value=1, help_text="Instrument id.")
    project = serializers.SlugField(required=False, help_text="Project code.")
    technique = serializers.ChoiceField(
        choices=Technique.choices, required=False, help_text="EM technique."
    )
    kind = serializers.ChoiceField(
        choices=DatasetKind.choices, required=False, help_text="Kind of data."
    )
    visibility = serializers.ChoiceField(
        choices=Visibility.choices, required=False, help_text="Who may see it."
    )
    status = serializers.ChoiceField(
        choices=DatasetStatus.choices, required=False, help_text="Curation status."
    )
    keyword = serializers.CharField(
        required=False,
        max_length=100,
        help_text="A keyword the dataset carries (whole keyword, case-insensitive).",
    )
    created_after = serializers.DateField(
        required=False, help_text="Created on or after this date (YYYY-MM-DD)."
    )
    created_before = serializers.DateField(
        required=False, help_text="Created on or before this date (YYYY-MM-DD)."
    )
    ordering = serializers.ChoiceField(
        choices=list(Sort.ALL),
        required=False,
        default="",
        help_text="relevance (the default with `q`), newest (the default without), oldest, "
        "title, -title.",
    )
    pixel_size_min = serializers.FloatField(required=False, help_text="Pixel size from (Å).")
    pixel_size_max = serializers.FloatField(required=False, help_text="Pixel size up to (Å).")
    voltage_min = serializers.FloatField(required=False, help_text="Voltage from (kV).")
    voltage_max = serializers.FloatField(required=False, help_text="Voltage up to (kV).")
    dose_min = serializers.FloatField(required=False, help_text="Dose per movie from (e/Å²).")
    dose_max = serializers.FloatField(required=False, help_text="Dose per movie up to (e/Å²).")
    metadata = serializers.ListField(
        child=serializers.CharField(max_length=300),
        required=False,
        max_length=10,
        help_text="Metadata conditions (repeatable, all must hold), unit-aware: "
        + CONDITION_SYNTAX
        + ".",
    )
    facets = serializers.BooleanField(
        required=False,
        default=False,
        help_text="Also count the matches per technique, facility, instrument, detector, year, "
        "licence (and visibility, signed in), as the search page does. Counted for `q`, "
        "`technique`, `facility`, `visibility` and the min/max ranges.",
    )

    def validate_metadata(self, texts: list[str]) -> list[Condition]:
        try:
            conditions = [parse_condition(text) for text in texts]
            for condition in conditions:
                condition_filters(condition)  # checks the field's relation, unit and values
            return conditions
        except ValidationFailed as exc:
            raise serializers.ValidationError(exc.message) from None

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        after, before = attrs.get("created_after"), attrs.get("created_before")
        if after and before and after > before:
            raise serializers.ValidationError(
                {"created_before": ["must not be earlier than created_after"]}
            )
        ranges = []
        for key in RANGE_BY_KEY:
            low, high = attrs.pop(f"{key}_min", None), attrs.pop(f"{key}_max", None)
            if low is not None and high is not None and low > high:
                raise serializers.ValidationError({f"{key}_max": ["must not be below the minimum"]})
            if low is not None or high is not None:
                ranges.append((key, low, high))
        attrs["ranges"] = tuple(ranges)
        attrs["metadata"] = tuple(attrs.get("metadata") or ())
        # The API's newest and oldest are by creation (the pages list by publication).
        attrs["sort"], attrs["dated"] = attrs.pop("ordering", ""), Dated.CREATED
        if attrs.get("facets"):
            uncounted = sorted(FACETLESS_FILTERS & {k for k, v in attrs.items() if v})
            if uncounted:
                raise serializers.ValidationError(
                    {
                        "facets": [
                            "facets are counted for q, technique, facility, visibility and the "
                            f"min/max ranges; ask without facets to filter by {', '.join(uncounted)}"
                        ]
                    }
                )
        return attrs


#: Filters of the API's list that the search page's facet counts do not take into account.
FACETLESS_FILTERS = frozenset(
    {
        "instrument",
        "project",
        "kind",
        "status",
        "keyword",
        "created_after",
        "created_before",
        "metadata",
    }
)


def facet_counts(facets: list[Facet]) -> dict[str, list[dict[str, Any]]]:
    """The search page's facets as the dataset list's ``facets`` (value, label, count)."""
    return {
        facet.name: [
            {"value": v.value, "label": v.label, "count": v.count, "selected": v.selected}
            for v in facet.values
        ]
        for facet in facets
    }


class FileListQuerySerializer(serializers.Serializer[Any]):
    prefix = serializers.CharField(
        required=False,
        max_length=1024,
        trim_whitespace=False,
        help_text="Only files whose path starts with this, e.g. `Images-Disc1/`.",
    )
    format = serializers.CharField(
        required=False, max_length=16, help_text="File format, e.g. `mrc`, `eer`."
    )
    state = serializers.ChoiceField(
        choices=FileState.choices, required=False, help_text="Ingest state."
    )


class ManifestQuerySerializer(serializers.Serializer[Any]):
    format = serializers.ChoiceField(
        choices=[(f.value, f.value) for f in ManifestFormat],
        required=False,
        default=ManifestFormat.SHA256SUM.value,
        help_text="sha256sum (default; `sha256sum -c` checks it), json (one array) or "
        "jsonl (one object per line).",
    )
    prefix = serializers.CharField(
        required=False,
        default="",
        max_length=1024,
        trim_whitespace=False,
        help_text="Only files whose path starts with this.",
    )


class InstrumentListQuerySerializer(serializers.Serializer[Any]):
    facility = serializers.SlugField(
        required=False, help_text="Only this facility's instruments (slug)."
    )


# --- Input: bodies ------------------------------------------------------------------------------


class FacilitySlugField(serializers.SlugRelatedField):  # type: ignore[type-arg]
    """A facility by its slug; an unknown slug is answered with the slugs there are, so that
    ``--facility basel`` on a portal whose facility is ``demo-basel`` says what to type."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(slug_field="slug", queryset=Facility.objects.all(), **kwargs)

    def to_internal_value(self, data: Any) -> Any:
        try:
            return super().to_internal_value(data)
        except serializers.ValidationError:
            slugs = list(Facility.objects.order_by("slug").values_list("slug", flat=True)[:50])
            known = ", ".join(slugs) if slugs else "none yet"
            raise serializers.ValidationError(
                f"There is no facility {str(data)[:100]!r}; the facilities are: {known}."
            ) from None


class DatasetCreateInputSerializer(serializers.Serializer[Any]):
    title = serializers.CharField(max_length=300)
    facility = FacilitySlugField(help_text="Facility slug.")
    technique = serializers.ChoiceField(choices=Technique.choices)
    kind = serializers.ChoiceField(choices=DatasetKind.choices, default=DatasetKind.RAW_SESSION)
    description = serializers.CharField(required=False, default="", allow_blank=True)
    instrument = serializers.PrimaryKeyRelatedField(
        queryset=Instrument.objects.all(),
        required=False,
        allow_null=True,
        default=None,
        help_text="Instrument id (of the same facility).",
    )
    project = serializers.SlugRelatedField(
        slug_field="code",
        queryset=Project.objects.all(),
        required=False,
        allow_null=True,
        default=None,
        help_text="Project code (of the same facility).",
    )
    keywords = serializers.ListField(
        child=serializers.CharField(max_length=100), required=False, default=list, max_length=50
    )
    licence = serializers.CharField(max_length=64, default="CC-BY-4.0", help_text="SPDX id.")
    visibility = serializers.ChoiceField(choices=Visibility.choices, default=Visibility.PRIVATE)
    embargo_until = serializers.DateField(required=False, allow_null=True, default=None)
    emdb_ids = serializers.ListField(
        child=serializers.CharField(max_length=16), required=False, default=list, max_length=100
    )
    empiar_id = serializers.CharField(max_length=16, required=False, default="", allow_blank=True)
    publication_dois = serializers.ListField(
        child=serializers.CharField(max_length=200), required=False, default=list, max_length=50
    )
    metadata = serializers.DictField(
        required=False, default=dict, help_text="Metadata in the dataset's schema shape."
    )


class PublishInputSerializer(serializers.Serializer[Any]):
    visibility = serializers.ChoiceField(
        choices=[Visibility.PUBLIC.value, Visibility.EMBARGOED.value],
        default=Visibility.PUBLIC.value,
        help_text="public, or embargoed (metadata public, files from embargo_until).",
    )
    embargo_until = serializers.DateField(
        required=False, allow_null=True, default=None, help_text="Required when embargoed."
    )


class VisibilityInputSerializer(serializers.Serializer[Any]):
    visibility = serializers.ChoiceField(choices=Visibility.choices)
    embargo_until = serializers.DateField(
        required=False, allow_null=True, default=None, help_text="Required when embargoed."
    )


class TokenCreateInputSerializer(serializers.Serializer[Any]):
    name = serializers.CharField(max_length=100, help_text="What the token is for.")
    scope = serializers.ChoiceField(choices=TokenScope.choices, default=TokenScope.READ)
    expires_at = serializers.DateTimeField(
        required=False, allow_null=True, default=None, help_text="Optional expiry (ISO 8601)."
    )
    facility = FacilitySlugField(
        required=False,
        allow_null=True,
        default=None,
        help_text="Scope `facility_upload` only: the facility (slug) the token uploads to.",
    )


# --- Output -------------------------------------------------------------------------------------


@extend_schema_field(OpenApiTypes.URI)
class LinkField(serializers.Field):  # type: ignore[type-arg]
    """A read-only absolute link to ``view_name`` for the object's ``lookup_field``, like
    ``HyperlinkedIdentityField``, but the URL is reversed once per request and view, then filled
    in per object: a page of 50 datasets carries some 300 links, and reversing each one cost
    more than reading the page from the database."""

    #: Stand-ins the URL patterns accept (a slug or string, else an integer), replaced after.
    _PLACEHOLDERS = ("openem-link-slot", "918273645")

    def __init__(self, view_name: str, lookup_field: str, url_kwarg: str | None = None, **kw: Any):
        kw.update(read_only=True, source="*")
        super().__init__(**kw)
        self.view_name, self.lookup_field = view_name, lookup_field
        self.url_kwarg = url_kwarg or lookup_field

    def _template(self) -> tuple[str, str]:
        templates = self.context.setdefault("_link_templates", {})  # type: ignore[attr-defined]
        key = (self.view_name, self.url_kwarg)
        if key not in templates:
            for placeholder in self._PLACEHOLDERS:
                try:
                    url = reverse(
                        self.view_name,
                        kwargs={self.url_kwarg: placeholder},
                        request=self.context.get("request"),
                    )
                except NoReverseMatch:
                    continue
                templates[key] = (str(url), placeholder)
                break
            else:
                raise ImproperlyConfigured(f"{self.view_name} takes neither a slug nor a number")
        return templates[key]  # type: ignore[no-any-return]

    def to_representation(self, value: Any) -> str:
        url, placeholder = self._template()
        return url.replace(placeholder, quote(str(getattr(value, self.lookup_field)), safe=""))


class FacilityRefSerializer(serializers.ModelSerializer[Facility]):
    url = LinkField("api:facility-detail", "slug")

    class Meta:
        model = Facility
        fields = ["slug", "name", "url"]


class InstrumentRefSerializer(serializers.ModelSerializer[Instrument]):
    url = LinkField("api:instrument-detail", "pk", url_kwarg="instrument_id")

    class Meta:
        model = Instrument
        fields = ["id", "name", "url"]


class ProjectRefSerializer(serializers.ModelSerializer[Project]):
    url = LinkField("api:project-detail", "code")

    class Meta:
        model = Project
        fields = ["code", "title", "url"]


class MetadataSchemaRefSerializer(serializers.Serializer[Any]):
    name = serializers.CharField()
    version = serializers.CharField()


class DatasetSerializer(serializers.ModelSerializer[Dataset]):
    url = LinkField("api:dataset-detail", "pid")
    html_url = LinkField("dataset-detail", "pid", help_text="The landing page.")
    files_url = LinkField("api:datafile-list", "pid")
    manifest_url = LinkField("api:dataset-manifest", "pid")
    facility = FacilityRefSerializer(read_only=True)
    instrument = InstrumentRefSerializer(read_only=True, allow_null=True)
    project = ProjectRefSerializer(read_only=True, allow_null=True)
    metadata_schema = MetadataSchemaRefSerializer(read_only=True, allow_null=True)
    metadata = serializers.JSONField(help_text="Dataset metadata in its schema's shape.")
    metadata_validation = serializers.JSONField(
        help_text='{"valid": bool, "problems": [{"path", "message"}], "checked_at"}'
    )
    keywords = serializers.ListField(child=serializers.CharField())
    emdb_ids = serializers.ListField(child=serializers.CharField())
    publication_dois = serializers.ListField(child=serializers.CharField())
    files_open = serializers.SerializerMethodField(
        help_text="Whether anyone may download the files (public, or the embargo has ended)."
    )
    doi = serializers.SerializerMethodField(
        help_text="The concept DOI (all versions; resolves to the latest) and its state; "
        "`not_configured` when the portal registers no DOIs (the PID is the identifier)."
    )
    versions_url = LinkField("api:version-list", "pid")

    class Meta:
        model = Dataset
        fields = [
            "pid",
            "url",
            "html_url",
            "files_url",
            "manifest_url",
            "title",
            "description",
            "kind",
            "technique",
            "facility",
            "instrument",
            "project",
            "keywords",
            "licence",
            "visibility",
            "embargo_until",
            "status",
            "files_open",
            "metadata",
            "metadata_schema",
            "metadata_validation",
            "emdb_ids",
            "empiar_id",
            "publication_dois",
            "created",
            "modified",
            "published_at",
            "doi",
            "versions_url",
        ]
        read_only_fields = fields

    @extend_schema_field(DoiStatusSerializer)
    def get_doi(self, dataset: Dataset) -> dict[str, Any]:
        root = self.parent if self.parent is not None else self
        found = getattr(root, "_concept_dois", None)
        if found is None:  # one query for the page (or the one dataset)
            request = self.context.get("request")
            instance = root.instance
            datasets = [instance] if isinstance(instance, Dataset) else list(instance or [])
            found = identifiers.concept_doi_statuses(getattr(request, "user", None), datasets)
            setattr(root, "_concept_dois", found)  # noqa: B010 - a per-response cache
        return found(dataset)

    def get_files_open(self, dataset: Dataset) -> bool:
        return access.files_open_to_everyone(dataset)

    def to_representation(self, instance: Dataset) -> dict[str, Any]:
        data: dict[str, Any] = super().to_representation(instance)
        if not self._sees_personal_data(instance):
            data["metadata"] = without_personal_data(data.get("metadata"))
        return data

    def _sees_personal_data(self, dataset: Dataset) -> bool:
        """People's contact data only for the dataset's insiders (repository.access); the
        check is made once per response, shared by the datasets of a page."""
        root = self.parent if self.parent is not None else self
        check = getattr(root, "_personal_data_check", None)
        if check is None:
            request = self.context.get("request")
            check = access.sees_personal_data(getattr(request, "user", None))
            setattr(root, "_personal_data_check", check)  # noqa: B010 - a per-response cache
        return bool(check(dataset))


class DataFileSerializer(serializers.ModelSerializer[DataFile]):
    url = serializers.SerializerMethodField()
    download_url = serializers.SerializerMethodField()

    class Meta:
        model = DataFile
        fields = [
            "id",
            "url",
            "download_url",
            "path",
            "directory",
            "name",
            "size",
            "format",
            "state",
            "checksum_sha256",
        ]
        read_only_fields = fields

    @extend_schema_field(OpenApiTypes.URI)
    def get_url(self, datafile: DataFile) -> str:
        return _url(self, "api:datafile-detail", pid=self.context["pid"], file_id=datafile.pk)

    @extend_schema_field(OpenApiTypes.URI)
    def get_download_url(self, datafile: DataFile) -> str:
        return _url(self, "api:datafile-download", pid=self.context["pid"], file_id=datafile.pk)


class DataFileDetailSerializer(DataFileSerializer):
    header = serializers.JSONField(
        help_text="What the format reader found in the file's header (dimensions, pixel size, "
        "detector, ...)."
    )

    class Meta(DataFileSerializer.Meta):
        fields = [
            *DataFileSerializer.Meta.fields,
            "checksum_md5",
            "expected_sha256",
            "checksum_verified_at",
            "header",
            "error",
            "created",
            "modified",
        ]
        read_only_fields = fields


class FacilitySerializer(serializers.ModelSerializer[Facility]):
    url = serializers.HyperlinkedIdentityField(view_name="api:facility-detail", lookup_field="slug")
    datasets_url = serializers.SerializerMethodField(help_text="Its datasets visible to you.")
    instruments_url = serializers.SerializerMethodField()

    class Meta:
        model = Facility
        fields = [
            "slug",
            "url",
            "name",
            "ror_id",
            "homepage",
            "contact_email",
            "datasets_url",
            "instruments_url",
        ]
        read_only_fields = fields

    @extend_schema_field(OpenApiTypes.URI)
    def get_datasets_url(self, facility: Facility) -> str:
        return _url(self, "api:dataset-list") + f"?facility={facility.slug}"

    @extend_schema_field(OpenApiTypes.URI)
    def get_instruments_url(self, facility: Facility) -> str:
        return _url(self, "api:instrument-list") + f"?facility={facility.slug}"


class InstrumentSerializer(serializers.ModelSerializer[Instrument]):
    url = serializers.HyperlinkedIdentityField(
        view_name="api:instrument-detail", lookup_url_kwarg="instrument_id"
    )
    facility = FacilityRefSerializer(read_only=True)
    detectors = serializers.ListField(child=serializers.CharField())

    class Meta:
        model = Instrument
        fields = [
            "id",
            "url",
            "name",
            "facility",
            "manufacturer",
            "model",
            "serial_number",
            "detectors",
        ]
        read_only_fields = fields


class ProjectSerializer(serializers.ModelSerializer[Project]):
    url = serializers.HyperlinkedIdentityField(view_name="api:project-detail", lookup_field="code")
    facility = FacilityRefSerializer(read_only=True)
    principal_investigator = serializers.SerializerMethodField(
        help_text="The principal investigator's name."
    )
    datasets_url = serializers.SerializerMethodField(help_text="Its datasets visible to you.")

    class Meta:
        model = Project
        fields = ["code", "url", "title", "facility", "principal_investigator", "datasets_url"]
        read_only_fields = fields

    def get_principal_investigator(self, project: Project) -> str:
        person = project.principal_investigator
        return person.get_full_name() or person.get_username()

    @extend_schema_field(OpenApiTypes.URI)
    def get_datasets_url(self, project: Project) -> str:
        return _url(self, "api:dataset-list") + f"?project={project.code}"


class ApiTokenSerializer(serializers.ModelSerializer[ApiToken]):
    url = serializers.HyperlinkedIdentityField(
        view_name="api:token-detail", lookup_url_kwarg="token_id"
    )
    active = serializers.SerializerMethodField(help_text="Neither revoked nor expired.")
    facility: serializers.SlugRelatedField[Any] = serializers.SlugRelatedField(
        slug_field="slug",
        read_only=True,
        allow_null=True,
        help_text="The facility a `facility_upload` token uploads to (null for other scopes).",
    )

    class Meta:
        model = ApiToken
        fields = [
            "id",
            "url",
            "name",
            "prefix",
            "scope",
            "facility",
            "active",
            "created",
            "expires_at",
            "last_used_at",
            "revoked_at",
        ]
        read_only_fields = fields

    def get_active(self, token: ApiToken) -> bool:
        return token.is_usable()


class ApiTokenCreatedSerializer(ApiTokenSerializer):
    secret = serializers.SerializerMethodField(
        help_text="The token itself. Shown this once: store it now, it cannot be shown again."
    )

    class Meta(ApiTokenSerializer.Meta):
        fields = [*ApiTokenSerializer.Meta.fields, "secret"]
        read_only_fields = fields

    def get_secret(self, token: ApiToken) -> str:
        return str(self.context["secret"])
