from tortoise import migrations
from tortoise.migrations import operations as ops
from orjson import loads
from tortoise.fields.base import OnDelete
from tortoise.fields.data import JSON_DUMPS
from tortoise import fields
from tortoise.indexes import Index

class Migration(migrations.Migration):
    dependencies = [('models', '0001_initial')]

    initial = False

    operations = [
        ops.CreateModel(
            name='Commission',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('partner', fields.ForeignKeyField('models.Organization', source_field='partner_id', db_constraint=True, to_field='id', related_name='commissions', on_delete=OnDelete.CASCADE)),
                ('customer', fields.ForeignKeyField('models.Organization', source_field='customer_id', null=True, db_constraint=True, to_field='id', related_name=False, on_delete=OnDelete.SET_NULL)),
                ('type', fields.CharField(max_length=10)),
                ('status', fields.CharField(max_length=10)),
                ('amount', fields.BigIntField()),
                ('currency', fields.CharField(max_length=3)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'commissions', 'app': 'models', 'indexes': [Index(fields=['partner_id', 'status', 'amount'])], 'pk_attr': 'id', 'table_description': 'A commission line in the partner payout currency (integer minor units).'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='CustomerRelationship',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('customer', fields.ForeignKeyField('models.Organization', source_field='customer_id', db_constraint=True, to_field='id', related_name='service_partner_relationships', on_delete=OnDelete.CASCADE)),
                ('partner', fields.ForeignKeyField('models.Organization', source_field='partner_id', db_constraint=True, to_field='id', related_name='customer_relationships', on_delete=OnDelete.CASCADE)),
                ('source', fields.CharField(max_length=12)),
                ('started_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('ended_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('grant_permissions', fields.JSONField(default=list, encoder=JSON_DUMPS, decoder=loads)),
                ('grant_expires_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('grant_updated_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'customer_relationships', 'app': 'models', 'indexes': [Index(fields=['partner_id', 'ended_at']), Index(fields=['customer_id', 'ended_at'])], 'pk_attr': 'id', 'table_description': 'A customer organization with its service partner. Current while `ended_at` is null.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='Invitation',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('partner', fields.ForeignKeyField('models.Organization', source_field='partner_id', db_constraint=True, to_field='id', related_name='invitations', on_delete=OnDelete.CASCADE)),
                ('email', fields.CharField(max_length=320)),
                ('organization_name', fields.CharField(max_length=200)),
                ('message', fields.TextField(default='', unique=False)),
                ('language', fields.CharField(default='en', max_length=8)),
                ('token_hash', fields.CharField(unique=True, max_length=64)),
                ('status', fields.CharField(max_length=10)),
                ('expires_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('created_by', fields.ForeignKeyField('models.User', source_field='created_by_id', null=True, db_constraint=True, to_field='id', related_name=False, on_delete=OnDelete.SET_NULL)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('accepted_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('customer', fields.ForeignKeyField('models.Organization', source_field='customer_id', null=True, db_constraint=True, to_field='id', related_name='accepted_invitations', on_delete=OnDelete.SET_NULL)),
            ],
            options={'table': 'invitations', 'app': 'models', 'indexes': [Index(fields=['partner_id', 'status', 'expires_at'])], 'pk_attr': 'id', 'table_description': 'A prospective customer invited by email. Only the SHA-256 of the link token is kept.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='License',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('organization', fields.OneToOneField('models.Organization', source_field='organization_id', db_constraint=True, to_field='id', related_name='license', on_delete=OnDelete.CASCADE)),
                ('status', fields.CharField(max_length=10)),
                ('plan', fields.CharField(max_length=60)),
                ('seats', fields.IntField(default=1)),
                ('mrr_amount', fields.BigIntField(default=0)),
                ('currency', fields.CharField(default='USD', max_length=3)),
                ('trial_ends_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('updated_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'licenses', 'app': 'models', 'indexes': [Index(fields=['status', 'organization_id'])], 'pk_attr': 'id', 'table_description': 'Status, plan, seats and monthly recurring revenue (integer minor units).'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='ManagementSession',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('partner', fields.ForeignKeyField('models.Organization', source_field='partner_id', db_constraint=True, to_field='id', related_name=False, on_delete=OnDelete.CASCADE)),
                ('customer', fields.ForeignKeyField('models.Organization', source_field='customer_id', db_constraint=True, to_field='id', related_name=False, on_delete=OnDelete.CASCADE)),
                ('user', fields.ForeignKeyField('models.User', source_field='user_id', db_constraint=True, to_field='id', related_name='management_sessions', on_delete=OnDelete.CASCADE)),
                ('relationship', fields.ForeignKeyField('models.CustomerRelationship', source_field='relationship_id', db_constraint=True, to_field='id', related_name='sessions', on_delete=OnDelete.CASCADE)),
                ('started_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('last_activity_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('ended_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'management_sessions', 'app': 'models', 'indexes': [Index(fields=['user_id', 'ended_at'])], 'pk_attr': 'id', 'table_description': 'Partner staff acting on a customer organization, within the grant in force at each request.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='OutboxMessage',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('kind', fields.CharField(default='email', max_length=20)),
                ('payload', fields.JSONField(encoder=JSON_DUMPS, decoder=loads)),
                ('status', fields.CharField(default='PENDING', max_length=10)),
                ('attempts', fields.IntField(default=0)),
                ('next_attempt_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('last_error', fields.TextField(null=True, unique=False)),
                ('note', fields.CharField(null=True, max_length=200)),
                ('claim_token', fields.CharField(null=True, max_length=32)),
                ('claimed_until', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('sent_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'outbox_messages', 'app': 'models', 'indexes': [Index(fields=['status', 'next_attempt_at'])], 'pk_attr': 'id', 'table_description': 'One outbound message. The payload of an email holds the rendered mail (to, subject, text, html, template, language).'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='PartnerApplication',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('organization', fields.ForeignKeyField('models.Organization', source_field='organization_id', db_constraint=True, to_field='id', related_name='partner_applications', on_delete=OnDelete.CASCADE)),
                ('status', fields.CharField(max_length=10)),
                ('legal_name', fields.CharField(max_length=200)),
                ('website', fields.CharField(max_length=500)),
                ('country', fields.CharField(max_length=2)),
                ('vat_id', fields.CharField(null=True, max_length=32)),
                ('contact_name', fields.CharField(max_length=200)),
                ('contact_email', fields.CharField(max_length=320)),
                ('contact_phone', fields.CharField(null=True, max_length=40)),
                ('programs', fields.JSONField(default=list, encoder=JSON_DUMPS, decoder=loads)),
                ('message', fields.TextField(default='', unique=False)),
                ('submitted_by', fields.ForeignKeyField('models.User', source_field='submitted_by_id', null=True, db_constraint=True, to_field='id', related_name=False, on_delete=OnDelete.SET_NULL)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('decided_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('decided_by', fields.ForeignKeyField('models.User', source_field='decided_by_id', null=True, db_constraint=True, to_field='id', related_name=False, on_delete=OnDelete.SET_NULL)),
                ('decision_note', fields.TextField(null=True, unique=False)),
                ('approved_programs', fields.JSONField(default=list, encoder=JSON_DUMPS, decoder=loads)),
            ],
            options={'table': 'partner_applications', 'app': 'models', 'indexes': [Index(fields=['status', 'id']), Index(fields=['organization_id', 'status'])], 'pk_attr': 'id', 'table_description': 'An organization asking for partner status, decided by an operator.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='PartnerProfile',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('organization', fields.OneToOneField('models.Organization', source_field='organization_id', db_constraint=True, to_field='id', related_name='partner_profile', on_delete=OnDelete.CASCADE)),
                ('code', fields.CharField(unique=True, max_length=16)),
                ('payout_currency', fields.CharField(default='USD', max_length=3)),
                ('listed_in_directory', fields.BooleanField(default=False)),
                ('approved_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'partner_profiles', 'app': 'models', 'pk_attr': 'id', 'table_description': 'An approved partner: its public code, payout currency and directory listing.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='ProgramEnrollment',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('partner', fields.ForeignKeyField('models.Organization', source_field='partner_id', db_constraint=True, to_field='id', related_name='enrollments', on_delete=OnDelete.CASCADE)),
                ('program', fields.CharField(max_length=20)),
                ('enrolled_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'program_enrollments', 'app': 'models', 'unique_together': (('partner', 'program'),), 'pk_attr': 'id', 'table_description': 'A partner in one program (AFFILIATE, EXPERT, RESELLER, SERVICE_PARTNER).'},
            bases=['Model'],
        ),
        ops.AddField(
            model_name='AuditEvent',
            name='management_session',
            field=fields.ForeignKeyField('models.ManagementSession', source_field='management_session_id', null=True, db_constraint=True, to_field='id', related_name='audit_events', on_delete=OnDelete.SET_NULL),
        ),
        ops.AddField(
            model_name='AuditEvent',
            name='partner_organization',
            field=fields.ForeignKeyField('models.Organization', source_field='partner_organization_id', null=True, db_constraint=True, to_field='id', related_name=False, on_delete=OnDelete.SET_NULL),
        ),
    ]
