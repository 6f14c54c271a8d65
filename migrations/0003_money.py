from tortoise import migrations
from tortoise.migrations import operations as ops
from orjson import loads
from tortoise.fields.base import OnDelete
from tortoise.fields.data import JSON_DUMPS
from tortoise import fields
from tortoise.indexes import Index
from tortoise.migrations.constraints import UniqueConstraint

class Migration(migrations.Migration):
    dependencies = [('models', '0002_partners_customers_outbox')]

    initial = False

    operations = [
        ops.CreateModel(
            name='BillingEvent',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('source', fields.CharField(max_length=10)),
                ('external_id', fields.CharField(max_length=200)),
                ('kind', fields.CharField(max_length=30)),
                ('content_hash', fields.CharField(max_length=64)),
                ('result', fields.JSONField(default=dict, encoder=JSON_DUMPS, decoder=loads)),
                ('received_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'billing_events', 'app': 'models', 'unique_together': (('source', 'external_id'),), 'pk_attr': 'id', 'table_description': 'A billing event received once: a repeated external id returns `result` and changes nothing.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='ExchangeRate',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('currency', fields.CharField(max_length=3)),
                ('rate', fields.CharField(max_length=40)),
                ('valid_from', fields.DateField()),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'exchange_rates', 'app': 'models', 'unique_together': (('currency', 'valid_from'),), 'pk_attr': 'id', 'table_description': 'One unit of the base currency (settings) is worth `rate` units of `currency` from `valid_from` on.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='IdempotencyRecord',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('key', fields.CharField(max_length=200)),
                ('principal', fields.CharField(max_length=60)),
                ('request_hash', fields.CharField(max_length=64)),
                ('response', fields.JSONField(null=True, encoder=JSON_DUMPS, decoder=loads)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'idempotency_records', 'app': 'models', 'unique_together': (('principal', 'key'),), 'pk_attr': 'id', 'table_description': 'The first answer to a money-moving request sent with an Idempotency-Key.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='Payout',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('partner', fields.ForeignKeyField('models.Organization', source_field='partner_id', db_constraint=True, to_field='id', related_name='payouts', on_delete=OnDelete.CASCADE)),
                ('status', fields.CharField(max_length=10)),
                ('amount', fields.BigIntField()),
                ('currency', fields.CharField(max_length=3)),
                ('method', fields.CharField(max_length=15)),
                ('destination', fields.JSONField(default=dict, encoder=JSON_DUMPS, decoder=loads)),
                ('requested_by', fields.ForeignKeyField('models.User', source_field='requested_by_id', null=True, db_constraint=True, to_field='id', related_name=False, on_delete=OnDelete.SET_NULL)),
                ('requested_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('decided_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('paid_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('reference', fields.CharField(null=True, max_length=200)),
                ('note', fields.TextField(null=True, unique=False)),
            ],
            options={'table': 'payouts', 'app': 'models', 'indexes': [Index(fields=['partner_id', 'status']), Index(fields=['status', 'id'])], 'pk_attr': 'id', 'table_description': 'A claim of a partner approved balance: REQUESTED, APPROVED, then PAID or REJECTED.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='PayoutSettings',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('partner', fields.OneToOneField('models.Organization', source_field='partner_id', db_constraint=True, to_field='id', related_name='payout_settings', on_delete=OnDelete.CASCADE)),
                ('method', fields.CharField(max_length=15)),
                ('paypal_email', fields.CharField(null=True, max_length=320)),
                ('account_holder', fields.CharField(null=True, max_length=200)),
                ('iban', fields.CharField(null=True, max_length=34)),
                ('bic', fields.CharField(null=True, max_length=11)),
                ('automatic', fields.BooleanField(default=False)),
                ('updated_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'payout_settings', 'app': 'models', 'pk_attr': 'id', 'table_description': 'How a partner is paid: PAYPAL (email) or BANK_TRANSFER (holder, IBAN, BIC).'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='Product',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('code', fields.CharField(unique=True, max_length=40)),
                ('name', fields.CharField(max_length=200)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'products', 'app': 'models', 'pk_attr': 'id'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='CommissionRule',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('program', fields.CharField(max_length=20)),
                ('product', fields.ForeignKeyField('models.Product', source_field='product_id', null=True, db_constraint=True, to_field='id', related_name=False, on_delete=OnDelete.CASCADE)),
                ('tier', fields.CharField(null=True, max_length=40)),
                ('partner', fields.ForeignKeyField('models.Organization', source_field='partner_id', null=True, db_constraint=True, to_field='id', related_name=False, on_delete=OnDelete.CASCADE)),
                ('kind', fields.CharField(max_length=10)),
                ('rate_bp', fields.IntField(default=0)),
                ('flat_amount', fields.BigIntField(default=0)),
                ('flat_currency', fields.CharField(null=True, max_length=3)),
                ('recurrence', fields.CharField(max_length=10)),
                ('months', fields.IntField(null=True)),
                ('hold_days', fields.IntField(default=30)),
                ('active', fields.BooleanField(default=True)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'commission_rules', 'app': 'models', 'indexes': [Index(fields=['program', 'active'])], 'pk_attr': 'id', 'table_description': 'How much a program pays, optionally narrowed to a product, a tier or one partner.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='Plan',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('product', fields.ForeignKeyField('models.Product', source_field='product_id', db_constraint=True, to_field='id', related_name='plans', on_delete=OnDelete.CASCADE)),
                ('code', fields.CharField(unique=True, max_length=40)),
                ('name', fields.CharField(max_length=200)),
                ('prices', fields.JSONField(default=dict, encoder=JSON_DUMPS, decoder=loads)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'plans', 'app': 'models', 'pk_attr': 'id', 'table_description': 'A plan of a product, with a monthly price per currency in `prices` (currency to minor units).'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='Payment',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('external_id', fields.CharField(unique=True, max_length=200)),
                ('organization', fields.ForeignKeyField('models.Organization', source_field='organization_id', db_constraint=True, to_field='id', related_name='payments', on_delete=OnDelete.CASCADE)),
                ('plan', fields.ForeignKeyField('models.Plan', source_field='plan_id', null=True, db_constraint=True, to_field='id', related_name=False, on_delete=OnDelete.SET_NULL)),
                ('amount', fields.BigIntField()),
                ('currency', fields.CharField(max_length=3)),
                ('refunded_amount', fields.BigIntField(default=0)),
                ('paid_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'payments', 'app': 'models', 'indexes': [Index(fields=['organization_id', 'paid_at'])], 'pk_attr': 'id', 'table_description': 'A payment by a customer organization, in integer minor units of its currency.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='Referral',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('customer', fields.OneToOneField('models.Organization', source_field='customer_id', db_constraint=True, to_field='id', related_name='referral', on_delete=OnDelete.CASCADE)),
                ('partner', fields.ForeignKeyField('models.Organization', source_field='partner_id', db_constraint=True, to_field='id', related_name='referrals', on_delete=OnDelete.CASCADE)),
                ('type', fields.CharField(max_length=10)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'referrals', 'app': 'models', 'indexes': [Index(fields=['partner_id', 'created_at'])], 'pk_attr': 'id', 'table_description': 'The first referral of a customer organization wins: one row per customer.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='Refund',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('external_id', fields.CharField(unique=True, max_length=200)),
                ('payment_external_id', fields.CharField(max_length=200)),
                ('payment', fields.ForeignKeyField('models.Payment', source_field='payment_id', null=True, db_constraint=True, to_field='id', related_name='refunds', on_delete=OnDelete.CASCADE)),
                ('amount', fields.BigIntField()),
                ('currency', fields.CharField(max_length=3)),
                ('refunded_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('applied_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'refunds', 'app': 'models', 'indexes': [Index(fields=['payment_external_id', 'applied_at'])], 'pk_attr': 'id', 'table_description': 'A full or partial refund. One that arrives before its payment waits (`payment` null).'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='StripeCustomer',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('stripe_customer_id', fields.CharField(unique=True, max_length=100)),
                ('organization', fields.ForeignKeyField('models.Organization', source_field='organization_id', db_constraint=True, to_field='id', related_name=False, on_delete=OnDelete.CASCADE)),
            ],
            options={'table': 'stripe_customers', 'app': 'models', 'pk_attr': 'id', 'table_description': 'Which organization a Stripe customer id belongs to, when Stripe metadata does not say.'},
            bases=['Model'],
        ),
        ops.AlterModelOptions(
            name='Commission',
            options={'table': 'commissions', 'app': 'models', 'unique_together': (('source_key', 'partner'),), 'indexes': [Index(fields=['partner_id', 'status', 'amount']), Index(fields=['partner_id', 'id']), Index(fields=['status', 'hold_until'])], 'pk_attr': 'id', 'table_description': 'A ledger line in the partner payout currency (integer minor units, rounded once).'},
        ),
        ops.AddField(
            model_name='Commission',
            name='exchange_rate',
            field=fields.CharField(default='1', max_length=40),
        ),
        ops.AddField(
            model_name='Commission',
            name='hold_until',
            field=fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
        ),
        ops.AddField(
            model_name='Commission',
            name='original_amount',
            field=fields.BigIntField(default=0),
        ),
        ops.AddField(
            model_name='Commission',
            name='original_currency',
            field=fields.CharField(default='USD', max_length=3),
        ),
        ops.AddField(
            model_name='Commission',
            name='payment',
            field=fields.ForeignKeyField('models.Payment', source_field='payment_id', null=True, db_constraint=True, to_field='id', related_name='commissions', on_delete=OnDelete.SET_NULL),
        ),
        ops.AddField(
            model_name='Commission',
            name='payout',
            field=fields.ForeignKeyField('models.Payout', source_field='payout_id', null=True, db_constraint=True, to_field='id', related_name='commissions', on_delete=OnDelete.SET_NULL),
        ),
        ops.AddField(
            model_name='Commission',
            name='rate_bp',
            field=fields.IntField(default=0),
        ),
        ops.AddField(
            model_name='Commission',
            name='refund',
            field=fields.ForeignKeyField('models.Refund', source_field='refund_id', null=True, db_constraint=True, to_field='id', related_name=False, on_delete=OnDelete.SET_NULL),
        ),
        ops.AddField(
            model_name='Commission',
            name='rule',
            field=fields.ForeignKeyField('models.CommissionRule', source_field='rule_id', null=True, db_constraint=True, to_field='id', related_name=False, on_delete=OnDelete.SET_NULL),
        ),
        ops.AddField(
            model_name='Commission',
            name='source_key',
            field=fields.CharField(max_length=60),
        ),
        ops.AddIndex(
            model_name='Commission',
            index=Index(fields=['partner_id', 'id']),
        ),
        ops.AddIndex(
            model_name='Commission',
            index=Index(fields=['status', 'hold_until']),
        ),
        ops.AddConstraint(
            model_name='Commission',
            constraint=UniqueConstraint(fields=('source_key', 'partner'), name=None),
        ),
        ops.AddField(
            model_name='PartnerProfile',
            name='tier',
            field=fields.CharField(null=True, max_length=40),
        ),
    ]
