"""GraphQL for affiliate links: the partner's links, their report, and attributing signups."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any

import strawberry
from strawberry.relay import GlobalID

from partner_portal.permissions.requirements import AFFILIATE_PORTAL, BILLING_WRITER, PARTNER_PORTAL
from partner_portal.resolvers import affiliates
from partner_portal.resolvers.affiliates import (
    MAX_LINKS_PER_PARTNER,
    MAX_REPORT_DAYS,
    NotAttributed,
    SignupAttribution,
    TokenSource,
)
from partner_portal.schema.common import (
    After,
    Connection,
    First,
    Info,
    Node,
    NodeID,
    Payload,
    connection,
    decode_id,
    describe_enum,
    global_id,
    node_type,
    run_mutation,
)
from partner_portal.schema.guards.cost import bounded_list
from partner_portal.schema.money import Money
from partner_portal.schema.partners import PartnerId, partner_id_of
from partner_portal.schema.requires import Requires
from partner_portal.schema.rows import RowType, row_type


@row_type(affiliates.LINK_FIELDS)
@strawberry.type(description="A partner's affiliate link: `PUBLIC_URL/r/{code}` records a click and redirects.")
class AffiliateLink(Node, RowType):
    id: NodeID[int]
    code: str = strawberry.field(description="The short public code (lower case), the end of `/r/{code}`.")
    campaign: str | None = strawberry.field(description="The partner's name for the campaign, if any.")
    landing_url: str = strawberry.field(description="Where a click lands, on one of the vendor's allowed hosts.")
    active: bool = strawberry.field(description="Disabled links redirect to the default landing page, unattributed.")
    created_at: datetime = strawberry.field(description="When the link was created.")

    @strawberry.field(description="The address to share: `PUBLIC_URL/r/{code}`.")
    def url(self, info: Info) -> str:
        return affiliates.link_url(info.context.settings, self.code)


@node_type("AffiliateLink")
async def _fetch_link(context: Any, pk: int) -> AffiliateLink | None:
    row = await affiliates.get_link(context.actor, pk)
    return AffiliateLink.from_row(row) if row else None


describe_enum(
    NotAttributed,
    "Why an organization's signup created no affiliate referral.",
    {
        "INVALID_TOKEN": "The token was not signed by this server: malformed, cut short or changed.",
        "EXPIRED": "The click is older than the attribution window (`AFFILIATE_WINDOW_DAYS`).",
        "LINK_INACTIVE": "The link was disabled after the click.",
        "SELF_REFERRAL": "The organization's creator is a member of the link's partner.",
    },
)
describe_enum(
    TokenSource,
    "Where the server found the affiliate token of a signup.",
    {
        "INPUT": "The mutation's `affiliateToken`.",
        "COOKIE": "The `pp_affiliate` cookie the request carried (a frontend on the API's origin).",
    },
)


@strawberry.type(description="What the affiliate token of a new organization did: an AFFILIATE referral, or why not.")
class Attribution:
    attributed: bool = strawberry.field(
        description="True: the organization is referred by the link's partner (AFFILIATE commission)."
    )
    source: TokenSource = strawberry.field(description="Where the token came from.")
    reason: NotAttributed | None = strawberry.field(description="Why it was not attributed; null when it was.")

    @classmethod
    def of(cls, outcome: SignupAttribution | None) -> Attribution | None:
        if outcome is None:
            return None
        return cls(attributed=outcome.reason is None, source=outcome.source, reason=outcome.reason)


@strawberry.type(description="Affiliate figures: clicks, signups, paying customers, commission earned.")
class AffiliateFigures:
    clicks: int = strawberry.field(description="Recorded clicks of the link(s).")
    signups: int = strawberry.field(description="Organizations referred through the link(s).")
    paying_customers: int = strawberry.field(description="Of those, the ones with at least one payment.")
    commission: Money = strawberry.field(
        description="AFFILIATE commission earned from them (reversed lines excluded), in the payout currency."
    )

    @classmethod
    def of(cls, figures: affiliates.Figures, currency: str) -> AffiliateFigures:
        return cls(
            clicks=figures.clicks,
            signups=figures.signups,
            paying_customers=figures.paying_customers,
            commission=Money.of(figures.commission, currency),
        )


@strawberry.type(description="One link and its figures (all time).")
class AffiliateLinkFigures:
    link: AffiliateLink = strawberry.field(description="The link.")
    figures: AffiliateFigures = strawberry.field(description="Its figures.")


@strawberry.type(description="The figures of one UTC day.")
class AffiliateDay:
    day: date = strawberry.field(description="The day (UTC).")
    figures: AffiliateFigures = strawberry.field(
        description="Clicks and signups of that day, the day's signups that have paid since, commission lines "
        "written that day."
    )


@strawberry.type(description="A partner's affiliate report.")
class AffiliateReport:
    links: list[AffiliateLinkFigures] = bounded_list(
        MAX_LINKS_PER_PARTNER, "Every link, newest first, all time.", computed=True
    )
    total: AffiliateFigures = strawberry.field(description="All links together, all time.")
    by_day: list[AffiliateDay] = bounded_list(MAX_REPORT_DAYS, "Every day of the range, oldest first.", computed=True)


@strawberry.input(description="A new affiliate link.")
class CreateAffiliateLinkInput:
    partner_id: GlobalID | None = strawberry.field(
        default=None, description="The partner organization; default: the viewer's first organization."
    )
    code: str | None = strawberry.field(
        default=None, description="3 to 40 letters, digits, '-' or '_' (stored in lower case); default: random."
    )
    campaign: str | None = strawberry.field(default=None, description="A campaign name, at most 100 characters.")
    landing_url: str | None = strawberry.field(
        default=None,
        description="A path (`/pricing`) or an address on an allowed host: https, or the scheme and port of "
        "PUBLIC_URL on its host; default `/`.",
    )


@strawberry.input(description="Change a link; omitted fields stay as they are.")
class UpdateAffiliateLinkInput:
    link_id: GlobalID = strawberry.field(description="The link.")
    campaign: str | None = strawberry.field(default=strawberry.UNSET, description="A new campaign (null clears).")
    landing_url: str | None = strawberry.field(default=strawberry.UNSET, description="A new landing path or address.")
    active: bool | None = strawberry.field(default=None, description="false disables the link, true enables it.")


@strawberry.type(description="The created or changed link. Errors: INVALID_VALUE, LINK_CODE_TAKEN, ...")
class AffiliateLinkPayload(Payload):
    link: AffiliateLink | None = strawberry.field(default=None, description="The link.")


@strawberry.input(
    description="Attribute an organization to an affiliate link (API key with billing:write). "
    "Give the click's token or a link code."
)
class AttributeSignupInput:
    organization_id: GlobalID = strawberry.field(description="The newly registered customer organization.")
    affiliate_token: str | None = strawberry.field(
        default=None,
        description="The token of the click (the `pp_affiliate` query parameter of the landing address, "
        "or the cookie's value); it must be within the attribution window.",
    )
    code: str | None = strawberry.field(default=None, description="A link code, when there is no token.")


@strawberry.type(
    description="The referral created, if any. Errors: INVALID_TOKEN, ATTRIBUTION_EXPIRED, "
    "SELF_REFERRAL, ALREADY_REFERRED, ..."
)
class AttributeSignupPayload(Payload):
    attributed: bool = strawberry.field(default=False, description="An AFFILIATE referral was created.")
    partner_id: GlobalID | None = strawberry.field(default=None, description="The referring partner organization.")
    link_code: str | None = strawberry.field(default=None, description="The link's code.")


@strawberry.type
class AffiliatesQuery:
    @strawberry.field(
        description="The partner's affiliate links, newest first.", extensions=[Requires(PARTNER_PORTAL, "partner_id")]
    )
    async def affiliate_links(
        self, info: Info, partner_id: PartnerId = None, first: First = None, after: After = None
    ) -> Connection[AffiliateLink]:
        page = await affiliates.list_links(
            info.context.actor, partner_id=partner_id_of(partner_id), first=first, after=after
        )
        return connection(page, AffiliateLink.from_row)

    @strawberry.field(
        description="Clicks, signups, paying customers and commission per link, in total and by day. "
        "A fixed number of grouped SQL queries.",
        extensions=[Requires(PARTNER_PORTAL, "partner_id")],
    )
    async def affiliate_report(
        self,
        info: Info,
        from_: Annotated[date, strawberry.argument(name="from", description="First day of the series (UTC).")],
        until: Annotated[date, strawberry.argument(description="Last day of the series, at most 366 days in.")],
        partner_id: PartnerId = None,
    ) -> AffiliateReport:
        result = await affiliates.report(
            info.context.actor, partner_id=partner_id_of(partner_id), start=from_, end=until
        )
        currency = result.currency
        return AffiliateReport(
            links=[
                AffiliateLinkFigures(link=AffiliateLink.from_row(row), figures=AffiliateFigures.of(f, currency))
                for row, f in result.links
            ],
            total=AffiliateFigures.of(result.total, currency),
            by_day=[AffiliateDay(day=day, figures=AffiliateFigures.of(f, currency)) for day, f in result.by_day],
        )


@strawberry.type
class AffiliatesMutation:
    @strawberry.mutation(
        description="Create an affiliate link.", extensions=[Requires(AFFILIATE_PORTAL, "input.partner_id")]
    )
    async def create_affiliate_link(self, info: Info, input: CreateAffiliateLinkInput) -> AffiliateLinkPayload:
        ctx = info.context
        change = affiliates.create_link(
            ctx.actor,
            ctx.settings,
            partner_id=partner_id_of(input.partner_id),
            code=input.code,
            campaign=input.campaign,
            landing_url=input.landing_url,
        )
        return await run_mutation(AffiliateLinkPayload, change, link=AffiliateLink.from_row)

    @strawberry.mutation(
        description="Change or disable an affiliate link.",
        extensions=[Requires(PARTNER_PORTAL, checked_on="the link's partner")],
    )
    async def update_affiliate_link(self, info: Info, input: UpdateAffiliateLinkInput) -> AffiliateLinkPayload:
        ctx = info.context
        change = affiliates.update_link(
            ctx.actor,
            ctx.settings,
            decode_id(input.link_id, "AffiliateLink"),
            campaign=input.campaign,
            landing_url=input.landing_url,
            active=input.active,
            unset=strawberry.UNSET,
        )
        return await run_mutation(AffiliateLinkPayload, change, link=AffiliateLink.from_row)

    @strawberry.mutation(
        description="Attribute a signup to an affiliate link. First referral wins; self-referrals are refused.",
        extensions=[Requires(BILLING_WRITER)],
    )
    async def attribute_signup(self, info: Info, input: AttributeSignupInput) -> AttributeSignupPayload:
        ctx = info.context
        change = affiliates.attribute_signup(
            ctx.actor,
            ctx.settings,
            organization_id=decode_id(input.organization_id, "Organization"),
            token=input.affiliate_token,
            code=input.code,
        )
        return await run_mutation(
            AttributeSignupPayload,
            change,
            lambda result: {
                "attributed": True,
                "partner_id": global_id("Organization", result["partner_id"]),
                "link_code": result["link_code"],
            },
        )
