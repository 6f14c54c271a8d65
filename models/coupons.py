"""Reseller coupons: discount levels set by operators, coupon orders, their coupons and invoices."""

from tortoise import fields
from tortoise.models import Model


class ResellerDiscount(Model):
    """The discount off list price a partner in the RESELLER program buys at, set by operators.

    `discount_bp` is in hundredths of a percent, from 1000 to 6000 (10.00 to 60.00 percent).
    A reseller without a row buys at the lowest level (10.00 percent).
    """

    id = fields.IntField(primary_key=True)
    partner = fields.OneToOneField("models.Organization", related_name="reseller_discount", on_delete=fields.CASCADE)
    discount_bp = fields.IntField()
    updated_at = fields.DatetimeField()

    class Meta:
        table = "reseller_discounts"


class CouponOrder(Model):
    """An order of coupons for one plan and a number of months, invoiced at once.

    Amounts are integer minor units of `currency`: `list_unit_amount` is the monthly list
    price, `wholesale_unit_amount` the monthly wholesale price (list price less the discount,
    rounded once half to even), `total_amount` is wholesale times count times months.
    """

    id = fields.IntField(primary_key=True)
    partner = fields.ForeignKeyField("models.Organization", related_name=False, on_delete=fields.CASCADE)
    plan = fields.ForeignKeyField("models.Plan", related_name=False, on_delete=fields.RESTRICT)
    count = fields.IntField()
    months = fields.IntField()
    currency = fields.CharField(max_length=3)
    list_unit_amount = fields.BigIntField()
    discount_bp = fields.IntField()
    wholesale_unit_amount = fields.BigIntField()
    total_amount = fields.BigIntField()
    created_by = fields.ForeignKeyField("models.User", related_name=False, null=True, on_delete=fields.SET_NULL)
    created_at = fields.DatetimeField()

    class Meta:
        table = "coupon_orders"
        indexes = (("partner_id", "created_at"),)


class Coupon(Model):
    """One coupon of an order: an unguessable code, redeemed once by a customer organization.

    Unused while `redeemed_at` is null and `expires_at` lies ahead, expired after it.
    `paid_until` is the end of the months the redemption bought for the organization.
    """

    id = fields.BigIntField(primary_key=True)
    order = fields.ForeignKeyField("models.CouponOrder", related_name="coupons", on_delete=fields.CASCADE)
    code = fields.CharField(max_length=32, unique=True)
    expires_at = fields.DatetimeField(null=True)
    redeemed_at = fields.DatetimeField(null=True)
    organization = fields.ForeignKeyField(
        "models.Organization", related_name=False, null=True, on_delete=fields.SET_NULL
    )
    redeemed_by = fields.ForeignKeyField("models.User", related_name=False, null=True, on_delete=fields.SET_NULL)
    paid_until = fields.DatetimeField(null=True)

    class Meta:
        table = "coupons"
        indexes = (("order_id", "id"), ("organization_id", "paid_until"))


class Invoice(Model):
    """The invoice of a coupon order, issued with it: `amount` in minor units of `currency`."""

    id = fields.IntField(primary_key=True)
    order = fields.OneToOneField("models.CouponOrder", related_name="invoice", on_delete=fields.CASCADE)
    number = fields.CharField(max_length=40, unique=True)
    amount = fields.BigIntField()
    currency = fields.CharField(max_length=3)
    issued_at = fields.DatetimeField()

    class Meta:
        table = "coupon_invoices"
