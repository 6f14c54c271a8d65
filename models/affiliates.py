"""Affiliate links, their clicks and the signups they brought (the figures of the affiliate report)."""

from tortoise import fields
from tortoise.models import Model


class AffiliateLink(Model):
    """A partner link: a short public code landing on a path of an allowed vendor host."""

    id = fields.IntField(primary_key=True)
    partner = fields.ForeignKeyField("models.Organization", related_name="affiliate_links", on_delete=fields.CASCADE)
    code = fields.CharField(max_length=40, unique=True)
    campaign = fields.CharField(max_length=100, null=True)
    landing_url = fields.CharField(max_length=1000)
    active = fields.BooleanField(default=True)
    created_at = fields.DatetimeField()

    class Meta:
        table = "affiliate_links"
        indexes = (("partner_id", "id"),)


class AffiliateClick(Model):
    """One visit of a link. The address is kept only as an HMAC with the secret key, never in clear."""

    id = fields.BigIntField(primary_key=True)
    link = fields.ForeignKeyField("models.AffiliateLink", related_name="clicks", on_delete=fields.CASCADE)
    clicked_at = fields.DatetimeField()
    day = fields.DateField()
    ip_hash = fields.CharField(max_length=64)
    user_agent = fields.CharField(max_length=500, null=True)
    referrer = fields.CharField(max_length=1000, null=True)

    class Meta:
        table = "affiliate_clicks"
        indexes = (("link_id", "day"),)


class AffiliateSignup(Model):
    """The link behind an AFFILIATE referral: one row per customer, written with the referral."""

    id = fields.IntField(primary_key=True)
    customer = fields.OneToOneField("models.Organization", related_name="affiliate_signup", on_delete=fields.CASCADE)
    partner = fields.ForeignKeyField("models.Organization", related_name=False, on_delete=fields.CASCADE)
    link = fields.ForeignKeyField("models.AffiliateLink", related_name="signups", on_delete=fields.CASCADE)
    click = fields.ForeignKeyField("models.AffiliateClick", related_name=False, null=True, on_delete=fields.SET_NULL)
    day = fields.DateField()
    created_at = fields.DatetimeField()

    class Meta:
        table = "affiliate_signups"
        indexes = (("partner_id", "day"), ("link_id", "day"), ("partner_id", "customer_id"))
