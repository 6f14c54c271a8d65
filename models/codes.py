"""Expert discount codes and their redemptions by customer organizations."""

from tortoise import fields
from tortoise.models import Model


class DiscountCode(Model):
    """The personal discount code of a partner in the EXPERT program, one per partner.

    `code` is stored upper case (10 characters without look-alikes), `percent_bp` is the
    discount in hundredths of a percent (1000 = 10.00 percent), `plan_ids` lists the plans
    it applies to (empty means every plan).
    """

    id = fields.IntField(primary_key=True)
    partner = fields.OneToOneField("models.Organization", related_name="discount_code", on_delete=fields.CASCADE)
    code = fields.CharField(max_length=32, unique=True)
    percent_bp = fields.IntField()
    plan_ids = fields.JSONField(default=list)
    active = fields.BooleanField(default=True)
    created_at = fields.DatetimeField()

    class Meta:
        table = "discount_codes"


class DiscountRedemption(Model):
    """A customer organization that used a discount code at checkout, once per customer.

    `attributed` tells whether the redemption made the partner the referrer of the customer
    (the first referral of a customer wins).
    """

    id = fields.IntField(primary_key=True)
    code = fields.ForeignKeyField("models.DiscountCode", related_name="redemptions", on_delete=fields.CASCADE)
    partner = fields.ForeignKeyField("models.Organization", related_name=False, on_delete=fields.CASCADE)
    customer = fields.OneToOneField("models.Organization", related_name="discount_redemption", on_delete=fields.CASCADE)
    percent_bp = fields.IntField()
    external_id = fields.CharField(max_length=200, null=True)
    attributed = fields.BooleanField(default=False)
    created_at = fields.DatetimeField()

    class Meta:
        table = "discount_redemptions"
        indexes = (("code_id", "customer_id"), ("partner_id", "created_at"))
