from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise import fields
from tortoise.indexes import Index

from partner_portal.models.copies import LICENSE_STATUS, fill


async def fill_license_status(apps, schema_editor) -> None:
    """Existing relationships get a copy of their customer's license status (null without one)."""
    await fill(schema_editor.client, LICENSE_STATUS)


class Migration(migrations.Migration):
    dependencies = [('models', '0006_tiers_webhooks_indexes')]

    initial = False

    operations = [
        ops.AddField(
            model_name='CustomerRelationship',
            name='license_status',
            field=fields.CharField(null=True, max_length=10),
        ),
        ops.AddIndex(
            model_name='CustomerRelationship',
            index=Index(fields=['partner_id', 'ended_at', 'license_status']),
        ),
        ops.RunPython(fill_license_status),
    ]
