"""The EMPIAR deposition JSON of a dataset, filled from its files and its metadata.

What the files say (image sets: formats, sizes, pixel types and sizes, frame counts) comes
from the ingested headers; what only people know (authors, their roles and addresses) comes
from the organizational metadata through :mod:`deposition.orgmeta`. Every value filled in is
recorded with its source; everything missing or contradictory becomes a report entry with a
link to where it is fixed. Nothing here raises on bad input.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from deposition import orgmeta, vocab
from deposition.empiar import imagesets as sets
from deposition.report import Report
from repository.models import DataFile, Dataset, Visibility

TITLE_MIN, TITLE_MAX = 10, 255
IMAGESET_NAME_MAX = 200
SURNAME_MAX, INITIALS_MAX, PERSON_NAME_MAX = 60, 20, 60
#: The order in which image categories are preferred for the entry thumbnail.
THUMBNAIL_PREFERENCE = ("T1", "T2", "T9", "T13", "T14")
EXPERIMENT_TYPE_BY_TECHNIQUE = {"microed": 9}
SCALE_BY_TECHNIQUE = {"cellular_tomo": "3", "env_tomo": "3"}
SCALE_BY_MOLECULAR_TYPE = {
    "VIRUS": "2",
    "CELL": "3",
    "ORGANELLE OR CELLULAR COMPONENT": "3",
    "TISSUE": "4",
}


@dataclass
class EmpiarBuild:
    document: dict[str, Any]
    report: Report
    grouping: sets.Grouping
    #: JSON path prefix -> metadata field that cures problems there (longest prefix wins).
    hints: dict[str, str] = field(default_factory=dict)
    thumbnail_file_id: int | None = None


def _round(value: float) -> float:
    """Headers store float32: 0.8300000031789144 is 0.83."""
    return float(f"{value:.6g}")


class _Builder:
    def __init__(self, dataset: Dataset):
        self.dataset = dataset
        self.report = Report()
        self.hints: dict[str, str] = {}
        self.pid = dataset.pid

    def hint(self, path: str, field_path: str) -> None:
        self.hints[path] = field_path

    def fill(self, path: str, value: Any, source: str) -> Any:
        self.report.filled(path, value, source)
        return value

    # -- entry-level fields ------------------------------------------------------------------

    def title(self) -> str:
        title = " ".join(self.dataset.title.split())
        self.hint("$.title", "title")
        if len(title) < TITLE_MIN:
            self.report.error(
                "$.title",
                f"the title has {len(title)} characters; EMPIAR needs at least {TITLE_MIN}",
                field="title",
            )
        elif len(title) > TITLE_MAX:
            self.report.error(
                "$.title",
                f"the title has {len(title)} characters; EMPIAR accepts at most {TITLE_MAX}: "
                "shorten the dataset's title",
                field="title",
            )
        return self.fill("$.title", title, "dataset title")

    def release_date(self) -> str:
        if self.dataset.visibility == Visibility.EMBARGOED:
            code = "EP" if self.dataset.emdb_ids else "HO"
            why = "dataset is embargoed" + (" and has an EMDB entry" if code == "EP" else "")
        else:
            code, why = "RE", "dataset is not embargoed"
        return self.fill("$.release_date", code, f"{why}: {vocab.EMPIAR_RELEASE_OPTIONS[code]}")

    def experiment_type(self) -> int:
        technique = self.dataset.technique
        value = EXPERIMENT_TYPE_BY_TECHNIQUE.get(technique, 3)
        return self.fill(
            "$.experiment_type",
            value,
            f"technique {technique}: {vocab.EMPIAR_EXPERIMENT_TYPES[value]}",
        )

    def scale(self, sample: orgmeta.Sample) -> str:
        if sample.molecular_type in SCALE_BY_MOLECULAR_TYPE:
            value = SCALE_BY_MOLECULAR_TYPE[sample.molecular_type]
            source = f"sample type {sample.molecular_type} ({orgmeta.OVERALL_MOLECULE})"
        else:
            value = SCALE_BY_TECHNIQUE.get(self.dataset.technique, "1")
            source = f"technique {self.dataset.technique}"
        return self.fill("$.scale", value, f"{source}: {vocab.EMPIAR_SCALES[value]}")

    def cross_references(self) -> list[dict[str, str]]:
        self.hint("$.cross_references", "emdb_ids")
        references = [{"name": str(emdb_id)} for emdb_id in self.dataset.emdb_ids or []]
        if references:
            self.fill("$.cross_references", references, "dataset's EMDB ids")
        return references

    # -- people ------------------------------------------------------------------------------

    def author_name(self, person: orgmeta.Person, path: str) -> str | None:
        ok = True
        if not person.family_name:
            self.report.error(
                path, "the author's family name is missing", field=person.field_of("family_name")
            )
            ok = False
        if not person.given_name:
            self.report.error(
                path, "the author's given name is missing", field=person.field_of("given_name")
            )
            ok = False
        if not ok:
            return None
        family = person.family_name
        if "'" in family:
            family = family.replace("'", "\u2019")
            self.report.warning(
                path,
                f"the apostrophe in {person.family_name!r} is written as \u2019 (a straight "
                "quote would break EMPIAR's ('Surname', 'INITIALS') notation)",
            )
        letters = vocab.initials(person.given_name)
        if not letters:
            self.report.error(
                path,
                f"no initials can be made from the given name {person.given_name!r}",
                field=person.field_of("given_name"),
            )
            return None
        if len(family) > SURNAME_MAX:
            self.report.error(
                path,
                f"the family name {family[:30]!r}... has {len(family)} characters; EMPIAR "
                f"accepts at most {SURNAME_MAX}",
                field=person.field_of("family_name"),
            )
        if len(letters) > INITIALS_MAX:
            self.report.error(
                path,
                f"{len(letters)} initials; EMPIAR accepts at most {INITIALS_MAX}",
                field=person.field_of("given_name"),
            )
        bad = sorted({c for c in family if c.isdigit() or c in '!"£$%^&*()'})
        if bad:
            self.report.error(
                path,
                f"the family name {family!r} contains characters EMPIAR does not accept: "
                + " ".join(bad),
                field=person.field_of("family_name"),
            )
        return f"('{family}', '{letters}')"

    def authors(self, people: tuple[orgmeta.Person, ...]) -> list[dict[str, Any]]:
        self.hint("$.authors", orgmeta.AUTHORS)
        if not people:
            self.report.error(
                "$.authors",
                "no authors: add the dataset's authors (name, ORCID, affiliation) in the "
                "metadata form",
                field=orgmeta.AUTHORS,
            )
            return []
        authors: list[dict[str, Any]] = []
        for order, person in enumerate(people):
            path = f"$.authors[{order}]"
            self.hint(path, person.field)
            self.hint(f"{path}.author_orcid", person.field_of("orcid"))
            name = self.author_name(person, f"{path}.name")
            if name is None:
                continue
            authors.append(
                {
                    "name": name,
                    "order_id": len(authors),
                    "author_orcid": vocab.normalise_orcid(person.orcid),
                }
            )
            self.fill(path, name, f"metadata {person.field}")
        return authors

    def contact(self, person: orgmeta.Person, path: str) -> dict[str, Any]:
        """A corresponding author or principal investigator in EMPIAR's address form."""
        self.hint(path, person.field)
        given = person.given_name.split()
        contact: dict[str, Any] = {
            "author_orcid": vocab.normalise_orcid(person.orcid),
            "first_name": given[0] if given else "",
            "middle_name": " ".join(given[1:]) or None,
            "last_name": person.family_name,
            "organization": person.affiliation,
            "email": person.email,
            "telephone": person.telephone or None,
            "fax": None,
        }
        for key, attribute, label in (
            ("first_name", "given_name", "given name"),
            ("last_name", "family_name", "family name"),
            ("organization", "affiliation", "affiliation"),
            ("email", "email", "e-mail address"),
        ):
            self.hint(f"{path}.{key}", person.field_of(attribute))
            if not contact[key]:
                self.report.error(
                    f"{path}.{key}",
                    f"the {label} of {person.given_name} {person.family_name} is missing "
                    "(EMPIAR requires it for the corresponding author and principal "
                    "investigators)",
                    field=person.field_of(attribute),
                )
            elif len(contact[key]) > (255 if key == "organization" else PERSON_NAME_MAX):
                self.report.error(
                    f"{path}.{key}",
                    f"the {label} is too long for EMPIAR ({len(contact[key])} characters)",
                    field=person.field_of(attribute),
                )
        self.hint(f"{path}.country", person.field_of("country"))
        code, problem = vocab.country_code(person.country)
        if code:
            contact["country"] = code
        else:
            contact["country"] = person.country or ""
            self.report.error(
                f"{path}.country",
                f"country of {person.given_name} {person.family_name}: {problem}",
                field=person.field_of("country"),
            )
        self.hint(f"{path}.author_orcid", person.field_of("orcid"))
        self.fill(path, f"{person.given_name} {person.family_name}", f"metadata {person.field}")
        return contact

    def corresponding_author(self, people: tuple[orgmeta.Person, ...]) -> dict[str, Any] | None:
        path = "$.corresponding_author"
        chosen = next((p for p in people if p.is_corresponding), None)
        if chosen is None:
            chosen = next((p for p in people if p.email), None)
            if chosen is None:
                self.report.error(
                    path,
                    "no corresponding author: mark one author's role as 'corresponding author' "
                    "and give their e-mail address",
                    field=orgmeta.AUTHORS,
                )
                return None
            self.report.warning(
                path,
                f"no author has the role 'corresponding author'; {chosen.given_name} "
                f"{chosen.family_name}, the first author with an e-mail address, was used",
                field=chosen.field_of("role"),
            )
        return self.contact(chosen, path)

    def principal_investigators(self, people: tuple[orgmeta.Person, ...]) -> list[dict[str, Any]]:
        chosen = [p for p in people if p.is_principal_investigator]
        self.hint("$.principal_investigator", orgmeta.AUTHORS)
        if not chosen:
            self.report.error(
                "$.principal_investigator",
                "no principal investigator: set the role 'principal investigator' on at least "
                "one author (with affiliation, e-mail and country)",
                field=orgmeta.AUTHORS,
            )
            return []
        return [
            self.contact(person, f"$.principal_investigator[{index}]")
            for index, person in enumerate(chosen)
        ]

    def citation(self, authors: list[dict[str, Any]], title: str) -> list[dict[str, Any]]:
        dois = list(self.dataset.publication_dois or [])
        self.hint("$.citation[0].doi", "publication_dois")
        citation: dict[str, Any] = {
            "authors": authors,
            "editors": [],
            "published": bool(dois),
            "j_or_nj_citation": True,
            "title": title,
            "doi": dois[0] if dois else None,
            "details": None if dois else "To be published",
        }
        if dois:
            self.fill("$.citation[0].doi", dois[0], "dataset's publication DOIs")
            self.report.warning(
                "$.citation[0]",
                "the portal knows the publication only by its DOI: EMPIAR completes journal, "
                "volume and pages from it; the title given is the dataset's title",
                field="publication_dois",
            )
        else:
            self.fill(
                "$.citation[0]", "to be published", "no publication DOI: unpublished citation"
            )
        return [citation]

    # -- image sets --------------------------------------------------------------------------

    def imagesets(self, grouping: sets.Grouping, fallback_field: str) -> list[dict[str, Any]]:
        dataset_url = orgmeta.dataset_page_url(self.pid)
        if grouping.unsettled:
            self.report.error(
                "$.imagesets",
                f"{grouping.unsettled} file(s) are still being ingested: prepare the deposition "
                "when every file is ready",
                fix_url=dataset_url,
            )
        for what, count in grouping.skipped.items():
            self.report.warning(
                "$.imagesets", f"{count} {what} left out of the image sets", fix_url=dataset_url
            )
        if not grouping.imagesets:
            self.report.error(
                "$.imagesets",
                "no image files (MRC, MRCS, TIFF, EER) are ready in this dataset; EMPIAR "
                "needs at least one image set",
                fix_url=dataset_url,
            )
        documents = []
        for index, group in enumerate(grouping.imagesets):
            path = f"$.imagesets[{index}]"
            sets.check_group(group, path, self.report, dataset_url=dataset_url)
            documents.append(self.imageset(group, path, fallback_field))
        return documents

    def imageset(self, group: sets.ImageSet, path: str, fallback_field: str) -> dict[str, Any]:
        category_label = vocab.EMPIAR_CATEGORIES[group.category]
        format_label = vocab.EMPIAR_FORMATS[group.header_format]
        relative = group.directory[len(sets.DATA_ROOT) + 1 :] or "the top folder"
        name = f"{category_label[0].upper()}{category_label[1:]} ({format_label}, " + (
            f"{group.width} x {group.height}) in {relative}"
        )
        if len(name) > IMAGESET_NAME_MAX:
            name = name[: IMAGESET_NAME_MAX - 3] + "..."
        frames = group.frames.most_common(1)[0][0] if group.frames else 1
        tilt = group.category == "T9"
        multi_image_tilts = tilt and frames == 1 and group.count > 1
        if multi_image_tilts:
            # Tilt series stored one image per file, one folder per series.
            count = len(group.directories)
            frames = max(group.directories.values())
        else:
            count = group.count
        voxel = next(iter(group.voxel_types), "")
        pixel: tuple[float, float] | None = None
        if group.pixel_sizes:
            pixel = max(group.pixel_sizes, key=lambda entry: entry[1])[0]
        if pixel is None:
            self.report.warning(
                f"{path}.pixel_width",
                f"the pixel size of image set {group.directory} is unknown (its headers do not "
                "record one): enter the acquisition's pixel size in the metadata form",
                field=fallback_field,
            )
        elif group.pixel_unknown:
            self.report.warning(
                f"{path}.pixel_width",
                f"{group.pixel_unknown} file(s) of image set {group.directory} record no pixel "
                "size",
            )
        self.hint(f"{path}.pixel_width", fallback_field)
        self.hint(f"{path}.pixel_height", fallback_field)
        detector = group.detectors.most_common(1)[0][0] if group.detectors else ""
        details = (
            f"{group.count} file(s), {group.total_bytes / 1e9:.3g} GB"
            + (f"; detector {detector}" if detector else "")
            + (f"; {frames} tilts per series" if tilt else "")
            + "; described by the OpenEM portal from the file headers"
        )
        document = {
            "name": name,
            "directory": group.directory,
            "category": vocab.empiar_code(group.category),
            "header_format": vocab.empiar_code(group.header_format),
            "data_format": vocab.empiar_code(group.header_format),
            "num_images_or_tilt_series": count,
            "frames_per_image": frames,
            "frame_range_min": 1 if frames > 1 and not tilt else None,
            "frame_range_max": frames if frames > 1 and not tilt else None,
            "voxel_type": voxel,
            "pixel_width": _round(pixel[0]) if pixel else None,
            "pixel_height": _round(pixel[1]) if pixel else None,
            "details": details,
            "image_width": group.width,
            "image_height": group.height,
            "micrographs_file_pattern": sets.file_pattern(group),
        }
        example = group.paths_sample[0]
        self.fill(f"{path}.category", category_label, f"{group.count} file(s) like {example}")
        self.fill(f"{path}.header_format", format_label, f"detected format of {example}")
        if voxel:
            code = voxel.split("'")[1]
            label = vocab.EMPIAR_VOXEL_TYPES.get(code) or voxel.split("'")[3]
            self.fill(
                f"{path}.voxel_type",
                f"{label} ({code})",
                group.voxel_sources.get(voxel, example),
            )
        self.fill(f"{path}.frames_per_image", frames, f"headers of {example}")
        self.fill(f"{path}.image_width", group.width, f"header of {example}")
        if pixel:
            source = max(group.pixel_sources.items(), key=lambda item: item[1])[0]
            self.fill(f"{path}.pixel_width", _round(pixel[0]), source)
        return document


def _file_rows(dataset: Dataset, formats: tuple[str, ...], *, with_header: bool) -> Any:
    fields = ["id", "path", "directory", "name", "format", "size", "checksum_sha256", "state"]
    if with_header:
        fields.append("header")
    return (
        DataFile.objects.filter(dataset=dataset, format__in=formats)
        .order_by("path")
        .values(*fields)
        .iterator(chunk_size=2000)
    )


def group_dataset_files(
    dataset: Dataset, fallback_pixel: tuple[float, str] | None = None
) -> sets.Grouping:
    """The image sets of a dataset's ingested files."""
    sidecar_paths = set(
        DataFile.objects.filter(dataset=dataset, format="mdoc").values_list("path", flat=True)
    )
    grouping = sets.group_files(
        _file_rows(dataset, sets.IMAGE_FORMATS, with_header=True),
        technique=dataset.technique,
        sidecar_paths=sidecar_paths,
        sidecar_rows=_file_rows(dataset, sets.SIDECAR_FORMATS, with_header=False),
        fallback_pixel=fallback_pixel,
    )
    undetected = DataFile.objects.filter(
        dataset=dataset, state__in=("registered", "stored", "processing"), format=""
    ).count()
    grouping.unsettled += undetected
    return grouping


def build_empiar(dataset: Dataset) -> EmpiarBuild:
    """The deposition JSON and a report of what was filled, from where, and what is missing."""
    builder = _Builder(dataset)
    org = orgmeta.organizational_metadata(dataset)
    acquisition = orgmeta.acquisition_metadata(dataset)
    fallback_field = f"{orgmeta.ACQUISITION}.pixel_size"
    fallback_pixel = None
    if acquisition.pixel_size_a is not None and acquisition.pixel_size_a.value > 0:
        fallback_pixel = (
            float(acquisition.pixel_size_a.value),
            f"metadata {acquisition.pixel_size_a.field} (the headers record none)",
        )
    grouping = group_dataset_files(dataset, fallback_pixel)

    title = builder.title()
    authors = builder.authors(org.authors)
    document: dict[str, Any] = {
        "title": title,
        "release_date": builder.release_date(),
        "experiment_type": builder.experiment_type(),
        "scale": builder.scale(org.sample),
        "cross_references": builder.cross_references(),
        "authors": authors,
        "corresponding_author": builder.corresponding_author(org.authors) or {},
        "principal_investigator": builder.principal_investigators(org.authors),
        "imagesets": builder.imagesets(grouping, fallback_field),
        "citation": builder.citation(authors, title),
    }
    if acquisition.pixel_size_a is not None:
        _compare_pixel_sizes(builder, grouping, float(acquisition.pixel_size_a.value))
    if document["experiment_type"] == 3 and not document["cross_references"]:
        builder.report.warning(
            "$.cross_references",
            "EMPIAR entries of raw data are expected to relate to an EMDB entry: add its EMD "
            "id to the dataset's cross-references (or explain the exception to EMPIAR)",
            field="emdb_ids",
        )
    thumbnail = next(
        (grouping.first_image[c] for c in THUMBNAIL_PREFERENCE if c in grouping.first_image),
        None,
    )
    return EmpiarBuild(
        document=document,
        report=builder.report,
        grouping=grouping,
        hints=builder.hints,
        thumbnail_file_id=thumbnail.id if thumbnail else None,
    )


def _compare_pixel_sizes(builder: _Builder, grouping: sets.Grouping, entered: float) -> None:
    """A header pixel size far from the one entered in the metadata deserves a look."""
    for index, group in enumerate(grouping.imagesets):
        counts: Counter[tuple[float, float]] = Counter()
        for size, count, _example in group.pixel_sizes:
            counts[size] += count
        if not counts:
            continue
        header = counts.most_common(1)[0][0][0]
        if abs(header - entered) > 0.01 * entered and group.header_format != "T3":
            builder.report.warning(
                f"$.imagesets[{index}].pixel_width",
                f"the headers of {group.directory} give {header:.4g} Å per pixel, the metadata "
                f"{entered:.4g} Å: the header value was used (super-resolution or binning?)",
                field=f"{orgmeta.ACQUISITION}.pixel_size",
            )
