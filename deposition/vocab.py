"""The vocabularies of the archives, as data in one place.

EMPIAR code lists are written as the deposition schema writes them (``"('T2', '')"``); EMDB
terms are the enumerations of the EMDB header schema v3.0.11.3. Mappings from the free text the
portal holds (instrument models, detector names, OSC-EM strings) to those terms live here too,
so that the builders contain no vocabulary of their own.
"""

from __future__ import annotations

import re
import unicodedata

# --- EMPIAR ----------------------------------------------------------------------------------

EMPIAR_CATEGORIES = {
    "T1": "micrographs - single frame",
    "T2": "micrographs - multiframe",
    "T3": "micrographs - focal pairs - unprocessed",
    "T4": "micrographs - focal pairs - contrast inverted",
    "T5": "picked particles - single frame - unprocessed",
    "T6": "picked particles - multiframe - unprocessed",
    "T7": "picked particles - single frame - processed",
    "T8": "picked particles - multiframe - processed",
    "T9": "tilt series",
    "T10": "class averages",
    "T11": "stitched maps",
    "T12": "diffraction images",
    "T13": "reconstructed volumes",
    "T14": "subtomograms",
}
EMPIAR_FORMATS = {
    "T1": "MRC",
    "T2": "MRCS",
    "T3": "TIFF",
    "T4": "IMAGIC",
    "T5": "DM3",
    "T6": "DM4",
    "T7": "SPIDER",
    "T8": "XML / BIG DATA VIEWER HDF5",
    "T9": "EER",
    "T10": "PNG",
    "T11": "JPEG",
    "T12": "SMV",
    "T13": "EM",
    "T14": "TPX3",
}
EMPIAR_VOXEL_TYPES = {
    "T1": "UNSIGNED BYTE",
    "T2": "SIGNED BYTE",
    "T3": "UNSIGNED 16 BIT INTEGER",
    "T4": "SIGNED 16 BIT INTEGER",
    "T5": "UNSIGNED 32 BIT INTEGER",
    "T6": "SIGNED 32 BIT INTEGER",
    "T7": "32 BIT FLOAT",
    "T8": "BIT",
    "T9": "4 BIT INTEGER",
}
EMPIAR_EXPERIMENT_TYPES = {
    1: "soft x-ray tomography",
    2: "simulated data",
    3: "raw image data relating to structures deposited to EMDB",
    4: "serial block-face SEM",
    5: "focused ion beam SEM",
    6: "integrative hybrid modelling",
    7: "correlative light-electron microscopy",
    8: "correlative light X-ray microscopy",
    9: "microcrystal electron diffraction",
    11: "ATUM-SEM",
    12: "hard X-ray / X-ray microCT",
    13: "ssET",
}
EMPIAR_SCALES = {"1": "molecule", "2": "virus", "3": "cell", "4": "tissue", "5": "organism"}
EMPIAR_RELEASE_OPTIONS = {
    "RE": "directly after the submission has been processed",
    "EP": "after the related EMDB entry has been released",
    "HP": "after the related primary citation has been published",
    "HO": "one year after deposition",
}

#: MRC mode -> EMPIAR voxel type (MRC2014: mode 0 is a *signed* byte).
MRC_MODE_VOXEL_TYPE = {0: "T2", 1: "T4", 2: "T7", 6: "T3", 101: "T9"}
#: MRC modes EMPIAR has no code for: written as ('OT', ...), which the schema allows.
MRC_MODE_OTHER = {3: "COMPLEX 16 BIT INTEGER", 4: "COMPLEX 32 BIT FLOAT", 12: "16 BIT FLOAT"}
#: numpy dtype names (as the TIFF reader records them) -> EMPIAR voxel type.
DTYPE_VOXEL_TYPE = {
    "uint8": "T1",
    "int8": "T2",
    "uint16": "T3",
    "int16": "T4",
    "uint32": "T5",
    "int32": "T6",
    "float32": "T7",
    "bool": "T8",
}
#: EER frames: the choice of voxel type, and why (shown to curators as the value's source).
#:
#: EMPIAR's code list has no EER-specific voxel type. An EER frame is a list of electron
#: events, each placed on a 4x4 super-resolution grid within its physical pixel (2 + 2
#: sub-pixel bits, see the header's ``subpixel_bits``), so a decoded frame is a 4-bit count
#: image, not a 1-bit mask (T8 'BIT', meant for binary images such as segmentations). The
#: EMPIAR depositor introduced the EER header/data formats and the '4 BIT INTEGER' voxel type in
#: the same release (empiar-depositor 1.6b21, "Added support of ... EER ... and 4 BIT INTEGER
#: voxel type"): T9 is the code EMPIAR added for EER movies.
EER_VOXEL_TYPE = "T9"
EER_VOXEL_TYPE_REASON = (
    "EER movies: '4 BIT INTEGER' (T9), the voxel type EMPIAR added together with the EER "
    "format (empiar-depositor 1.6b21); EER events sit on a 4-bit (2+2) super-resolution grid"
)


def empiar_code(code: str, other: str = "") -> str:
    """A code-list value as EMPIAR writes it: ``('T2', '')`` or ``('OT', 'FREE TEXT')``."""
    return f"('{code}', '{other}')"


# Exact shapes of the code-list strings (the schema's own regexes are not anchored on both
# sides: "^(A)|B$" accepts anything that starts like A or ends like B).
EMPIAR_CODE_PATTERNS = {
    "category": re.compile(r"\('(T(?:1[0-4]|[1-9]))', ''\)|\('OT', '([^'\0]+)'\)"),
    "header_format": re.compile(r"\('(T(?:1[0-4]|[1-9]))', ''\)|\('OT', '([A-Z0-9 ]+)'\)"),
    "data_format": re.compile(r"\('(T(?:1[0-4]|[1-9]))', ''\)|\('OT', '([A-Z0-9 ]+)'\)"),
    "voxel_type": re.compile(r"\('(T[1-9])', ''\)|\('OT', '([A-Z0-9 ]+)'\)"),
}
#: ``('Surname', 'INITIALS')``: surname up to 60 characters, initials capital letters (<= 20).
EMPIAR_AUTHOR_NAME = re.compile(r"\('([^0-9!\"£$%^&*()']{1,60})', '([A-Z]{1,20})'\)")

# --- Countries (ISO 3166-1 alpha-2, officially assigned codes) -------------------------------

ISO_3166_ALPHA2 = {
    "AD": "Andorra",
    "AE": "United Arab Emirates",
    "AF": "Afghanistan",
    "AG": "Antigua and Barbuda",
    "AI": "Anguilla",
    "AL": "Albania",
    "AM": "Armenia",
    "AO": "Angola",
    "AQ": "Antarctica",
    "AR": "Argentina",
    "AS": "American Samoa",
    "AT": "Austria",
    "AU": "Australia",
    "AW": "Aruba",
    "AX": "Aland Islands",
    "AZ": "Azerbaijan",
    "BA": "Bosnia and Herzegovina",
    "BB": "Barbados",
    "BD": "Bangladesh",
    "BE": "Belgium",
    "BF": "Burkina Faso",
    "BG": "Bulgaria",
    "BH": "Bahrain",
    "BI": "Burundi",
    "BJ": "Benin",
    "BL": "Saint Barthelemy",
    "BM": "Bermuda",
    "BN": "Brunei Darussalam",
    "BO": "Bolivia",
    "BQ": "Bonaire, Sint Eustatius and Saba",
    "BR": "Brazil",
    "BS": "Bahamas",
    "BT": "Bhutan",
    "BV": "Bouvet Island",
    "BW": "Botswana",
    "BY": "Belarus",
    "BZ": "Belize",
    "CA": "Canada",
    "CC": "Cocos (Keeling) Islands",
    "CD": "Congo, Democratic Republic of the",
    "CF": "Central African Republic",
    "CG": "Congo",
    "CH": "Switzerland",
    "CI": "Cote d'Ivoire",
    "CK": "Cook Islands",
    "CL": "Chile",
    "CM": "Cameroon",
    "CN": "China",
    "CO": "Colombia",
    "CR": "Costa Rica",
    "CU": "Cuba",
    "CV": "Cabo Verde",
    "CW": "Curacao",
    "CX": "Christmas Island",
    "CY": "Cyprus",
    "CZ": "Czechia",
    "DE": "Germany",
    "DJ": "Djibouti",
    "DK": "Denmark",
    "DM": "Dominica",
    "DO": "Dominican Republic",
    "DZ": "Algeria",
    "EC": "Ecuador",
    "EE": "Estonia",
    "EG": "Egypt",
    "EH": "Western Sahara",
    "ER": "Eritrea",
    "ES": "Spain",
    "ET": "Ethiopia",
    "FI": "Finland",
    "FJ": "Fiji",
    "FK": "Falkland Islands (Malvinas)",
    "FM": "Micronesia",
    "FO": "Faroe Islands",
    "FR": "France",
    "GA": "Gabon",
    "GB": "United Kingdom",
    "GD": "Grenada",
    "GE": "Georgia",
    "GF": "French Guiana",
    "GG": "Guernsey",
    "GH": "Ghana",
    "GI": "Gibraltar",
    "GL": "Greenland",
    "GM": "Gambia",
    "GN": "Guinea",
    "GP": "Guadeloupe",
    "GQ": "Equatorial Guinea",
    "GR": "Greece",
    "GS": "South Georgia and the South Sandwich Islands",
    "GT": "Guatemala",
    "GU": "Guam",
    "GW": "Guinea-Bissau",
    "GY": "Guyana",
    "HK": "Hong Kong",
    "HM": "Heard Island and McDonald Islands",
    "HN": "Honduras",
    "HR": "Croatia",
    "HT": "Haiti",
    "HU": "Hungary",
    "ID": "Indonesia",
    "IE": "Ireland",
    "IL": "Israel",
    "IM": "Isle of Man",
    "IN": "India",
    "IO": "British Indian Ocean Territory",
    "IQ": "Iraq",
    "IR": "Iran",
    "IS": "Iceland",
    "IT": "Italy",
    "JE": "Jersey",
    "JM": "Jamaica",
    "JO": "Jordan",
    "JP": "Japan",
    "KE": "Kenya",
    "KG": "Kyrgyzstan",
    "KH": "Cambodia",
    "KI": "Kiribati",
    "KM": "Comoros",
    "KN": "Saint Kitts and Nevis",
    "KP": "Korea, Democratic People's Republic of",
    "KR": "Korea, Republic of",
    "KW": "Kuwait",
    "KY": "Cayman Islands",
    "KZ": "Kazakhstan",
    "LA": "Lao People's Democratic Republic",
    "LB": "Lebanon",
    "LC": "Saint Lucia",
    "LI": "Liechtenstein",
    "LK": "Sri Lanka",
    "LR": "Liberia",
    "LS": "Lesotho",
    "LT": "Lithuania",
    "LU": "Luxembourg",
    "LV": "Latvia",
    "LY": "Libya",
    "MA": "Morocco",
    "MC": "Monaco",
    "MD": "Moldova",
    "ME": "Montenegro",
    "MF": "Saint Martin (French part)",
    "MG": "Madagascar",
    "MH": "Marshall Islands",
    "MK": "North Macedonia",
    "ML": "Mali",
    "MM": "Myanmar",
    "MN": "Mongolia",
    "MO": "Macao",
    "MP": "Northern Mariana Islands",
    "MQ": "Martinique",
    "MR": "Mauritania",
    "MS": "Montserrat",
    "MT": "Malta",
    "MU": "Mauritius",
    "MV": "Maldives",
    "MW": "Malawi",
    "MX": "Mexico",
    "MY": "Malaysia",
    "MZ": "Mozambique",
    "NA": "Namibia",
    "NC": "New Caledonia",
    "NE": "Niger",
    "NF": "Norfolk Island",
    "NG": "Nigeria",
    "NI": "Nicaragua",
    "NL": "Netherlands",
    "NO": "Norway",
    "NP": "Nepal",
    "NR": "Nauru",
    "NU": "Niue",
    "NZ": "New Zealand",
    "OM": "Oman",
    "PA": "Panama",
    "PE": "Peru",
    "PF": "French Polynesia",
    "PG": "Papua New Guinea",
    "PH": "Philippines",
    "PK": "Pakistan",
    "PL": "Poland",
    "PM": "Saint Pierre and Miquelon",
    "PN": "Pitcairn",
    "PR": "Puerto Rico",
    "PS": "Palestine, State of",
    "PT": "Portugal",
    "PW": "Palau",
    "PY": "Paraguay",
    "QA": "Qatar",
    "RE": "Reunion",
    "RO": "Romania",
    "RS": "Serbia",
    "RU": "Russian Federation",
    "RW": "Rwanda",
    "SA": "Saudi Arabia",
    "SB": "Solomon Islands",
    "SC": "Seychelles",
    "SD": "Sudan",
    "SE": "Sweden",
    "SG": "Singapore",
    "SH": "Saint Helena, Ascension and Tristan da Cunha",
    "SI": "Slovenia",
    "SJ": "Svalbard and Jan Mayen",
    "SK": "Slovakia",
    "SL": "Sierra Leone",
    "SM": "San Marino",
    "SN": "Senegal",
    "SO": "Somalia",
    "SR": "Suriname",
    "SS": "South Sudan",
    "ST": "Sao Tome and Principe",
    "SV": "El Salvador",
    "SX": "Sint Maarten (Dutch part)",
    "SY": "Syrian Arab Republic",
    "SZ": "Eswatini",
    "TC": "Turks and Caicos Islands",
    "TD": "Chad",
    "TF": "French Southern Territories",
    "TG": "Togo",
    "TH": "Thailand",
    "TJ": "Tajikistan",
    "TK": "Tokelau",
    "TL": "Timor-Leste",
    "TM": "Turkmenistan",
    "TN": "Tunisia",
    "TO": "Tonga",
    "TR": "Turkiye",
    "TT": "Trinidad and Tobago",
    "TV": "Tuvalu",
    "TW": "Taiwan",
    "TZ": "Tanzania",
    "UA": "Ukraine",
    "UG": "Uganda",
    "UM": "United States Minor Outlying Islands",
    "US": "United States of America",
    "UY": "Uruguay",
    "UZ": "Uzbekistan",
    "VA": "Holy See",
    "VC": "Saint Vincent and the Grenadines",
    "VE": "Venezuela",
    "VG": "Virgin Islands (British)",
    "VI": "Virgin Islands (U.S.)",
    "VN": "Viet Nam",
    "VU": "Vanuatu",
    "WF": "Wallis and Futuna",
    "WS": "Samoa",
    "YE": "Yemen",
    "YT": "Mayotte",
    "ZA": "South Africa",
    "ZM": "Zambia",
    "ZW": "Zimbabwe",
}
#: Codes people write that are not ISO 3166-1 alpha-2, and what they mean.
COUNTRY_CODE_CORRECTIONS = {"UK": "GB", "EL": "GR", "FX": "FR"}
#: Accepted by EMPIAR but not an ISO code (user-assigned for Kosovo): a warning, not an error.
COUNTRY_CODE_TOLERATED = {"XK": "Kosovo"}
COUNTRY_NAME_ALIASES = {
    "usa": "US",
    "united states": "US",
    "u.s.a.": "US",
    "uk": "GB",
    "great britain": "GB",
    "england": "GB",
    "scotland": "GB",
    "wales": "GB",
    "northern ireland": "GB",
    "the netherlands": "NL",
    "holland": "NL",
    "south korea": "KR",
    "korea": "KR",
    "russia": "RU",
    "czech republic": "CZ",
    "turkey": "TR",
    "vietnam": "VN",
    "iran": "IR",
    "schweiz": "CH",
    "suisse": "CH",
    "svizzera": "CH",
    "deutschland": "DE",
}


def _fold(text: str) -> str:
    return "".join(
        c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c)
    ).casefold()


_COUNTRY_BY_NAME = {_fold(name): code for code, name in ISO_3166_ALPHA2.items()}


def country_code(text: str | None) -> tuple[str | None, str | None]:
    """``(code, problem)``: an ISO 3166-1 alpha-2 code for a code or an English country name."""
    if not text or not text.strip():
        return None, "no country given"
    raw = " ".join(text.split())
    if len(raw) == 2 and raw.isalpha():
        upper = raw.upper()
        if upper in ISO_3166_ALPHA2:
            return upper, None
        if upper in COUNTRY_CODE_TOLERATED:
            return upper, None
        if upper in COUNTRY_CODE_CORRECTIONS:
            fixed = COUNTRY_CODE_CORRECTIONS[upper]
            return None, f"{upper!r} is not an ISO 3166-1 country code: use {fixed!r}"
        return None, f"{raw!r} is not an ISO 3166-1 alpha-2 country code"
    folded = _fold(raw)
    code = COUNTRY_NAME_ALIASES.get(folded) or _COUNTRY_BY_NAME.get(folded)
    if code:
        return code, None
    return None, f"unknown country {raw!r}: enter an ISO 3166-1 alpha-2 code such as CH or GB"


# --- ORCID -----------------------------------------------------------------------------------

# One ORCID reading for the whole portal: metadata's (re-exported for the builders' vocab.X).
from metadata.identifiers import orcid_checksum_ok  # noqa: E402, F401
from metadata.oscem import ORCID_PATTERN, normalise_orcid  # noqa: E402, F401

# --- Names -------------------------------------------------------------------------------------

#: Letters NFKD does not decompose, spelled as EMDB and PDB spell them in ASCII.
_ASCII_SPELLINGS = {
    "ø": "o",
    "Ø": "O",
    "ł": "l",
    "Ł": "L",
    "ß": "ss",
    "æ": "ae",
    "Æ": "AE",
    "œ": "oe",
    "Œ": "OE",
    "đ": "d",
    "Đ": "D",
    "ð": "d",
    "Ð": "D",
    "þ": "th",
    "Þ": "Th",
    "ı": "i",
}


def ascii_fold(text: str) -> tuple[str, bool]:
    """``(ascii_text, complete)``: diacritics removed; ``complete`` is False when letters
    remain that have no ASCII spelling (they are dropped from ``ascii_text``)."""
    spelled = "".join(_ASCII_SPELLINGS.get(c, c) for c in text)
    stripped = "".join(
        c for c in unicodedata.normalize("NFKD", spelled) if not unicodedata.combining(c)
    )
    ascii_only = stripped.encode("ascii", "ignore").decode()
    return ascii_only, ascii_only == stripped


def initials(given_names: str) -> str:
    """``"John William"`` -> ``"JW"``; ``"Jean-Pierre"`` -> ``"JP"``; ``"J. W."`` -> ``"JW"``."""
    parts = re.split(r"[\s.\-]+", given_names.strip())
    letters = []
    for part in parts:
        for char in part:
            if char.isalpha():
                letters.append(char.upper())
                break
    return "".join(letters)


# --- EMDB ------------------------------------------------------------------------------------

EMDB_SCHEMA_VERSION = "3.0.11.3"
#: MRC modes EMDB takes, as the header's map/data_type writes them.
EMDB_MAP_DATA_TYPES = {
    0: "IMAGE STORED AS SIGNED BYTE",
    1: "IMAGE STORED AS SIGNED INTEGER (2 BYTES)",
    2: "IMAGE STORED AS FLOATING POINT NUMBER (4 BYTES)",
}
MMCIF_MAP_DATA_TYPES = {
    0: "Image stored as signed byte",
    1: "Image stored as signed integer (2 bytes)",
    2: "Image stored as floating point number (4 bytes)",
}
EMDB_METHODS = {
    "spa": "singleParticle",
    "subtomo": "subtomogramAveraging",
    "tomography": "tomography",
    "cellular_tomo": "tomography",
    "env_tomo": "tomography",
}
MMCIF_METHODS = {
    "singleParticle": "SINGLE PARTICLE",
    "subtomogramAveraging": "SUBTOMOGRAM AVERAGING",
    "tomography": "TOMOGRAPHY",
}
#: EMDB method -> (preparation element, microscopy element, processing element).
EMDB_METHOD_ELEMENTS = {
    "singleParticle": (
        "single_particle_preparation",
        "single_particle_microscopy",
        "singleparticle_processing",
    ),
    "subtomogramAveraging": (
        "subtomogram_averaging_preparation",
        "tomography_microscopy",
        "subtomogram_averaging_processing",
    ),
    "tomography": ("tomography_preparation", "tomography_microscopy", "tomography_processing"),
}
EMDB_AGGREGATION_DEFAULTS = {
    "singleParticle": "particle",
    "subtomogramAveraging": "particle",
    "tomography": "cell",
}
#: OSC-EM sample.overall_molecule.assembly -> EMDB aggregation_state.
EMDB_AGGREGATION_BY_ASSEMBLY = {
    "PARTICLE": "particle",
    "FILAMENT": "filament",
    "HELICAL ARRAY": "helicalArray",
}
#: OSC-EM molecular_overall_type -> EMDB supramolecule element.
EMDB_SUPRAMOLECULE_BY_TYPE = {
    "COMPLEX": "complex_supramolecule",
    "RIBOSOME": "complex_supramolecule",
    "CELL": "cell_supramolecule",
    "TISSUE": "tissue_supramolecule",
    "ORGANELLE OR CELLULAR COMPONENT": "organelle_or_cellular_component_supramolecule",
    "VIRUS": "sample_supramolecule",
}
EMDB_CRYOGENS = {
    "ethane": "ETHANE",
    "ethane-propane": "ETHANE-PROPANE",
    "propane": "PROPANE",
    "nitrogen": "NITROGEN",
    "helium": "HELIUM",
    "methane": "METHANE",
}

#: (words that must all appear in the lower-cased "manufacturer model", EMDB microscope term);
#: the first match wins, so specific entries come before general ones.
EMDB_MICROSCOPES: list[tuple[tuple[str, ...], str]] = [
    (("krios", "g4"), "TFS KRIOS"),
    (("krios", "g3i"), "TFS KRIOS"),
    (("krios", "g4i"), "TFS KRIOS"),
    (("krios", "g5"), "TFS KRIOS"),
    (("krios", "thermo"), "TFS KRIOS"),
    (("krios",), "FEI TITAN KRIOS"),
    (("glacios",), "TFS GLACIOS"),
    (("talos", "arctica"), "FEI TALOS ARCTICA"),
    (("talos", "l120c"), "TFS TALOS L120C"),
    (("talos", "f200c"), "TFS TALOS F200C"),
    (("talos",), "TFS TALOS"),
    (("tundra",), "TFS TUNDRA"),
    (("titan", "themis"), "TFS TITAN THEMIS"),
    (("polara",), "FEI POLARA 300"),
    (("cryo arm", "300"), "JEOL CRYO ARM 300"),
    (("cryo arm", "200"), "JEOL CRYO ARM 200"),
    (("tecnai", "f20"), "FEI TECNAI F20"),
    (("tecnai", "f30"), "FEI TECNAI F30"),
    (("tecnai", "spirit"), "FEI TECNAI SPIRIT"),
    (("tecnai", "sphera"), "FEI TECNAI SPHERA"),
    (("tecnai", "12"), "FEI TECNAI 12"),
    (("tecnai", "20"), "FEI TECNAI 20"),
    (("morgagni",), "FEI MORGAGNI"),
    (("titan",), "FEI TITAN"),
]
#: Microscopes with a field emission gun in every configuration (electron source).
FEG_MICROSCOPES = frozenset(
    {
        "TFS KRIOS",
        "FEI TITAN KRIOS",
        "TFS GLACIOS",
        "FEI TALOS ARCTICA",
        "TFS TALOS F200C",
        "TFS TITAN THEMIS",
        "FEI POLARA 300",
        "JEOL CRYO ARM 300",
        "JEOL CRYO ARM 200",
        "FEI TECNAI F20",
        "FEI TECNAI F30",
        "FEI TITAN",
    }
)
EMDB_DETECTORS: list[tuple[tuple[str, ...], str]] = [
    (("falcon", "4i"), "TFS FALCON 4i (4k x 4k)"),
    (("falcon", "iv"), "FEI FALCON IV (4k x 4k)"),
    (("falcon", "4"), "FEI FALCON IV (4k x 4k)"),
    (("falcon", "iii"), "FEI FALCON III (4k x 4k)"),
    (("falcon", "3"), "FEI FALCON III (4k x 4k)"),
    (("falcon", "ii"), "FEI FALCON II (4k x 4k)"),
    (("falcon", "2"), "FEI FALCON II (4k x 4k)"),
    (("k3", "bioquantum"), "GATAN K3 BIOQUANTUM (6k x 4k)"),
    (("k3", "biocontinuum"), "GATAN K3 BIOCONTINUUM (6k x 4k)"),
    (("k3",), "GATAN K3 (6k x 4k)"),
    (("k2", "summit"), "GATAN K2 SUMMIT (4k x 4k)"),
    (("k2", "quantum"), "GATAN K2 QUANTUM (4k x 4k)"),
    (("k2", "is"), "GATAN K2 IS (4k x 4k)"),
    (("k2",), "GATAN K2 (4k x 4k)"),
    (("alpine",), "GATAN ALPINE (2.3k x 3.2k)"),
    (("ceta",), "FEI CETA (4k x 4k)"),
    (("apollo",), "DIRECT ELECTRON APOLLO (4k x 4k)"),
    (("de-64",), "DIRECT ELECTRON DE-64 (8k x 8k)"),
    (("de-20",), "DIRECT ELECTRON DE-20 (5k x 3k)"),
    (("de-16",), "DIRECT ELECTRON DE-16 (4k x 4k)"),
    (("singla",), "DECTRIS SINGLA (1k x 1k)"),
    (("arina",), "DECTRIS ARINA (0.2k x 0.2k)"),
    (("ela",), "DECTRIS ELA (1k x 0.5k)"),
]
#: Words of detector-like names that are not detectors (energy filters listed with cameras).
NOT_DETECTORS = ("selectris", "bioquantum lf", "gif", "energy filter")


def _has_word(text: str, word: str) -> bool:
    return re.search(rf"(?<![a-z0-9]){re.escape(word)}(?![a-z0-9])", text) is not None


def _match(table: list[tuple[tuple[str, ...], str]], text: str) -> str | None:
    """The term of the first entry whose words all appear in ``text`` as whole words."""
    lowered = " ".join(text.lower().replace("_", " ").split())
    for words, term in table:
        if all(_has_word(lowered, word) for word in words):
            return term
    return None


def emdb_microscope(text: str | None) -> str | None:
    return _match(EMDB_MICROSCOPES, text) if text else None


def emdb_detector(text: str | None) -> str | None:
    if not text or any(word in text.lower() for word in NOT_DETECTORS):
        return None
    return _match(EMDB_DETECTORS, text)


def emdb_electron_source(text: str | None) -> str | None:
    if not text:
        return None
    lowered = text.lower().replace("-", "").replace(" ", "")
    if "feg" in lowered or "fieldemission" in lowered:
        return "FIELD EMISSION GUN"
    if "lab6" in lowered:
        return "LAB6"
    if "tungsten" in lowered or lowered in {"w", "whairpin"}:
        return "TUNGSTEN HAIRPIN"
    return "OTHER"


def emdb_illumination_mode(text: str | None) -> str | None:
    if not text:
        return None
    lowered = text.lower().replace(" ", "")
    if "flood" in lowered or "parallel" in lowered:
        return "FLOOD BEAM"
    if "spot" in lowered:
        return "SPOT SCAN"
    return "OTHER"


def emdb_imaging_mode(text: str | None) -> str | None:
    if not text:
        return None
    lowered = text.lower().replace(" ", "").replace("-", "")
    if "brightfield" in lowered:
        return "BRIGHT FIELD"
    if "darkfield" in lowered or "haadf" in lowered:
        return "DARK FIELD"
    if "4dstem" in lowered:
        return "4D-STEM"
    if "diffraction" in lowered:
        return "DIFFRACTION"
    return "OTHER"


def emdb_detector_mode(text: str | None) -> str | None:
    if not text:
        return None
    lowered = text.lower()
    if "super" in lowered:
        return "SUPER-RESOLUTION"
    if "count" in lowered:
        return "COUNTING"
    if "integrat" in lowered or "linear" in lowered:
        return "INTEGRATING"
    return "OTHER"
