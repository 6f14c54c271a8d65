from tortoise import migrations
from tortoise.migrations import operations as ops
from orjson import loads
from tortoise.fields.base import OnDelete
from tortoise.fields.data import JSON_DUMPS
from tortoise import fields
from tortoise.indexes import Index

class Migration(migrations.Migration):
    dependencies = [('models', '0004_search_name_payout_index')]

    initial = False

    operations = [
        ops.CreateModel(
            name='AffiliateLink',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('partner', fields.ForeignKeyField('models.Organization', source_field='partner_id', db_constraint=True, to_field='id', related_name='affiliate_links', on_delete=OnDelete.CASCADE)),
                ('code', fields.CharField(unique=True, max_length=40)),
                ('campaign', fields.CharField(null=True, max_length=100)),
                ('landing_url', fields.CharField(max_length=1000)),
                ('active', fields.BooleanField(default=True)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'affiliate_links', 'app': 'models', 'indexes': [Index(fields=['partner_id', 'id'])], 'pk_attr': 'id', 'table_description': 'A partner link: a short public code landing on a path of an allowed vendor host.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='AffiliateClick',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('link', fields.ForeignKeyField('models.AffiliateLink', source_field='link_id', db_constraint=True, to_field='id', related_name='clicks', on_delete=OnDelete.CASCADE)),
                ('clicked_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('day', fields.DateField()),
                ('ip_hash', fields.CharField(max_length=64)),
                ('user_agent', fields.CharField(null=True, max_length=500)),
                ('referrer', fields.CharField(null=True, max_length=1000)),
            ],
            options={'table': 'affiliate_clicks', 'app': 'models', 'indexes': [Index(fields=['link_id', 'day'])], 'pk_attr': 'id', 'table_description': 'One visit of a link. The address is kept only as an HMAC with the secret key, never in clear.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='AffiliateSignup',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('customer', fields.OneToOneField('models.Organization', source_field='customer_id', db_constraint=True, to_field='id', related_name='affiliate_signup', on_delete=OnDelete.CASCADE)),
                ('partner', fields.ForeignKeyField('models.Organization', source_field='partner_id', db_constraint=True, to_field='id', related_name=False, on_delete=OnDelete.CASCADE)),
                ('link', fields.ForeignKeyField('models.AffiliateLink', source_field='link_id', db_constraint=True, to_field='id', related_name='signups', on_delete=OnDelete.CASCADE)),
                ('click', fields.ForeignKeyField('models.AffiliateClick', source_field='click_id', null=True, db_constraint=True, to_field='id', related_name=False, on_delete=OnDelete.SET_NULL)),
                ('day', fields.DateField()),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'affiliate_signups', 'app': 'models', 'indexes': [Index(fields=['partner_id', 'day']), Index(fields=['link_id', 'day']), Index(fields=['partner_id', 'customer_id'])], 'pk_attr': 'id', 'table_description': 'The link behind an AFFILIATE referral: one row per customer, written with the referral.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='CouponOrder',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('partner', fields.ForeignKeyField('models.Organization', source_field='partner_id', db_constraint=True, to_field='id', related_name=False, on_delete=OnDelete.CASCADE)),
                ('plan', fields.ForeignKeyField('models.Plan', source_field='plan_id', db_constraint=True, to_field='id', related_name=False, on_delete=OnDelete.RESTRICT)),
                ('count', fields.IntField()),
                ('months', fields.IntField()),
                ('currency', fields.CharField(max_length=3)),
                ('list_unit_amount', fields.BigIntField()),
                ('discount_bp', fields.IntField()),
                ('wholesale_unit_amount', fields.BigIntField()),
                ('total_amount', fields.BigIntField()),
                ('created_by', fields.ForeignKeyField('models.User', source_field='created_by_id', null=True, db_constraint=True, to_field='id', related_name=False, on_delete=OnDelete.SET_NULL)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'coupon_orders', 'app': 'models', 'indexes': [Index(fields=['partner_id', 'created_at'])], 'pk_attr': 'id', 'table_description': 'An order of coupons for one plan and a number of months, invoiced at once.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='Coupon',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('order', fields.ForeignKeyField('models.CouponOrder', source_field='order_id', db_constraint=True, to_field='id', related_name='coupons', on_delete=OnDelete.CASCADE)),
                ('code', fields.CharField(unique=True, max_length=32)),
                ('expires_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('redeemed_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('organization', fields.ForeignKeyField('models.Organization', source_field='organization_id', null=True, db_constraint=True, to_field='id', related_name=False, on_delete=OnDelete.SET_NULL)),
                ('redeemed_by', fields.ForeignKeyField('models.User', source_field='redeemed_by_id', null=True, db_constraint=True, to_field='id', related_name=False, on_delete=OnDelete.SET_NULL)),
                ('paid_until', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'coupons', 'app': 'models', 'indexes': [Index(fields=['order_id', 'id']), Index(fields=['organization_id', 'paid_until'])], 'pk_attr': 'id', 'table_description': 'One coupon of an order: an unguessable code, redeemed once by a customer organization.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='DiscountCode',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('partner', fields.OneToOneField('models.Organization', source_field='partner_id', db_constraint=True, to_field='id', related_name='discount_code', on_delete=OnDelete.CASCADE)),
                ('code', fields.CharField(unique=True, max_length=32)),
                ('percent_bp', fields.IntField()),
                ('plan_ids', fields.JSONField(default=list, encoder=JSON_DUMPS, decoder=loads)),
                ('active', fields.BooleanField(default=True)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'discount_codes', 'app': 'models', 'pk_attr': 'id', 'table_description': 'The personal discount code of a partner in the EXPERT program, one per partner.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='DiscountRedemption',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('code', fields.ForeignKeyField('models.DiscountCode', source_field='code_id', db_constraint=True, to_field='id', related_name='redemptions', on_delete=OnDelete.CASCADE)),
                ('partner', fields.ForeignKeyField('models.Organization', source_field='partner_id', db_constraint=True, to_field='id', related_name=False, on_delete=OnDelete.CASCADE)),
                ('customer', fields.OneToOneField('models.Organization', source_field='customer_id', db_constraint=True, to_field='id', related_name='discount_redemption', on_delete=OnDelete.CASCADE)),
                ('percent_bp', fields.IntField()),
                ('external_id', fields.CharField(null=True, max_length=200)),
                ('attributed', fields.BooleanField(default=False)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'discount_redemptions', 'app': 'models', 'indexes': [Index(fields=['code_id', 'customer_id']), Index(fields=['partner_id', 'created_at'])], 'pk_attr': 'id', 'table_description': 'A customer organization that used a discount code at checkout, once per customer.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='Invoice',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('order', fields.OneToOneField('models.CouponOrder', source_field='order_id', db_constraint=True, to_field='id', related_name='invoice', on_delete=OnDelete.CASCADE)),
                ('number', fields.CharField(unique=True, max_length=40)),
                ('amount', fields.BigIntField()),
                ('currency', fields.CharField(max_length=3)),
                ('issued_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'coupon_invoices', 'app': 'models', 'pk_attr': 'id', 'table_description': 'The invoice of a coupon order, issued with it: `amount` in minor units of `currency`.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='ResellerDiscount',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('partner', fields.OneToOneField('models.Organization', source_field='partner_id', db_constraint=True, to_field='id', related_name='reseller_discount', on_delete=OnDelete.CASCADE)),
                ('discount_bp', fields.IntField()),
                ('updated_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'reseller_discounts', 'app': 'models', 'pk_attr': 'id', 'table_description': 'The discount off list price a partner in the RESELLER program buys at, set by operators.'},
            bases=['Model'],
        ),
        ops.AddIndex(
            model_name='Commission',
            index=Index(fields=['payment_id', 'partner_id']),
        ),
    ]
