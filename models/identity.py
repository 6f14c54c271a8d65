"""People who sign in, their sessions, integrators' API keys and the vendor's operators."""

from tortoise import fields
from tortoise.models import Model


class User(Model):
    """A person. `email` is stored normalized (lower case), so it is unique regardless of case."""

    id = fields.IntField(primary_key=True)
    email = fields.CharField(max_length=320, unique=True)
    name = fields.CharField(max_length=200)
    password_hash = fields.CharField(max_length=255, null=True)
    oidc_issuer = fields.CharField(max_length=500, null=True)
    oidc_subject = fields.CharField(max_length=255, null=True)
    language = fields.CharField(max_length=8, default="en")
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "users"
        unique_together = (("oidc_issuer", "oidc_subject"),)


class SessionToken(Model):
    """An opaque bearer token, of which only the SHA-256 is stored."""

    id = fields.IntField(primary_key=True)
    token_hash = fields.CharField(max_length=64, unique=True)
    user = fields.ForeignKeyField("models.User", related_name="sessions", on_delete=fields.CASCADE)
    created_at = fields.DatetimeField()
    expires_at = fields.DatetimeField()
    revoked_at = fields.DatetimeField(null=True)
    last_used_at = fields.DatetimeField(null=True)

    class Meta:
        table = "session_tokens"


class LoginThrottle(Model):
    """Failed sign-ins per email address from all clients, whether or not an account exists for it."""

    id = fields.IntField(primary_key=True)
    email = fields.CharField(max_length=320, unique=True)
    failures = fields.IntField(default=0)
    locked_until = fields.DatetimeField(null=True)
    last_failure_at = fields.DatetimeField(null=True)

    class Meta:
        table = "login_throttles"


class ClientLoginThrottle(Model):
    """Failed sign-ins per email address and client address: a guesser locks its own address out."""

    id = fields.IntField(primary_key=True)
    email = fields.CharField(max_length=320, db_index=True)
    client = fields.CharField(max_length=64)
    failures = fields.IntField(default=0)
    locked_until = fields.DatetimeField(null=True)
    last_failure_at = fields.DatetimeField(null=True)

    class Meta:
        table = "client_login_throttles"
        unique_together = (("email", "client"),)


class PendingRegistration(Model):
    """A registration waiting for the link mailed to its address, of which only the SHA-256 is stored."""

    id = fields.IntField(primary_key=True)
    token_hash = fields.CharField(max_length=64, unique=True)
    email = fields.CharField(max_length=320, db_index=True)
    name = fields.CharField(max_length=200)
    password_hash = fields.CharField(max_length=255)
    created_at = fields.DatetimeField()
    expires_at = fields.DatetimeField()

    class Meta:
        table = "pending_registrations"


class UnlockToken(Model):
    """A single-use link mailed to the owner of a locked account, of which only the SHA-256 is stored."""

    id = fields.IntField(primary_key=True)
    token_hash = fields.CharField(max_length=64, unique=True)
    user = fields.ForeignKeyField("models.User", related_name="unlock_tokens", on_delete=fields.CASCADE)
    created_at = fields.DatetimeField()
    expires_at = fields.DatetimeField()
    used_at = fields.DatetimeField(null=True)

    class Meta:
        table = "unlock_tokens"


class ApiKey(Model):
    """An integrator key: shown once, stored as SHA-256, limited to its scopes."""

    id = fields.IntField(primary_key=True)
    name = fields.CharField(max_length=200)
    prefix = fields.CharField(max_length=16)
    key_hash = fields.CharField(max_length=64, unique=True)
    scopes = fields.JSONField(default=list)
    created_by = fields.ForeignKeyField("models.User", related_name="api_keys", null=True, on_delete=fields.SET_NULL)
    created_at = fields.DatetimeField()
    revoked_at = fields.DatetimeField(null=True)
    last_used_at = fields.DatetimeField(null=True)

    class Meta:
        table = "api_keys"


class Operator(Model):
    """A member of the vendor staff, with operator permissions."""

    id = fields.IntField(primary_key=True)
    user = fields.OneToOneField("models.User", related_name="operator", on_delete=fields.CASCADE)
    permissions = fields.JSONField(default=list)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "operators"
