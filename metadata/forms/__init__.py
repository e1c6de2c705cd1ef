"""Forms of the metadata app: the schema-driven metadata form."""

from .schema_form import MODES, FormNode, MetadataForm

__all__ = ["MODES", "FormNode", "MetadataForm"]
