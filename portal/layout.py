"""What every signed-in page shows around its content: the person, the organization they act for
(chosen with the switch, kept in the `pp_org` cookie, else their first) and the menu, which follows
the permissions the API says are in force there, exactly as the partner programs' help pages describe:
`ADMINISTER_CUSTOMERS` alone sees My customers; `CREATE_CUSTOMER_ORGANIZATIONS` also Invitations;
`MANAGE_PARTNER_PORTAL` everything of the partner."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request

from partner_portal.portal.i18n import N_
from partner_portal.portal.pages import text

ORGANIZATION_COOKIE = "pp_org"

Membership = dict[str, Any]


def partner(permission: str, program: str | None = None) -> Callable[[Membership], bool]:
    def allowed(membership: Membership) -> bool:
        profile = membership["organization"].get("partnerProfile")
        if profile is None:  # not a partner: its administrators hold partner permissions, but to no use
            return False
        programs = profile.get("programs") or []
        return permission in membership["partnerPermissions"] and (program is None or program in programs)

    return allowed


def organization(permission: str) -> Callable[[Membership], bool]:
    return lambda membership: permission in membership["organizationPermissions"]


def administrator(membership: Membership) -> bool:
    return bool(membership["role"] == "ADMINISTRATOR")


@dataclass(frozen=True)
class MenuItem:
    path: str
    label: str  # a message of the catalog
    shown: Callable[[Membership], bool]
    group: str  # "partner" or "organization"


MENU = (
    MenuItem("/partner/dashboard", N_("Dashboard"), partner("MANAGE_PARTNER_PORTAL"), "partner"),
    MenuItem("/partner/customers", N_("My customers"), partner("ADMINISTER_CUSTOMERS"), "partner"),
    MenuItem("/partner/invitations", N_("Invitations"), partner("CREATE_CUSTOMER_ORGANIZATIONS"), "partner"),
    MenuItem("/partner/affiliate", N_("Affiliate"), partner("MANAGE_PARTNER_PORTAL", "AFFILIATE"), "partner"),
    MenuItem("/partner/expert-code", N_("Expert code"), partner("MANAGE_PARTNER_PORTAL", "EXPERT"), "partner"),
    MenuItem("/partner/coupons", N_("Coupons"), partner("MANAGE_PARTNER_PORTAL", "RESELLER"), "partner"),
    MenuItem("/partner/commissions", N_("Commission"), partner("MANAGE_PARTNER_PORTAL"), "partner"),
    MenuItem("/partner/payouts", N_("Payouts"), partner("MANAGE_PARTNER_PORTAL"), "partner"),
    MenuItem("/partner/staff", N_("Staff"), partner("MANAGE_PARTNER_PORTAL"), "partner"),
    MenuItem("/organization", N_("Organization"), organization("MANAGE_SETTINGS"), "organization"),
    MenuItem("/organization/members", N_("Members"), organization("MANAGE_MEMBERS"), "organization"),
    MenuItem(
        "/organization/service-provider",
        N_("My service provider"),
        organization("MANAGE_SERVICE_PROVIDER"),
        "organization",
    ),
    MenuItem("/organization/activity", N_("Partner activity"), administrator, "organization"),
)


@dataclass(frozen=True)
class Link:
    path: str
    label: str
    current: bool


@dataclass(frozen=True)
class Layout:
    viewer: dict[str, Any]
    membership: Membership | None  # the organization acted for; None for a person without one
    menu: list[Link]

    @property
    def organization(self) -> dict[str, Any] | None:
        return self.membership["organization"] if self.membership else None

    @property
    def organization_id(self) -> str | None:
        return self.organization["id"] if self.organization else None

    def may(self, path: str) -> bool:
        """Whether the menu offers `path` (a page checks this to show or hide its buttons)."""
        return any(link.path == path for link in self.menu)

    @classmethod
    def of(cls, request: Request, viewer: dict[str, Any] | None, chosen: str | None) -> Layout | None:
        """The layout for `viewer` (None: nobody is signed in)."""
        if viewer is None:
            return None
        memberships = viewer.get("memberships") or []
        membership = next((m for m in memberships if m["organization"]["id"] == chosen), None)
        membership = membership or (memberships[0] if memberships else None)
        items = [item for item in MENU if membership is not None and item.shown(membership)]
        here = request.url.path
        current = max(
            (item.path for item in items if here == item.path or here.startswith(item.path + "/")), key=len, default=""
        )
        menu = [Link(item.path, text(request, item.label), item.path == current) for item in items]
        return cls(viewer, membership, menu)
