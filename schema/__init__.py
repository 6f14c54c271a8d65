"""Assembles the GraphQL schema: root types from each domain, `node`/`nodes`, hardening."""

from __future__ import annotations

from functools import lru_cache, partial
from typing import Annotated

import strawberry
from graphql import GraphQLError
from graphql.validation import NoSchemaIntrospectionCustomRule
from strawberry.extensions import MaxAliasesLimiter, QueryDepthLimiter
from strawberry.tools import merge_types

from partner_portal.resolvers.errors import BadArgument
from partner_portal.schema.affiliates import AffiliatesMutation, AffiliatesQuery
from partner_portal.schema.audit import AuditQuery
from partner_portal.schema.billing import BillingMutation, LicenseMutation, StripeCustomerMutation
from partner_portal.schema.catalog import CatalogMutation, CatalogQuery
from partner_portal.schema.codes import CodesMutation, CodesQuery
from partner_portal.schema.commissions import CommissionsMutation, CommissionsQuery
from partner_portal.schema.common import Info, Node, fetch_node
from partner_portal.schema.coupons import CouponsMutation, CouponsQuery
from partner_portal.schema.customers import CustomersMutation, CustomersQuery
from partner_portal.schema.dashboard import DashboardQuery
from partner_portal.schema.email_verification import EmailVerificationMutation
from partner_portal.schema.errors import ErrorPresenter
from partner_portal.schema.execution_plans import PlanningExecutionContext
from partner_portal.schema.guards.limits import (
    LimitedParserCache,
    LimitedValidationCache,
    OnePasswordFieldPerOperation,
    hide_suggestions,
)
from partner_portal.schema.guards.operation import OperationGuards
from partner_portal.schema.identity import IdentityMutation, IdentityQuery
from partner_portal.schema.invitations import InvitationsMutation, InvitationsQuery
from partner_portal.schema.my_data import MyDataMutation, MyDataQuery
from partner_portal.schema.organizations import OrganizationsMutation, OrganizationsQuery
from partner_portal.schema.outbox import OutboxQuery
from partner_portal.schema.partners import PartnersMutation, PartnersQuery
from partner_portal.schema.passwords import PasswordsMutation
from partner_portal.schema.payouts import PayoutsMutation, PayoutsQuery
from partner_portal.schema.profile import ProfileMutation
from partner_portal.schema.reports import ReportsQuery
from partner_portal.schema.sessions import SessionsMutation, SessionsQuery
from partner_portal.schema.tiers import TiersMutation, TiersQuery
from partner_portal.schema.two_factor import TwoFactorMutation
from partner_portal.schema.webhooks import WebhooksMutation, WebhooksQuery
from partner_portal.settings import Settings

MAX_NODES = 100


@strawberry.type
class NodeQuery:
    @strawberry.field(
        description="Any object by its global id; null with a NOT_FOUND error when absent or not visible to you."
    )
    async def node(
        self, info: Info, id: Annotated[strawberry.ID, strawberry.argument(description="A global id.")]
    ) -> Node | None:
        return await fetch_node(info.context, id)

    @strawberry.field(
        description=(
            "Several objects by global id (at most 100), in the order asked: an id absent or not visible to "
            'you is null with a NOT_FOUND error at its index (`path: ["nodes", i]`), the others still come.'
        )
    )
    def nodes(
        self, info: Info, ids: Annotated[list[strawberry.ID], strawberry.argument(description="Global ids.")]
    ) -> list[Node | None]:
        if len(ids) > MAX_NODES:
            raise BadArgument(f"Ask for at most {MAX_NODES} ids at once.")
        # One awaitable per item: graphql-core completes each at its own path, so a refusal nulls only its item.
        return [fetch_node(info.context, i) for i in ids]  # type: ignore[misc]


Query = merge_types(
    "Query",
    (
        NodeQuery,
        IdentityQuery,
        SessionsQuery,
        MyDataQuery,
        OrganizationsQuery,
        PartnersQuery,
        DashboardQuery,
        CustomersQuery,
        InvitationsQuery,
        CatalogQuery,
        CommissionsQuery,
        PayoutsQuery,
        AuditQuery,
        OutboxQuery,
        CodesQuery,
        AffiliatesQuery,
        CouponsQuery,
        ReportsQuery,
        WebhooksQuery,
        TiersQuery,
    ),
)
Mutation = merge_types(
    "Mutation",
    (
        IdentityMutation,
        EmailVerificationMutation,
        ProfileMutation,
        SessionsMutation,
        MyDataMutation,
        PasswordsMutation,
        OrganizationsMutation,
        PartnersMutation,
        InvitationsMutation,
        CustomersMutation,
        LicenseMutation,
        CatalogMutation,
        CommissionsMutation,
        BillingMutation,
        PayoutsMutation,
        StripeCustomerMutation,
        CodesMutation,
        AffiliatesMutation,
        CouponsMutation,
        WebhooksMutation,
        TiersMutation,
        TwoFactorMutation,
    ),
)


def _describe_roots() -> None:
    """`merge_types` leaves the root types undescribed, and every mutation's one `input`
    argument means the same thing: describe them here, once (DESIGN: every type and field described)."""
    Query.__strawberry_definition__.description = "What can be read; each field shows what the viewer may see."
    Mutation.__strawberry_definition__.description = (
        "Every change: each takes one `input` and returns a payload with the changed object and `errors`."
    )
    for field in Mutation.__strawberry_definition__.fields:
        for argument in field.arguments:
            if argument.python_name == "input" and not argument.description:
                argument.description = "What to change; see the input type."


_describe_roots()


class PortalSchema(strawberry.Schema):
    hides_suggestions = False

    def process_errors(self, errors: list[GraphQLError], execution_context: object = None) -> None:
        """Silence strawberry's log of every error: `ErrorPresenter` logs the unexpected ones,
        and client errors (validation, NOT_FOUND, ...) are not the server's to log. Without
        introspection, "Did you mean …?" goes too (it would reveal the schema)."""
        if self.hides_suggestions:
            hide_suggestions(errors)


def build_schema(settings: Settings) -> strawberry.Schema:
    return _schema(
        settings.max_query_depth,
        settings.max_aliases,
        settings.max_tokens,
        settings.max_selections,
        settings.introspection_enabled,
    )


@lru_cache(maxsize=8)
def _schema(
    max_depth: int, max_aliases: int, max_tokens: int, max_selections: int, introspection: bool
) -> strawberry.Schema:
    """One schema per hardening configuration: building one takes a noticeable fraction of a second.

    The depth and alias rules are made once here: strawberry's limiters make new rule classes for
    every request, and the validation cache, keyed by the document and the rules, then never hit
    (every request was validated again, about a millisecond). Four extensions, each with one hook:
    strawberry makes them for every request (`schema/guards/operation.py`).
    """
    rules = (
        *QueryDepthLimiter(max_depth=max_depth).validation_rules,
        *MaxAliasesLimiter(max_alias_count=max_aliases).validation_rules,
        OnePasswordFieldPerOperation,
        *(() if introspection else (NoSchemaIntrospectionCustomRule,)),
    )
    extensions = [
        ErrorPresenter,
        partial(LimitedParserCache, max_tokens),
        partial(LimitedValidationCache, max_selections, rules),
        OperationGuards,
    ]
    schema = PortalSchema(
        query=Query, mutation=Mutation, extensions=extensions, execution_context_class=PlanningExecutionContext
    )
    schema.hides_suggestions = not introspection
    return schema
