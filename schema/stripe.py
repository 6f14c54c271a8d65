"""GraphQL for the Stripe integration: which organization a Stripe customer is."""

from __future__ import annotations

from typing import Any

import strawberry
from strawberry.relay import GlobalID

from partner_portal.resolvers import stripe
from partner_portal.schema.common import Info, UserError, decode_id, global_id, run_mutation


@strawberry.type(description="A Stripe customer linked to an organization: its Stripe events count for it.")
class StripeCustomerLink:
    stripe_customer_id: str = strawberry.field(description="The Stripe customer id (cus_…).")
    organization_id: GlobalID = strawberry.field(description="The global id of the organization it belongs to.")


@strawberry.input(description="Link a Stripe customer to an organization (operators with MANAGE_PROGRAMS). Used "
                              "when the customer's Stripe metadata has no `organization_id`; linking again moves it.")
class LinkStripeCustomerInput:
    stripe_customer_id: str = strawberry.field(description="The Stripe customer id (cus_…).")
    organization_id: GlobalID = strawberry.field(description="The organization the customer is.")


@strawberry.type(description="The link between the Stripe customer and the organization.")
class LinkStripeCustomerPayload:
    link: StripeCustomerLink | None = strawberry.field(default=None, description="The link as it is now.")
    errors: list[UserError] = strawberry.field(description="What was wrong with the input.")


def _link(row: dict[str, Any]) -> dict[str, Any]:
    return {"link": StripeCustomerLink(stripe_customer_id=row["stripe_customer_id"],
                                       organization_id=global_id("Organization", row["organization_id"]))}


@strawberry.type
class StripeMutation:
    @strawberry.mutation(description="Say which organization a Stripe customer is, for Stripe events whose metadata "
                                     "does not (operators with MANAGE_PROGRAMS).")
    async def link_stripe_customer(self, info: Info, input: LinkStripeCustomerInput) -> LinkStripeCustomerPayload:
        change = stripe.link_customer(info.context.actor, stripe_customer_id=input.stripe_customer_id,
                                      organization_id=decode_id(input.organization_id, "Organization"))
        return await run_mutation(LinkStripeCustomerPayload, change, _link)
