"""What an operation requires, declared once as data (as Saleor's `Meta.permissions`).

A requirement is a frozen value with two faces: `enforce(actor, organization_id)` decides, raising
the `AccessError` the operation refuses with (UNAUTHENTICATED, NO_ORGANIZATION, NOT_FOUND,
FORBIDDEN), and returns what the operation acts through (a membership, a partner's profile, ...);
`describe()` is the text the API shows after "Requires:". The GraphQL schema declares one per root
field and enforces it before the resolver runs (`schema/requires.py`); the resolver calls the same
object and gets the answer already given: answers are kept for the request in `actor.derived`.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from partner_portal.models.enums import Program
from partner_portal.permissions import partners, policy, scoping, two_factor
from partner_portal.permissions.actor import Actor, MembershipInfo
from partner_portal.permissions.enums import (
    ApiKeyScope,
    OperatorPermission,
    OrganizationPermission,
    PartnerPermission,
)
from partner_portal.permissions.errors import Missing, Unauthenticated
from partner_portal.permissions.refusals import Refusal, needed_permission
from partner_portal.permissions.verified_email import require_verified_email
from partner_portal.settings import TwoFactorRequirement

_ANSWERS = "requirements"
_DECIDING = "requirements deciding"


class Requirement:
    """The base of every requirement: the per-request memory of answers."""

    __slots__ = ()

    async def enforce(self, actor: Actor, organization_id: int | None = None) -> Any:
        """The answer for this actor and organization, decided once per request (a refusal raises
        and is not kept). Sibling fields resolve concurrently: the second one waits for the first
        one's decision instead of sending its own queries. `actor.forget_memberships` forgets the
        answers with the memberships."""
        answers = actor.derived.setdefault(_ANSWERS, {})
        key = (self, organization_id)
        async with actor.derived.setdefault(_DECIDING, {}).setdefault(key, asyncio.Lock()):
            if key not in answers:
                answers[key] = await self.decide(actor, organization_id)
            return answers[key]

    async def admit(self, actor: Actor) -> None:
        """What is refused before the organization is known: where the organization is that of an
        object the resolver loads first, anonymous callers are UNAUTHENTICATED, not NOT_FOUND."""
        policy.require_user(actor)

    async def decide(self, actor: Actor, organization_id: int | None) -> Any:
        raise NotImplementedError

    def describe(self, where: str | None = None) -> str:
        """The text after "Requires:"; `where` names the organization when it is that of an object
        the resolver loads first ("the invitation's partner")."""
        raise NotImplementedError


def forget_answers(actor: Actor) -> None:
    """After a change (each root mutation): the next operation decides again."""
    actor.derived.pop(_ANSWERS, None)
    actor.derived.pop(_DECIDING, None)


@dataclass(frozen=True, slots=True)
class SignedIn(Requirement):
    """A signed-in user (session, identity-provider token); API keys are not users. Answers the user id."""

    async def decide(self, actor: Actor, organization_id: int | None) -> int:
        return policy.require_user(actor)

    def describe(self, where: str | None = None) -> str:
        return "a signed-in user"


@dataclass(frozen=True, slots=True)
class OperatorWith(Requirement):
    """An operator (the vendor's staff) holding `permission`."""

    permission: OperatorPermission

    async def decide(self, actor: Actor, organization_id: int | None) -> None:
        await policy.require_operator(actor, self.permission)

    def describe(self, where: str | None = None) -> str:
        return f"an operator with {self.permission.value}"


@dataclass(frozen=True, slots=True)
class ApiKeyWith(Requirement):
    """An integrator's API key holding `scope`."""

    scope: ApiKeyScope

    async def admit(self, actor: Actor) -> None:
        policy.require_scope(actor, self.scope)

    async def decide(self, actor: Actor, organization_id: int | None) -> None:
        policy.require_scope(actor, self.scope)

    def describe(self, where: str | None = None) -> str:
        return f"an API key with the scope {self.scope.value}"


@dataclass(frozen=True, slots=True)
class WebhookManager(Requirement):
    """API keys with webhooks:manage, operators with MANAGE_PROGRAMS (`policy.require_webhook_manager`)."""

    async def admit(self, actor: Actor) -> None:
        await policy.require_webhook_manager(actor)

    async def decide(self, actor: Actor, organization_id: int | None) -> None:
        await policy.require_webhook_manager(actor)

    def describe(self, where: str | None = None) -> str:
        return (
            f"an API key with the scope {ApiKeyScope.WEBHOOKS_MANAGE.value}, or an operator with "
            f"{OperatorPermission.MANAGE_PROGRAMS.value}"
        )


@dataclass(frozen=True, slots=True)
class Member(Requirement):
    """A membership in the organization (without one named: the actor's first), holding `permission`
    if given. Partner staff in a management session act through the customer's grant, unless
    `in_person` (then FORBIDDEN with `session_refusal`). Answers the `MembershipInfo`."""

    permission: str | None = None
    in_person: bool = False
    session_refusal: str | None = None

    async def decide(self, actor: Actor, organization_id: int | None) -> MembershipInfo:
        needs = needed_permission(self.permission) if self.permission is not None else None
        membership = await scoping.acting_membership(actor, organization_id, needs)
        if self.in_person and membership.management_session_id is not None:
            raise Refusal(
                Missing("OUTSIDE_MANAGEMENT_SESSION"), membership.organization_id, because=self.session_refusal
            )
        if self.permission is not None:
            policy.require_permission(membership, self.permission)
        return membership

    def describe(self, where: str | None = None) -> str:
        held = f"{self.permission} in" if self.permission else "a membership in"
        who = ", as its own member (not its service partner in a management session)" if self.in_person else ""
        return f"{held} {where or 'the organization'}{who}"


@dataclass(frozen=True, slots=True)
class Partner(Requirement):
    """`permission` in an approved partner organization (in `program`, if given), never through a
    management session; with `second_factor`, in a session that proved one where the vendor requires
    it (`two_factor`). Answers (membership, the partner's profile) (`partners.acting_partner`)."""

    permission: PartnerPermission
    program: Program | None = None
    second_factor: TwoFactorRequirement | None = None

    async def decide(self, actor: Actor, organization_id: int | None) -> tuple[MembershipInfo, dict[str, Any]]:
        answer = await partners.acting_partner(actor, organization_id, self.permission, self.program)
        if self.second_factor is not None:
            two_factor.require(actor, self.second_factor)
        return answer

    def describe(self, where: str | None = None) -> str:
        text = _partner_text(self.permission, self.program, where)
        if self.second_factor is not None:
            text += ", in a session signed in with a second factor where the vendor requires it (REQUIRE_TWO_FACTOR)"
        return text


@dataclass(frozen=True, slots=True)
class PartnerStaff(Requirement):
    """As `Partner`, for a resolver that reads the partner's profile along with its own figures: the
    answer is the membership, and the resolver calls `confirm` on what it read of the profile."""

    permission: PartnerPermission

    async def decide(self, actor: Actor, organization_id: int | None) -> MembershipInfo:
        return await partners.partner_side_membership(actor, organization_id, self.permission)

    @staticmethod
    def confirm(profile_field: object, organization_id: int) -> None:
        partners.require_partner(profile_field, organization_id)

    def describe(self, where: str | None = None) -> str:
        return _partner_text(self.permission, None, where)


@dataclass(frozen=True, slots=True)
class PartnerOrOperator(Requirement):
    """A partner's figures: its MANAGE_PARTNER_PORTAL holders read their own, operators with
    `operator` name any partner. Answers the partner's profile (`partners.readable_partner`)."""

    operator: OperatorPermission

    async def decide(self, actor: Actor, organization_id: int | None) -> dict[str, Any]:
        return await partners.readable_partner(actor, organization_id, self.operator)

    def describe(self, where: str | None = None) -> str:
        return (
            f"{_partner_text(PartnerPermission.MANAGE_PARTNER_PORTAL, None)}, or an operator with "
            f"{self.operator.value} (naming any partner)"
        )


@dataclass(frozen=True, slots=True)
class PartnerListOrOperator(Requirement):
    """A list across partners: MANAGE_PARTNER_PORTAL holders read their partner's, operators with
    `operator` every partner's or the one they name. Answers the partner id, None for every partner."""

    operator: OperatorPermission

    async def decide(self, actor: Actor, organization_id: int | None) -> int | None:
        return await partners.listed_partner(actor, organization_id, self.operator)

    def describe(self, where: str | None = None) -> str:
        return (
            f"{_partner_text(PartnerPermission.MANAGE_PARTNER_PORTAL, None)}, or an operator with "
            f"{self.operator.value} (every partner, or the one named)"
        )


@dataclass(frozen=True, slots=True)
class ProgramPartnerOrOperator(Requirement):
    """A program partner's own figures (MANAGE_PARTNER_PORTAL, in `program`), or any partner in the
    program for operators with `operator`. Answers the partner id (`partners.readable_program_partner`)."""

    operator: OperatorPermission
    program: Program

    async def decide(self, actor: Actor, organization_id: int | None) -> int:
        return await partners.readable_program_partner(actor, organization_id, self.operator, self.program)

    def describe(self, where: str | None = None) -> str:
        return (
            f"{_partner_text(PartnerPermission.MANAGE_PARTNER_PORTAL, self.program)}, or an operator with "
            f"{self.operator.value} (naming any partner in the program)"
        )


@dataclass(frozen=True, slots=True)
class ReportReader(Requirement):
    """Reports: readers of every partner's (`policy.reads_all_reports`) may name a partner;
    MANAGE_PARTNER_PORTAL holders read their own. Answers (partner id or None, reads every partner)."""

    async def admit(self, actor: Actor) -> None:
        await policy.reads_all_reports(actor)

    async def decide(self, actor: Actor, organization_id: int | None) -> tuple[int | None, bool]:
        return await partners.report_partner(actor, organization_id)

    def describe(self, where: str | None = None) -> str:
        return (
            f"an API key with the scope {ApiKeyScope.REPORTS_READ.value}, an operator with "
            f"{OperatorPermission.VIEW_ALL_REPORTS.value} (naming any partner), or "
            f"{_partner_text(PartnerPermission.MANAGE_PARTNER_PORTAL, None)}"
        )


@dataclass(frozen=True, slots=True)
class EveryPartnersReports(Requirement):
    """Comparing partners (`what`: the leaderboard, ...) is for those who read every partner's reports."""

    what: str

    async def admit(self, actor: Actor) -> None:
        await self.decide(actor, None)

    async def decide(self, actor: Actor, organization_id: int | None) -> None:
        policy.require_all_reports(await policy.reads_all_reports(actor), self.what)

    def describe(self, where: str | None = None) -> str:
        return (
            f"an API key with the scope {ApiKeyScope.REPORTS_READ.value}, or an operator with "
            f"{OperatorPermission.VIEW_ALL_REPORTS.value}"
        )


@dataclass(frozen=True, slots=True)
class AuditReader(Requirement):
    """The audit log: API keys with reports:read and operators with VIEW_ALL_REPORTS read every event,
    signed-in users their administered organizations' (`scoping.visible_audit_events`); naming an
    organization takes its ADMINISTRATOR role, unless the actor reads every event."""

    async def admit(self, actor: Actor) -> None:
        if not actor.is_authenticated:
            raise Unauthenticated(actor.rejected_credentials)
        if actor.api_key_id is not None:
            policy.require_scope(actor, ApiKeyScope.REPORTS_READ)

    async def decide(self, actor: Actor, organization_id: int | None) -> None:
        await self.admit(actor)
        if (
            organization_id is not None
            and actor.user_id is not None
            and not await policy.is_operator_with(actor, OperatorPermission.VIEW_ALL_REPORTS)
        ):
            # A member learns it may not read the log; an outsider learns nothing.
            membership = await scoping.acting_membership(actor, organization_id, Missing("ADMINISTRATOR"))
            policy.require_administrator(membership)

    def describe(self, where: str | None = None) -> str:
        return (
            f"an API key with the scope {ApiKeyScope.REPORTS_READ.value}, an operator with "
            f"{OperatorPermission.VIEW_ALL_REPORTS.value}, or a signed-in user (administrators read their "
            "organizations' events; naming an organization takes its ADMINISTRATOR role)"
        )


@dataclass(frozen=True, slots=True)
class WithVerifiedEmail(Requirement):
    """`inner`, by a user whose email address is verified (`permissions/verified_email.py`); `action`
    names what waits for it in the refusal. Answers what `inner` answers."""

    inner: Requirement
    action: str

    async def admit(self, actor: Actor) -> None:
        await self.inner.admit(actor)

    async def decide(self, actor: Actor, organization_id: int | None) -> Any:
        answer = await self.inner.enforce(actor, organization_id)
        await require_verified_email(actor, self.action)
        return answer

    def describe(self, where: str | None = None) -> str:
        return f"{self.inner.describe(where)}, with a verified email address"


# --- the requirements the operations declare (`schema/requires.py` shows each one's text) ---------------

SIGNED_IN = SignedIn()
MEMBER = Member()
SETTINGS_MANAGER = Member(OrganizationPermission.MANAGE_SETTINGS)
MEMBER_MANAGER = Member(OrganizationPermission.MANAGE_MEMBERS)
LICENSE_ORDERER = Member(OrganizationPermission.ORDER_LICENSES)
PARTNER_APPLICANT = WithVerifiedEmail(
    Member(
        OrganizationPermission.REQUEST_PARTNER_STATUS,
        in_person=True,
        session_refusal="Only the organization's own members apply for partner status.",
    ),
    "applying for partner status",
)
SERVICE_PROVIDER_MANAGER = Member(
    OrganizationPermission.MANAGE_SERVICE_PROVIDER,
    in_person=True,
    session_refusal="Only the customer itself decides about its service partner.",
)

PARTNER_PORTAL = Partner(PartnerPermission.MANAGE_PARTNER_PORTAL)
PARTNER_PORTAL_STAFF = PartnerStaff(PartnerPermission.MANAGE_PARTNER_PORTAL)
AFFILIATE_PORTAL = Partner(PartnerPermission.MANAGE_PARTNER_PORTAL, Program.AFFILIATE)
EXPERT_PORTAL = Partner(PartnerPermission.MANAGE_PARTNER_PORTAL, Program.EXPERT)
RESELLER_PORTAL = Partner(PartnerPermission.MANAGE_PARTNER_PORTAL, Program.RESELLER)
CUSTOMER_ADMINISTRATION = Partner(PartnerPermission.ADMINISTER_CUSTOMERS)
MANAGEMENT_SESSION_OPENER = Partner(
    PartnerPermission.ADMINISTER_CUSTOMERS, second_factor=TwoFactorRequirement.MANAGEMENT_SESSIONS
)
CUSTOMER_INVITATIONS = Partner(PartnerPermission.CREATE_CUSTOMER_ORGANIZATIONS)
CUSTOMER_INVITER = Partner(PartnerPermission.CREATE_CUSTOMER_ORGANIZATIONS, Program.SERVICE_PARTNER)

PAYOUT_READER = PartnerOrOperator(OperatorPermission.MANAGE_PAYOUTS)
PAYOUT_LIST_READER = PartnerListOrOperator(OperatorPermission.MANAGE_PAYOUTS)
TIER_READER = PartnerOrOperator(OperatorPermission.MANAGE_PROGRAMS)
RESELLER_READER = ProgramPartnerOrOperator(OperatorPermission.MANAGE_PROGRAMS, Program.RESELLER)
REPORT_READER = ReportReader()
LEADERBOARD_READER = EveryPartnersReports("The partner leaderboard")
AUDIT_READER = AuditReader()

PARTNER_REVIEWER = OperatorWith(OperatorPermission.REVIEW_PARTNERS)
PROGRAM_MANAGER = OperatorWith(OperatorPermission.MANAGE_PROGRAMS)
PAYOUT_MANAGER = OperatorWith(OperatorPermission.MANAGE_PAYOUTS)
WEBHOOK_MANAGER = WebhookManager()
BILLING_WRITER = ApiKeyWith(ApiKeyScope.BILLING_WRITE)


def _partner_text(permission: PartnerPermission, program: Program | None, where: str | None = None) -> str:
    in_program = f" in the {program.value} program" if program is not None else ""
    return f"{permission.value} in {where or 'a partner organization'}{in_program}"
