"""Partner applications, partner profiles and program enrollments."""

from tortoise import fields
from tortoise.models import Model

from partner_portal.models.enums import ApplicationStatus, Program


class PartnerApplication(Model):
    """An organization asking for partner status, decided by an operator."""

    id = fields.IntField(primary_key=True)
    organization = fields.ForeignKeyField(
        "models.Organization", related_name="partner_applications", on_delete=fields.CASCADE
    )
    status = fields.CharEnumField(ApplicationStatus, max_length=10)
    legal_name = fields.CharField(max_length=200)
    website = fields.CharField(max_length=500)
    country = fields.CharField(max_length=2)
    vat_id = fields.CharField(max_length=32, null=True)
    contact_name = fields.CharField(max_length=200)
    contact_email = fields.CharField(max_length=320)
    contact_phone = fields.CharField(max_length=40, null=True)
    programs = fields.JSONField(default=list)
    message = fields.TextField(default="")
    submitted_by = fields.ForeignKeyField("models.User", related_name=False, null=True, on_delete=fields.SET_NULL)
    created_at = fields.DatetimeField()
    decided_at = fields.DatetimeField(null=True)
    decided_by = fields.ForeignKeyField("models.User", related_name=False, null=True, on_delete=fields.SET_NULL)
    decision_note = fields.TextField(null=True)
    approved_programs = fields.JSONField(default=list)

    class Meta:
        table = "partner_applications"
        indexes = (("status", "id"), ("organization_id", "status"))


class PartnerProfile(Model):
    """An approved partner: its public code, payout currency and directory listing."""

    id = fields.IntField(primary_key=True)
    organization = fields.OneToOneField("models.Organization", related_name="partner_profile", on_delete=fields.CASCADE)
    code = fields.CharField(max_length=16, unique=True)
    payout_currency = fields.CharField(max_length=3, default="USD")
    listed_in_directory = fields.BooleanField(default=False)
    tier = fields.CharField(max_length=40, null=True)
    approved_at = fields.DatetimeField()

    class Meta:
        table = "partner_profiles"


class ProgramEnrollment(Model):
    """A partner in one program (AFFILIATE, EXPERT, RESELLER, SERVICE_PARTNER)."""

    id = fields.IntField(primary_key=True)
    partner = fields.ForeignKeyField("models.Organization", related_name="enrollments", on_delete=fields.CASCADE)
    program = fields.CharEnumField(Program, max_length=20)
    enrolled_at = fields.DatetimeField()

    class Meta:
        table = "program_enrollments"
        unique_together = (("partner", "program"),)
