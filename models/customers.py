"""A customer and its service partner: the relationship, its delegated grant, and the
management sessions partner staff open on the customer."""

from tortoise import fields
from tortoise.models import Model

from partner_portal.models.enums import LicenseStatus, RelationshipSource


class CustomerRelationship(Model):
    """A customer organization with its service partner. Current while `ended_at` is null.

    The delegated grant lives on the relationship: a new relationship starts without one.
    The customer name and its case-folded search form are copies of the organization columns,
    kept current on rename, so that one index serves a partner customer list in name order.
    `license_status` is a copy of the license status of the customer (null without a license), kept
    current with every license write, so that the dashboard counts the customers of a partner by
    license status from one index range instead of looking up the license of each customer.
    """

    id = fields.IntField(primary_key=True)
    customer = fields.ForeignKeyField(
        "models.Organization", related_name="service_partner_relationships", on_delete=fields.CASCADE
    )
    partner = fields.ForeignKeyField(
        "models.Organization", related_name="customer_relationships", on_delete=fields.CASCADE
    )
    source = fields.CharEnumField(RelationshipSource, max_length=12)
    started_at = fields.DatetimeField()
    ended_at = fields.DatetimeField(null=True)
    grant_permissions = fields.JSONField(default=list)
    grant_expires_at = fields.DatetimeField(null=True)
    grant_updated_at = fields.DatetimeField(null=True)
    customer_name = fields.CharField(max_length=200, null=True)
    customer_search_name = fields.CharField(max_length=200, null=True)
    license_status = fields.CharEnumField(LicenseStatus, max_length=10, null=True)

    class Meta:
        table = "customer_relationships"
        # (partner, current, customer) finds whether an organization is a partner's current customer,
        # (partner, current, license status) covers the dashboard's counts without the table, and
        # (partner, current, name, id) a customer list page in name order, read from the index
        indexes = (
            ("partner_id", "ended_at", "customer_id"),
            ("partner_id", "ended_at", "license_status"),
            ("partner_id", "ended_at", "customer_name", "id"),
            ("customer_id", "ended_at"),
        )


class ManagementSession(Model):
    """Partner staff acting on a customer organization, within the grant in force at each request."""

    id = fields.IntField(primary_key=True)
    partner = fields.ForeignKeyField("models.Organization", related_name=False, on_delete=fields.CASCADE)
    customer = fields.ForeignKeyField("models.Organization", related_name=False, on_delete=fields.CASCADE)
    user = fields.ForeignKeyField("models.User", related_name="management_sessions", on_delete=fields.CASCADE)
    relationship = fields.ForeignKeyField(
        "models.CustomerRelationship", related_name="sessions", on_delete=fields.CASCADE
    )
    started_at = fields.DatetimeField()
    last_activity_at = fields.DatetimeField()
    ended_at = fields.DatetimeField(null=True)

    class Meta:
        table = "management_sessions"
        indexes = (("user_id", "ended_at"),)
