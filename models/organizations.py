"""Company accounts and the people in them."""

from tortoise import fields
from tortoise.models import Model


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
    """A user in an organization: a role (`ADMINISTRATOR` | `MEMBER`) and permission names."""

    id = fields.IntField(primary_key=True)
    organization = fields.ForeignKeyField(
        "models.Organization", related_name="memberships", on_delete=fields.CASCADE
    )
    user = fields.ForeignKeyField("models.User", related_name="memberships", on_delete=fields.CASCADE)
    role = fields.CharField(max_length=20)
    permissions = fields.JSONField(default=list)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "memberships"
        unique_together = (("organization", "user"),)
        indexes = (("user_id", "organization_id"),)  # a user's memberships, read with every session
