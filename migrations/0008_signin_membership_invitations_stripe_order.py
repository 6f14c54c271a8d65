from tortoise import migrations
from tortoise.migrations import operations as ops
from orjson import loads
from tortoise.fields.base import OnDelete
from tortoise.fields.data import JSON_DUMPS
from tortoise import fields
from tortoise.indexes import Index

class Migration(migrations.Migration):
    dependencies = [('models', '0007_relationship_license_status')]

    initial = False

    operations = [
        ops.CreateModel(
            name='ClientLoginThrottle',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('email', fields.CharField(db_index=True, max_length=320)),
                ('client', fields.CharField(max_length=64)),
                ('failures', fields.IntField(default=0)),
                ('locked_until', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('last_failure_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'client_login_throttles', 'app': 'models', 'unique_together': (('email', 'client'),), 'pk_attr': 'id', 'table_description': 'Failed sign-ins per email address and client address: a guesser locks its own address out.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='MembershipInvitation',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('organization', fields.ForeignKeyField('models.Organization', source_field='organization_id', db_constraint=True, to_field='id', related_name='membership_invitations', on_delete=OnDelete.CASCADE)),
                ('email', fields.CharField(max_length=320)),
                ('role', fields.CharField(max_length=20)),
                ('permissions', fields.JSONField(default=list, encoder=JSON_DUMPS, decoder=loads)),
                ('token_hash', fields.CharField(unique=True, max_length=64)),
                ('status', fields.CharField(max_length=10)),
                ('expires_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('created_by', fields.ForeignKeyField('models.User', source_field='created_by_id', null=True, db_constraint=True, to_field='id', related_name=False, on_delete=OnDelete.SET_NULL)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('decided_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('relationship', fields.ForeignKeyField('models.CustomerRelationship', source_field='relationship_id', null=True, db_constraint=True, to_field='id', related_name=False, on_delete=OnDelete.CASCADE)),
            ],
            options={'table': 'membership_invitations', 'app': 'models', 'indexes': [Index(fields=['organization_id', 'status', 'email'])], 'pk_attr': 'id', 'table_description': 'A person invited by email to join an organization, a member once they accept.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='PendingRegistration',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('token_hash', fields.CharField(unique=True, max_length=64)),
                ('email', fields.CharField(db_index=True, max_length=320)),
                ('name', fields.CharField(max_length=200)),
                ('password_hash', fields.CharField(max_length=255)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('expires_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'pending_registrations', 'app': 'models', 'pk_attr': 'id', 'table_description': 'A registration waiting for the link mailed to its address, of which only the SHA-256 is stored.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='StripeSubscription',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('stripe_subscription_id', fields.CharField(unique=True, max_length=255)),
                ('organization', fields.ForeignKeyField('models.Organization', source_field='organization_id', db_constraint=True, to_field='id', related_name=False, on_delete=OnDelete.CASCADE)),
                ('event_created', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('event_rank', fields.SmallIntField()),
                ('event_id', fields.CharField(max_length=255)),
            ],
            options={'table': 'stripe_subscriptions', 'app': 'models', 'pk_attr': 'id', 'table_description': 'The last event applied to the license for each Stripe subscription.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='UnlockToken',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('token_hash', fields.CharField(unique=True, max_length=64)),
                ('user', fields.ForeignKeyField('models.User', source_field='user_id', db_constraint=True, to_field='id', related_name='unlock_tokens', on_delete=OnDelete.CASCADE)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('expires_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('used_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'unlock_tokens', 'app': 'models', 'pk_attr': 'id', 'table_description': 'A single-use link mailed to the owner of a locked account, of which only the SHA-256 is stored.'},
            bases=['Model'],
        ),
        ops.AlterModelOptions(
            name='LoginThrottle',
            options={'table': 'login_throttles', 'app': 'models', 'pk_attr': 'id', 'table_description': 'Failed sign-ins per email address from all clients, whether or not an account exists for it.'},
        ),
        ops.AddField(
            model_name='Membership',
            name='relationship',
            field=fields.ForeignKeyField('models.CustomerRelationship', source_field='relationship_id', null=True, db_constraint=True, to_field='id', related_name='granted_memberships', on_delete=OnDelete.CASCADE),
        ),
    ]
