"""Invitations partners send to prospective customers."""

from tortoise import fields
from tortoise.models import Model

from partner_portal.models.enums import InvitationStatus


class Invitation(Model):
    """A prospective customer invited by email. Only the SHA-256 of the link token is kept."""

    id = fields.IntField(primary_key=True)
    partner = fields.ForeignKeyField("models.Organization", related_name="invitations", on_delete=fields.CASCADE)
    email = fields.CharField(max_length=320)
    organization_name = fields.CharField(max_length=200)
    message = fields.TextField(default="")
    language = fields.CharField(max_length=8, default="en")
    token_hash = fields.CharField(max_length=64, unique=True)
    status = fields.CharEnumField(InvitationStatus, max_length=10)
    expires_at = fields.DatetimeField()
    created_by = fields.ForeignKeyField("models.User", related_name=False, null=True, on_delete=fields.SET_NULL)
    created_at = fields.DatetimeField()
    accepted_at = fields.DatetimeField(null=True)
    customer = fields.ForeignKeyField(
        "models.Organization", related_name="accepted_invitations", null=True, on_delete=fields.SET_NULL
    )

    class Meta:
        table = "invitations"
        indexes = (("partner_id", "status", "expires_at"),)
