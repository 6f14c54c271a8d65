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
    # When the address was proved to reach its owner (a mailed link, an invitation, the identity
    # provider); null while unverified. See docs/accounts.md for what an unverified account may not do.
    email_verified_at = fields.DatetimeField(null=True)
    # Two-factor sign-in (TOTP): the secret, encrypted with the server's key; `totp_enabled_at` is set
    # once a first code confirmed the set-up. `totp_last_step` refuses a code used twice.
    totp_secret = fields.CharField(max_length=500, null=True)
    totp_enabled_at = fields.DatetimeField(null=True)
    totp_last_step = fields.BigIntField(null=True)
    # Set when the account was deleted: the row stays, pseudonymized, for the ledger and audit log.
    deleted_at = fields.DatetimeField(null=True)

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
    # The device, as the user sees it in their list of sessions: what the client called itself
    # (User-Agent, cut to 300 characters) and its address when the session began.
    user_agent = fields.CharField(max_length=300, null=True)
    client_address = fields.CharField(max_length=64, null=True)
    # When this session proved a second factor (sign-in with a code, or setting one up); null when not.
    two_factor_at = fields.DatetimeField(null=True)

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


class PasswordResetToken(Model):
    """A single-use link to choose a new password, of which only the SHA-256 is stored."""

    id = fields.IntField(primary_key=True)
    token_hash = fields.CharField(max_length=64, unique=True)
    user = fields.ForeignKeyField("models.User", related_name="password_resets", on_delete=fields.CASCADE)
    # The address the link was mailed to: it works only while the account still has it.
    email = fields.CharField(max_length=320)
    created_at = fields.DatetimeField()
    expires_at = fields.DatetimeField()
    used_at = fields.DatetimeField(null=True)

    class Meta:
        table = "password_reset_tokens"


class EmailVerificationToken(Model):
    """A single-use link proving that `email` reaches the user (a new account's address, or the one it
    changes to), of which only the SHA-256 is stored."""

    id = fields.IntField(primary_key=True)
    token_hash = fields.CharField(max_length=64, unique=True)
    user = fields.ForeignKeyField("models.User", related_name="email_verifications", on_delete=fields.CASCADE)
    email = fields.CharField(max_length=320)
    created_at = fields.DatetimeField()
    expires_at = fields.DatetimeField()
    used_at = fields.DatetimeField(null=True)

    class Meta:
        table = "email_verification_tokens"


class RecoveryCode(Model):
    """A single-use code that stands in for the second factor, of which only the SHA-256 is stored."""

    id = fields.IntField(primary_key=True)
    user = fields.ForeignKeyField("models.User", related_name="recovery_codes", on_delete=fields.CASCADE)
    code_hash = fields.CharField(max_length=64)
    created_at = fields.DatetimeField()
    used_at = fields.DatetimeField(null=True)

    class Meta:
        table = "recovery_codes"
        unique_together = (("user", "code_hash"),)


class SignInChallenge(Model):
    """The step between a correct password and a session for an account with a second factor: a
    short-lived token (only its SHA-256 stored) that a TOTP or recovery code turns into a session."""

    id = fields.IntField(primary_key=True)
    token_hash = fields.CharField(max_length=64, unique=True)
    user = fields.ForeignKeyField("models.User", related_name="sign_in_challenges", on_delete=fields.CASCADE)
    created_at = fields.DatetimeField()
    expires_at = fields.DatetimeField()
    used_at = fields.DatetimeField(null=True)
    failures = fields.IntField(default=0)

    class Meta:
        table = "sign_in_challenges"


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
