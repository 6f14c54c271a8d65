from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise.fields.base import OnDelete
from tortoise import fields

# Accounts from before verified addresses (issue 16): they count as verified, so that partner staff keep
# acting for their partner after the upgrade. In production they confirmed their address by the
# registration link (CONFIRM_REGISTRATIONS) or came through an invitation or the identity provider.
GRANDFATHER_VERIFIED = "UPDATE users SET email_verified_at = created_at WHERE email_verified_at IS NULL"


class Migration(migrations.Migration):
    dependencies = [('models', '0009_enum_columns')]

    initial = False

    operations = [
        ops.CreateModel(
            name='EmailVerificationToken',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('token_hash', fields.CharField(unique=True, max_length=64)),
                ('user', fields.ForeignKeyField('models.User', source_field='user_id', db_constraint=True, to_field='id', related_name='email_verifications', on_delete=OnDelete.CASCADE)),
                ('email', fields.CharField(max_length=320)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('expires_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('used_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'email_verification_tokens', 'app': 'models', 'pk_attr': 'id', 'table_description': "A single-use link proving that `email` reaches the user (a new account's address, or the one it"},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='PasswordResetToken',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('token_hash', fields.CharField(unique=True, max_length=64)),
                ('user', fields.ForeignKeyField('models.User', source_field='user_id', db_constraint=True, to_field='id', related_name='password_resets', on_delete=OnDelete.CASCADE)),
                ('email', fields.CharField(max_length=320)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('expires_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('used_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'password_reset_tokens', 'app': 'models', 'pk_attr': 'id', 'table_description': 'A single-use link to choose a new password, of which only the SHA-256 is stored.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='RecoveryCode',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('user', fields.ForeignKeyField('models.User', source_field='user_id', db_constraint=True, to_field='id', related_name='recovery_codes', on_delete=OnDelete.CASCADE)),
                ('code_hash', fields.CharField(max_length=64)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('used_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'recovery_codes', 'app': 'models', 'unique_together': (('user', 'code_hash'),), 'pk_attr': 'id', 'table_description': 'A single-use code that stands in for the second factor, of which only the SHA-256 is stored.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='SignInChallenge',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('token_hash', fields.CharField(unique=True, max_length=64)),
                ('user', fields.ForeignKeyField('models.User', source_field='user_id', db_constraint=True, to_field='id', related_name='sign_in_challenges', on_delete=OnDelete.CASCADE)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('expires_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('used_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('failures', fields.IntField(default=0)),
            ],
            options={'table': 'sign_in_challenges', 'app': 'models', 'pk_attr': 'id', 'table_description': 'The step between a correct password and a session for an account with a second factor: a'},
            bases=['Model'],
        ),
        ops.AddField(
            model_name='SessionToken',
            name='client_address',
            field=fields.CharField(null=True, max_length=64),
        ),
        ops.AddField(
            model_name='SessionToken',
            name='two_factor_at',
            field=fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
        ),
        ops.AddField(
            model_name='SessionToken',
            name='user_agent',
            field=fields.CharField(null=True, max_length=300),
        ),
        ops.AddField(
            model_name='User',
            name='deleted_at',
            field=fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
        ),
        ops.AddField(
            model_name='User',
            name='email_verified_at',
            field=fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
        ),
        ops.AddField(
            model_name='User',
            name='totp_enabled_at',
            field=fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
        ),
        ops.AddField(
            model_name='User',
            name='totp_last_step',
            field=fields.BigIntField(null=True),
        ),
        ops.AddField(
            model_name='User',
            name='totp_secret',
            field=fields.CharField(null=True, max_length=500),
        ),
        ops.RunSQL(GRANDFATHER_VERIFIED, reverse_sql=""),
    ]
