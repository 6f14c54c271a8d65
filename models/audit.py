"""The append-only audit log."""

from tortoise import fields
from tortoise.models import Model

from partner_portal.permissions.enums import Via


class AuditEvent(Model):
    """Who, acting for which organization, through what, did what to which object, when."""

    id = fields.BigIntField(primary_key=True)
    organization = fields.ForeignKeyField(
        "models.Organization", related_name="audit_events", null=True, on_delete=fields.CASCADE
    )
    actor_user = fields.ForeignKeyField(
        "models.User", related_name="audit_events", null=True, on_delete=fields.SET_NULL
    )
    api_key = fields.ForeignKeyField("models.ApiKey", related_name="audit_events", null=True, on_delete=fields.SET_NULL)
    management_session = fields.ForeignKeyField(
        "models.ManagementSession", related_name="audit_events", null=True, on_delete=fields.SET_NULL
    )
    partner_organization = fields.ForeignKeyField(
        "models.Organization", related_name=False, null=True, on_delete=fields.SET_NULL
    )
    via = fields.CharEnumField(Via, max_length=20)
    action = fields.CharField(max_length=80)
    target_type = fields.CharField(max_length=60)
    target_id = fields.CharField(max_length=60)
    changes = fields.JSONField(default=dict)
    created_at = fields.DatetimeField()

    class Meta:
        table = "audit_events"
        indexes = (("organization_id", "id"),)
