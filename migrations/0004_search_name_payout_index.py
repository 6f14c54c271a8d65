from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise import fields
from tortoise.indexes import Index

async def fill_search_names(apps, schema_editor) -> None:
    """Existing organizations get the case-folded name searches compare (Python folds all
    scripts; SQL LOWER on SQLite folds ASCII only)."""
    client = schema_editor.client
    for row in await client.execute_query_dict('SELECT "id", "name" FROM "organizations"'):
        await client.execute_query(
            'UPDATE "organizations" SET "search_name" = {} WHERE "id" = {}'.format(
                *(("$1", "$2") if client.capabilities.dialect == "postgres" else ("?", "?"))
            ),
            [row["name"].casefold(), row["id"]],
        )


class Migration(migrations.Migration):
    dependencies = [('models', '0003_money')]

    initial = False

    operations = [
        ops.AddIndex(
            model_name='Commission',
            index=Index(fields=['payout_id', 'amount']),
        ),
        ops.AddField(
            model_name='Organization',
            name='search_name',
            field=fields.CharField(null=True, db_index=True, max_length=200),
        ),
        ops.RunPython(fill_search_names),
    ]
