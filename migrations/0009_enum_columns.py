from tortoise import migrations
from tortoise.migrations import operations as ops
from partner_portal.models.enums import ApplicationStatus, CommissionRuleKind, CommissionStatus, CommissionType, InvitationStatus, LicenseStatus, MembershipInvitationStatus, PayoutMethod, PayoutStatus, Program, Recurrence, RelationshipSource
from partner_portal.models.outbox import OutboxKind, OutboxStatus
from partner_portal.models.webhooks import WebhookEventType
from partner_portal.permissions.enums import Role, Via
from tortoise import fields

class AlterFieldState(ops.AlterField):
    """The column keeps its type: only the model field changes to an enum field, so no SQL runs
    (SQLite would rebuild the table and drop its composite indexes and unique constraints)."""

    async def database_forward(self, app_label, old_state, new_state, state_editor=None) -> None:
        return None

    async def database_backward(self, app_label, old_state, new_state, state_editor=None) -> None:
        return None


class Migration(migrations.Migration):
    dependencies = [('models', '0008_signin_membership_invitations_stripe_order')]

    initial = False

    operations = [
        AlterFieldState(
            model_name='AuditEvent',
            name='via',
            field=fields.CharEnumField(description='ANONYMOUS: ANONYMOUS\nSESSION: SESSION\nJWT: JWT\nAPI_KEY: API_KEY\nWEBHOOK: WEBHOOK\nCLI: CLI', enum_type=Via, max_length=20),
        ),
        AlterFieldState(
            model_name='Commission',
            name='status',
            field=fields.CharEnumField(description='PENDING: PENDING\nAPPROVED: APPROVED\nPAID: PAID\nREVERSED: REVERSED', enum_type=CommissionStatus, max_length=10),
        ),
        AlterFieldState(
            model_name='Commission',
            name='type',
            field=fields.CharEnumField(description='SELF: SELF\nAFFILIATE: AFFILIATE\nPARTNER: PARTNER\nCODE: CODE', enum_type=CommissionType, max_length=10),
        ),
        AlterFieldState(
            model_name='CommissionRule',
            name='kind',
            field=fields.CharEnumField(description='PERCENT: PERCENT\nFLAT: FLAT', enum_type=CommissionRuleKind, max_length=10),
        ),
        AlterFieldState(
            model_name='CommissionRule',
            name='program',
            field=fields.CharEnumField(description='AFFILIATE: AFFILIATE\nEXPERT: EXPERT\nRESELLER: RESELLER\nSERVICE_PARTNER: SERVICE_PARTNER', enum_type=Program, max_length=20),
        ),
        AlterFieldState(
            model_name='CommissionRule',
            name='recurrence',
            field=fields.CharEnumField(description='ONE_TIME: ONE_TIME\nMONTHS: MONTHS\nLIFETIME: LIFETIME', enum_type=Recurrence, max_length=10),
        ),
        AlterFieldState(
            model_name='CustomerRelationship',
            name='license_status',
            field=fields.CharEnumField(null=True, description='TRIAL: TRIAL\nACTIVE: ACTIVE\nPAST_DUE: PAST_DUE\nCANCELED: CANCELED\nEXPIRED: EXPIRED', enum_type=LicenseStatus, max_length=10),
        ),
        AlterFieldState(
            model_name='CustomerRelationship',
            name='source',
            field=fields.CharEnumField(description='INVITATION: INVITATION\nSELECTED: SELECTED', enum_type=RelationshipSource, max_length=12),
        ),
        AlterFieldState(
            model_name='Invitation',
            name='status',
            field=fields.CharEnumField(description='OPEN: OPEN\nACCEPTED: ACCEPTED\nEXPIRED: EXPIRED\nREVOKED: REVOKED', enum_type=InvitationStatus, max_length=10),
        ),
        AlterFieldState(
            model_name='License',
            name='status',
            field=fields.CharEnumField(description='TRIAL: TRIAL\nACTIVE: ACTIVE\nPAST_DUE: PAST_DUE\nCANCELED: CANCELED\nEXPIRED: EXPIRED', enum_type=LicenseStatus, max_length=10),
        ),
        AlterFieldState(
            model_name='Membership',
            name='role',
            field=fields.CharEnumField(description='ADMINISTRATOR: ADMINISTRATOR\nMEMBER: MEMBER', enum_type=Role, max_length=20),
        ),
        AlterFieldState(
            model_name='MembershipInvitation',
            name='role',
            field=fields.CharEnumField(description='ADMINISTRATOR: ADMINISTRATOR\nMEMBER: MEMBER', enum_type=Role, max_length=20),
        ),
        AlterFieldState(
            model_name='MembershipInvitation',
            name='status',
            field=fields.CharEnumField(description='OPEN: OPEN\nACCEPTED: ACCEPTED\nDECLINED: DECLINED\nEXPIRED: EXPIRED\nREVOKED: REVOKED', enum_type=MembershipInvitationStatus, max_length=10),
        ),
        AlterFieldState(
            model_name='OutboxMessage',
            name='kind',
            field=fields.CharEnumField(default=OutboxKind.EMAIL, description='EMAIL: email\nWEBHOOK: webhook', enum_type=OutboxKind, max_length=20),
        ),
        AlterFieldState(
            model_name='OutboxMessage',
            name='status',
            field=fields.CharEnumField(default=OutboxStatus.PENDING, description='PENDING: PENDING\nSENDING: SENDING\nSENT: SENT\nFAILED: FAILED', enum_type=OutboxStatus, max_length=10),
        ),
        AlterFieldState(
            model_name='PartnerApplication',
            name='status',
            field=fields.CharEnumField(description='PENDING: PENDING\nAPPROVED: APPROVED\nREJECTED: REJECTED', enum_type=ApplicationStatus, max_length=10),
        ),
        AlterFieldState(
            model_name='Payout',
            name='method',
            field=fields.CharEnumField(description='PAYPAL: PAYPAL\nBANK_TRANSFER: BANK_TRANSFER', enum_type=PayoutMethod, max_length=15),
        ),
        AlterFieldState(
            model_name='Payout',
            name='status',
            field=fields.CharEnumField(description='REQUESTED: REQUESTED\nAPPROVED: APPROVED\nPAID: PAID\nREJECTED: REJECTED', enum_type=PayoutStatus, max_length=10),
        ),
        AlterFieldState(
            model_name='PayoutSettings',
            name='method',
            field=fields.CharEnumField(description='PAYPAL: PAYPAL\nBANK_TRANSFER: BANK_TRANSFER', enum_type=PayoutMethod, max_length=15),
        ),
        AlterFieldState(
            model_name='ProgramEnrollment',
            name='program',
            field=fields.CharEnumField(description='AFFILIATE: AFFILIATE\nEXPERT: EXPERT\nRESELLER: RESELLER\nSERVICE_PARTNER: SERVICE_PARTNER', enum_type=Program, max_length=20),
        ),
        AlterFieldState(
            model_name='Referral',
            name='type',
            field=fields.CharEnumField(description='SELF: SELF\nAFFILIATE: AFFILIATE\nPARTNER: PARTNER\nCODE: CODE', enum_type=CommissionType, max_length=10),
        ),
        AlterFieldState(
            model_name='WebhookEvent',
            name='type',
            field=fields.CharEnumField(description='PARTNER_APPROVED: partner.approved\nCUSTOMER_LINKED: customer.linked\nCUSTOMER_UNLINKED: customer.unlinked\nGRANT_CHANGED: grant.changed\nCOMMISSION_CREATED: commission.created\nCOMMISSION_APPROVED: commission.approved\nCOMMISSION_REVERSED: commission.reversed\nPAYOUT_REQUESTED: payout.requested\nPAYOUT_APPROVED: payout.approved\nPAYOUT_PAID: payout.paid\nPAYOUT_REJECTED: payout.rejected\nTIER_CHANGED: tier.changed', enum_type=WebhookEventType, max_length=40),
        ),
    ]
