"""Demo data: a vendor operator, a partner with one staff member per partner permission
group, and customer organizations, created through the same resolvers the API uses."""

from __future__ import annotations

from dataclasses import dataclass

from models.identity import User
from models.organizations import Organization
from permissions.actor import Actor
from permissions.enums import OperatorPermission, PartnerPermission, Role, Via
from permissions.scoping import load_memberships
from resolvers import identity, organizations
from settings import Settings

DEMO_PASSWORD = "demo-password-1"
OPERATOR_EMAIL = "operator@vendor.example"
PARTNER_ADMIN_EMAIL = "admin@northwind.example"
STAFF = {
    "customers@northwind.example": ("Casey Customers", PartnerPermission.ADMINISTER_CUSTOMERS),
    "invites@northwind.example": ("Ivy Invites", PartnerPermission.CREATE_CUSTOMER_ORGANIZATIONS),
    "portal@northwind.example": ("Parker Portal", PartnerPermission.MANAGE_PARTNER_PORTAL),
}
CUSTOMERS = {
    "admin@contoso.example": ("Contoso Ltd", "DE"),
    "admin@fabrikam.example": ("Fabrikam GmbH", "AT"),
    "admin@tailspin.example": ("Tailspin Toys", "US"),
}


@dataclass(frozen=True, slots=True)
class Login:
    email: str
    role: str


def _actor_for(user_id: int) -> Actor:
    return Actor(via=Via.CLI, user_id=user_id, _load_memberships=load_memberships)


async def _user(settings: Settings, email: str, name: str) -> int:
    issued = await identity.register(Actor(), settings, email=email, password=DEMO_PASSWORD, name=name)
    return issued.user["id"]


async def seed_demo(settings: Settings) -> list[Login]:
    """Create the demo once; a second call changes nothing and returns the same logins."""
    logins = [Login(OPERATOR_EMAIL, "vendor operator (every operator permission)")]
    logins.append(Login(PARTNER_ADMIN_EMAIL, "administrator of the partner Northwind Partners"))
    logins += [Login(email, f"Northwind staff with {perm.value}") for email, (_, perm) in STAFF.items()]
    logins += [Login(email, f"administrator of the customer {name}") for email, (name, _) in CUSTOMERS.items()]
    if await User.filter(email=OPERATOR_EMAIL).exists():
        return logins

    cli = Actor(via=Via.CLI)
    await identity.make_operator(
        cli, OPERATOR_EMAIL, list(OperatorPermission), name="Olivia Operator", password=DEMO_PASSWORD,
        settings=settings,
    )

    partner_admin = _actor_for(await _user(settings, PARTNER_ADMIN_EMAIL, "Avery Admin"))
    partner = await organizations.create_organization(
        partner_admin, name="Northwind Partners", website="https://northwind.example", country="DE", language="de"
    )
    for email, (name, permission) in STAFF.items():
        await _user(settings, email, name)
        await organizations.add_member(
            partner_admin, partner["id"], email=email, role=Role.MEMBER, permissions=[permission]
        )

    for email, (name, country) in CUSTOMERS.items():
        customer_admin = _actor_for(await _user(settings, email, f"{name} Admin"))
        await organizations.create_organization(customer_admin, name=name, country=country)
    return logins


async def demo_exists() -> bool:
    return await Organization.filter(name="Northwind Partners").exists()
