"""What the vendor sells, and the exchange rates operators maintain."""

from tortoise import fields
from tortoise.models import Model


class Product(Model):
    id = fields.IntField(primary_key=True)
    code = fields.CharField(max_length=40, unique=True)
    name = fields.CharField(max_length=200)
    created_at = fields.DatetimeField()

    class Meta:
        table = "products"


class Plan(Model):
    """A plan of a product, with a monthly price per currency in `prices` (currency to minor units)."""

    id = fields.IntField(primary_key=True)
    product = fields.ForeignKeyField("models.Product", related_name="plans", on_delete=fields.CASCADE)
    code = fields.CharField(max_length=40, unique=True)
    name = fields.CharField(max_length=200)
    prices = fields.JSONField(default=dict)
    created_at = fields.DatetimeField()

    class Meta:
        table = "plans"


class ExchangeRate(Model):
    """One unit of the base currency (settings) is worth `rate` units of `currency` from `valid_from` on."""

    id = fields.IntField(primary_key=True)
    currency = fields.CharField(max_length=3)
    rate = fields.CharField(max_length=40)
    valid_from = fields.DateField()
    created_at = fields.DatetimeField()

    class Meta:
        table = "exchange_rates"
        unique_together = (("currency", "valid_from"),)
