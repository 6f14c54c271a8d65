"""Company accounts and the people in them."""

from tortoise import fields
from tortoise.models import Model

from partner_portal.models.enums import MembershipInvitationStatus
from partner_portal.permissions.enums import Role


class Organization(Model):
    id = fields.IntField(primary_key=True)
    name = fields.CharField(max_length=200)
    search_name = fields.CharField(max_length=200, null=True, index=True)
    website = fields.CharField(max_length=500, null=True)
    country = fields.CharField(max_length=2, null=True)
    language = fields.CharField(max_length=8, default="en")
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "organizations"


class Membership(Model):
    """A user in an organization: a role (`ADMINISTRATOR` | `MEMBER`) and permission names.

    Made only with the consent of the user: by creating the organization, or by accepting a
    `MembershipInvitation` (or a customer invitation)."""

    id = fields.IntField(primary_key=True)
    organization = fields.ForeignKeyField("models.Organization", related_name="memberships", on_delete=fields.CASCADE)
    user = fields.ForeignKeyField("models.User", related_name="memberships", on_delete=fields.CASCADE)
    role = fields.CharEnumField(Role, max_length=20)
    permissions = fields.JSONField(default=list)
    created_at = fields.DatetimeField(auto_now_add=True)
    # Set when partner staff invited the member in a management session: the membership ends
    # with that relationship's grant (resolvers/organizations.py `end_granted_memberships`).
    relationship = fields.ForeignKeyField(
        "models.CustomerRelationship", related_name="granted_memberships", null=True, on_delete=fields.CASCADE
    )

    class Meta:
        table = "memberships"
        unique_together = (("organization", "user"),)
        indexes = (("user_id", "organization_id"),)  # a user's memberships, read with every session


class MembershipInvitation(Model):
    """A person invited by email to join an organization, a member once they accept.

    Only the SHA-256 of the link token is kept. `relationship` is set when partner staff
    invited in a management session: the invitation and the membership it makes end with the grant."""

    id = fields.IntField(primary_key=True)
    organization = fields.ForeignKeyField(
        "models.Organization", related_name="membership_invitations", on_delete=fields.CASCADE
    )
    email = fields.CharField(max_length=320)
    role = fields.CharEnumField(Role, max_length=20)
    permissions = fields.JSONField(default=list)
    token_hash = fields.CharField(max_length=64, unique=True)
    status = fields.CharEnumField(MembershipInvitationStatus, max_length=10)
    expires_at = fields.DatetimeField()
    created_by = fields.ForeignKeyField("models.User", related_name=False, null=True, on_delete=fields.SET_NULL)
    created_at = fields.DatetimeField()
    decided_at = fields.DatetimeField(null=True)
    relationship = fields.ForeignKeyField(
        "models.CustomerRelationship", related_name=False, null=True, on_delete=fields.CASCADE
    )

    class Meta:
        table = "membership_invitations"
        indexes = (("organization_id", "status", "email"),)
