"""Register the built-in schemas of the current manifest (1.1.0: the ORCID iD takes any text,
as the official OSC-EM schemas do; a malformed iD is a warning, see metadata.identifiers).
Datasets validated against 1.0.0 keep that version; new checks use the newest active one."""

from django.db import migrations


def load_builtin_schemas(apps, schema_editor):
    from metadata.builtin import builtin_schemas

    MetadataSchema = apps.get_model("metadata", "MetadataSchema")
    for builtin in builtin_schemas():
        MetadataSchema.objects.get_or_create(
            name=builtin.name,
            version=builtin.version,
            defaults={
                "document": builtin.document,
                "techniques": list(builtin.techniques),
                "builtin": True,
                "status": "active",
            },
        )


class Migration(migrations.Migration):
    dependencies = [("metadata", "0002_builtin_schemas_and_metadata_indexes")]

    operations = [migrations.RunPython(load_builtin_schemas, migrations.RunPython.noop)]
