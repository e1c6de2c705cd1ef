"""Organizational metadata that makes the demo datasets ready for deposition.

The demo's files say what instruments record; people, sample and funding are what a curator
enters in the metadata form. These documents stand in for that, so that a newcomer's portal
has datasets whose EMPIAR and EMDB exports validate: pass
``metadata=demo_deposition_metadata(technique, kind)`` when the demo creates a dataset
(entered values win over those ingest derives from the files).
"""

from __future__ import annotations

import copy
from typing import Any

DEMO_AUTHORS = [
    {
        "given_name": "Chris",
        "family_name": "Curator",
        "email": "curator@example.org",
        "orcid": "0000-0002-1825-0097",
        "name_org": "Cryo-EM Facility Basel (demo)",
        "type_org": "Academic",
        "country": "CH",
        "role": "corresponding author, principal investigator",
    },
    {
        "given_name": "Mia",
        "family_name": "Member",
        "email": "member@example.org",
        "orcid": None,
        "name_org": "Cryo-EM Facility Basel (demo)",
        "type_org": "Academic",
        "country": "CH",
        "role": "investigator",
    },
]
DEMO_FUNDING = {
    "funder": [{"funder_name": "Swiss National Science Foundation", "country": "CH"}],
    "grants": [{"project_id": "demo-0001"}],
}
APOFERRITIN = {
    "overall_molecule": {
        "name_sample": "Mouse heavy-chain apoferritin",
        "source": "recombinant",
        "molecular_overall_type": "COMPLEX",
        "assembly": "PARTICLE",
    },
    "molecule": [
        {
            "name_mol": "Ferritin heavy chain",
            "sequence": "MTTASPSQVRQNYHQDSEAAINRQINLELYASYVYLSMSYYFDRDDVALKNFAKYFLHQSHEEREHAEK",
            "natural_source": "Mus musculus",
            "taxonomy_id_source": "10090",
        }
    ],
    "specimen": {"ph": 7.5, "vitrification": True, "vitrification_cryogen": "ethane"},
}
KRIOS = {
    "microscope": {"manufacturer": "Thermo Fisher Scientific", "model": "Titan Krios G4"},
    "electron_source": "XFEG",
    "illumination": "FloodBeam",
    "imaging": "Brightfield",
    "acceleration_voltage": {"value": 300, "unit": "kV"},
    "cs": {"value": 2.7, "unit": "mm"},
}
FALCON = {
    "technique": "spa",
    "detectors": [{"name": "Falcon 4i", "mode": "counting"}],
    "nominal_defocus": {
        "minimal": {"value": -2000.0, "unit": "nm"},
        "maximal": {"value": -800.0, "unit": "nm"},
    },
    "dose_per_movie": {"value": 40.0, "unit": "e/Å^2"},
    "exposure_time": {"value": 2.5, "unit": "s"},
    "nominal_magnification": 165000,
}


def demo_deposition_metadata(technique: str, kind: str = "raw") -> dict[str, Any]:
    """The metadata a curator would have entered for a demo dataset of this kind."""
    document: dict[str, Any] = {
        "organizational": {"authors": copy.deepcopy(DEMO_AUTHORS), **copy.deepcopy(DEMO_FUNDING)}
    }
    if technique == "spa":
        document["sample"] = copy.deepcopy(APOFERRITIN)
        document["instrument"] = copy.deepcopy(KRIOS)
        if kind == "map":
            document["acquisition"] = copy.deepcopy(FALCON)
    return document
