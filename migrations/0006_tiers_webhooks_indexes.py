from tortoise import migrations
from tortoise.migrations import operations as ops
from orjson import loads
from tortoise.fields.base import OnDelete
from tortoise.fields.data import JSON_DUMPS
from tortoise import fields
from tortoise.indexes import Index

from partner_portal.models.copies import CUSTOMER_NAMES, fill


async def fill_customer_names(apps, schema_editor) -> None:
    """Existing relationships get their customer's name and its case-folded search form, copied
    from the organization (whose search_name migration 0004 filled)."""
    await fill(schema_editor.client, CUSTOMER_NAMES)


class Migration(migrations.Migration):
    dependencies = [('models', '0005_referral_channels')]

    initial = False

    operations = [
        ops.CreateModel(
            name='FeatureUsage',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('event', fields.ForeignKeyField('models.BillingEvent', source_field='event_id', db_constraint=True, to_field='id', related_name=False, on_delete=OnDelete.CASCADE)),
                ('organization', fields.ForeignKeyField('models.Organization', source_field='organization_id', db_constraint=True, to_field='id', related_name=False, on_delete=OnDelete.CASCADE)),
                ('feature', fields.CharField(max_length=60)),
                ('used_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'feature_usage', 'app': 'models', 'indexes': [Index(fields=['used_at', 'organization_id', 'feature'])], 'pk_attr': 'id', 'table_description': 'One product feature a customer used, from a usage report (a billing event of kind FEATURE_USAGE).'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='PartnerCertification',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('partner', fields.ForeignKeyField('models.Organization', source_field='partner_id', db_constraint=True, to_field='id', related_name=False, on_delete=OnDelete.CASCADE)),
                ('name', fields.CharField(max_length=100)),
                ('valid_until', fields.DateField(null=True)),
                ('recorded_by', fields.ForeignKeyField('models.User', source_field='recorded_by_id', null=True, db_constraint=True, to_field='id', related_name=False, on_delete=OnDelete.SET_NULL)),
                ('recorded_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'partner_certifications', 'app': 'models', 'unique_together': (('partner', 'name'),), 'pk_attr': 'id', 'table_description': 'A named certification an operator recorded for a partner, valid until a day or for good.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='PartnerTierFigures',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('partner', fields.OneToOneField('models.Organization', source_field='partner_id', db_constraint=True, to_field='id', related_name=False, on_delete=OnDelete.CASCADE)),
                ('currency', fields.CharField(max_length=3)),
                ('sold_mrr', fields.BigIntField(default=0)),
                ('sold_customers', fields.IntField(default=0)),
                ('managed_mrr', fields.BigIntField(default=0)),
                ('managed_customers', fields.IntField(default=0)),
                ('median_features', fields.DecimalField(null=True, max_digits=8, decimal_places=1)),
                ('refreshed_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'partner_tier_figures', 'app': 'models', 'pk_attr': 'id', 'table_description': 'A partner figures as of the latest run of the tiers job (refreshed daily, for display).'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='Tier',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('name', fields.CharField(unique=True, max_length=40)),
                ('rank', fields.IntField(unique=True)),
                ('min_sold_mrr', fields.BigIntField(default=0)),
                ('min_managed_mrr', fields.BigIntField(default=0)),
                ('required_certification', fields.CharField(null=True, max_length=100)),
                ('min_median_features', fields.IntField(null=True)),
                ('active', fields.BooleanField(default=True)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('updated_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'tiers', 'app': 'models', 'pk_attr': 'id', 'table_description': 'A partner tier. Thresholds are integer minor units of the base currency.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='TierAssessment',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('partner', fields.ForeignKeyField('models.Organization', source_field='partner_id', db_constraint=True, to_field='id', related_name=False, on_delete=OnDelete.CASCADE)),
                ('period', fields.CharField(max_length=7)),
                ('evaluated_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('currency', fields.CharField(max_length=3)),
                ('sold_mrr', fields.BigIntField(default=0)),
                ('sold_customers', fields.IntField(default=0)),
                ('managed_mrr', fields.BigIntField(default=0)),
                ('managed_customers', fields.IntField(default=0)),
                ('median_features', fields.DecimalField(null=True, max_digits=8, decimal_places=1)),
                ('certifications', fields.JSONField(default=list, encoder=JSON_DUMPS, decoder=loads)),
                ('tier', fields.CharField(null=True, max_length=40)),
                ('previous_tier', fields.CharField(null=True, max_length=40)),
                ('changed', fields.BooleanField(default=False)),
            ],
            options={'table': 'tier_assessments', 'app': 'models', 'unique_together': (('partner', 'period'),), 'indexes': [Index(fields=['partner_id', 'id']), Index(fields=['period', 'id'])], 'pk_attr': 'id', 'table_description': 'A partner evaluated for one month: its figures, the tier it qualified for, and the change.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='WebhookEvent',
            fields=[
                ('id', fields.CharField(primary_key=True, unique=True, db_index=True, max_length=40)),
                ('type', fields.CharField(max_length=40)),
                ('data', fields.JSONField(encoder=JSON_DUMPS, decoder=loads)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'webhook_events', 'app': 'models', 'pk_attr': 'id', 'table_description': 'One domain event, written once (only when a subscription wants it) and sent to each subscriber.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='WebhookSubscription',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('url', fields.CharField(max_length=2000)),
                ('event_types', fields.JSONField(default=list, encoder=JSON_DUMPS, decoder=loads)),
                ('description', fields.CharField(default='', max_length=200)),
                ('secret', fields.TextField(unique=False)),
                ('active', fields.BooleanField(default=True)),
                ('created_by_api_key', fields.ForeignKeyField('models.ApiKey', source_field='created_by_api_key_id', null=True, db_constraint=True, to_field='id', related_name=False, on_delete=OnDelete.SET_NULL)),
                ('created_by_user', fields.ForeignKeyField('models.User', source_field='created_by_user_id', null=True, db_constraint=True, to_field='id', related_name=False, on_delete=OnDelete.SET_NULL)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('updated_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'webhook_subscriptions', 'app': 'models', 'pk_attr': 'id', 'table_description': 'An integrator endpoint and the event types it receives.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='WebhookDelivery',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('subscription', fields.ForeignKeyField('models.WebhookSubscription', source_field='subscription_id', db_constraint=True, to_field='id', related_name='deliveries', on_delete=OnDelete.CASCADE)),
                ('event', fields.ForeignKeyField('models.WebhookEvent', source_field='event_id', db_constraint=True, to_field='id', related_name=False, on_delete=OnDelete.CASCADE)),
                ('message', fields.OneToOneField('models.OutboxMessage', source_field='message_id', db_constraint=True, to_field='id', related_name=False, on_delete=OnDelete.CASCADE)),
                ('redelivery_of', fields.ForeignKeyField('models.WebhookDelivery', source_field='redelivery_of_id', null=True, db_constraint=True, to_field='id', related_name=False, on_delete=OnDelete.SET_NULL)),
                ('attempt_log', fields.JSONField(default=list, encoder=JSON_DUMPS, decoder=loads)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'webhook_deliveries', 'app': 'models', 'indexes': [Index(fields=['subscription_id', 'id'])], 'pk_attr': 'id', 'table_description': 'One delivery of an event to a subscription, with its outbox row and the attempt log.'},
            bases=['Model'],
        ),
        ops.AddIndex(
            model_name='Commission',
            index=Index(fields=['partner_id', 'created_at', 'currency', 'amount']),
        ),
        ops.RemoveIndex(
            model_name='CustomerRelationship',
            name=None,
            fields=['partner_id', 'ended_at'],
        ),
        ops.AddField(
            model_name='CustomerRelationship',
            name='customer_name',
            field=fields.CharField(null=True, max_length=200),
        ),
        ops.AddField(
            model_name='CustomerRelationship',
            name='customer_search_name',
            field=fields.CharField(null=True, max_length=200),
        ),
        ops.RunPython(fill_customer_names),
        ops.AddIndex(
            model_name='CustomerRelationship',
            index=Index(fields=['partner_id', 'ended_at', 'customer_id']),
        ),
        ops.AddIndex(
            model_name='CustomerRelationship',
            index=Index(fields=['partner_id', 'ended_at', 'customer_name', 'id']),
        ),
        ops.AddIndex(
            model_name='License',
            index=Index(fields=['organization_id', 'status']),
        ),
        ops.AddIndex(
            model_name='Membership',
            index=Index(fields=['user_id', 'organization_id']),
        ),
        ops.AlterModelOptions(
            name='OutboxMessage',
            options={'table': 'outbox_messages', 'app': 'models', 'indexes': [Index(fields=['status', 'next_attempt_at'])], 'pk_attr': 'id', 'table_description': 'One outbound message. The payload of an email holds the rendered mail (to, subject, text, html, template, language), the payload of a webhook its delivery (to = the URL, subject = the event type, event_id).'},
        ),
    ]
