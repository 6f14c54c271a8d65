"""The world of the management session's tests (tests/test_portal_management.py and its browser
journey): a service partner, its staff with only ADMINISTER_CUSTOMERS, and a customer that accepted
the partner's invitation from the mail, built through the API; and the grant the customer gives."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from urllib.parse import quote

from tests.conftest import Api
from tests.customer_invitations import accept, invited, newest_link
from tests.documents import SET_DELEGATED_PERMISSIONS
from tests.support import Partner, Person, add_member, make_partner, operator, register

EVERYTHING_BUT_LICENSES = ["MANAGE_MEMBERS", "MANAGE_SETTINGS", "VIEW_BILLING"]


@dataclass
class World:
    partner: Partner  # Northwind Partners, a service partner
    staff: Person  # Northwind staff with ADMINISTER_CUSTOMERS only
    customer_admin: Person  # Contoso's administrator
    customer_id: str  # Contoso Ltd, which accepted Northwind's invitation

    @property
    def page(self) -> str:
        """The session's page on the customer."""
        return f"/manage/{quote(self.customer_id, safe='')}"


async def build_world(api: Api) -> World:
    """Northwind invited Contoso, Contoso accepted from the mail; Casey is Northwind staff."""
    reviewer = await operator(api)
    partner = await make_partner(api, reviewer)
    staff = await register(api, "casey@northwind.example", "Casey Customers")
    await add_member(api, partner.admin, partner.id, staff.email, partner_permissions=["ADMINISTER_CUSTOMERS"])
    await invited(api, partner.admin, "chris@contoso.example", organization_name="Contoso Ltd")
    accepted = await accept(api, await newest_link(api, reviewer, "chris@contoso.example"))
    assert accepted["errors"] == [], accepted["errors"]
    admin = Person("chris@contoso.example", accepted["token"], accepted["user"]["id"])
    return World(partner, staff, admin, accepted["organization"]["id"])


async def grant(api: Api, world: World, permissions: list[str], expires_at: datetime | None = None) -> None:
    """The customer's administrator sets the grant (setDelegatedPermissions), until `expires_at` if given."""
    until = expires_at.isoformat() if expires_at else None
    variables = {"input": {"organizationId": world.customer_id, "permissions": permissions, "expiresAt": until}}
    payload = await api.data(SET_DELEGATED_PERMISSIONS, variables, token=world.customer_admin.token)
    assert payload["setDelegatedPermissions"]["errors"] == []
