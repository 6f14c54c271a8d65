"""End to end over HTTP, with a real SMTP server: a partner invites a customer, the customer
accepts from the mail, grants a permission, the partner's staff uses it in a management
session, the customer revokes it, and the customer sees exactly what was done."""

from __future__ import annotations

import re

import pytest

from partner_portal.resolvers.jobs import run_job
from tests.conftest import PASSWORD, start_api, test_settings
from tests.documents import REVOKE_DELEGATED_PERMISSIONS
from tests.support import add_member, make_partner, operator, register

INVITE = """
mutation Invite($input: InviteCustomerInput!) {
  inviteCustomer(input: $input) { invitation { id status } errors { field code } }
}"""
ACCEPT = """
mutation Accept($input: AcceptInvitationInput!) {
  acceptInvitation(input: $input) { token organization { id name } user { email } errors { field code message } }
}"""
MY_CUSTOMERS = """
{ myCustomers(first: 10) { totalCount edges { node { id source customer { id name } grant { permissions } } } } }"""
GRANT = """
mutation Grant($input: SetDelegatedPermissionsInput!) {
  setDelegatedPermissions(input: $input) { relationship { grant { permissions expiresAt } } errors { code } }
}"""
START_SESSION = """
mutation Start($id: ID!) {
  startManagementSession(input: {customerId: $id}) { session { id isOpen permissions } errors { code } }
}"""
RENAME = """
mutation Rename($id: ID!, $name: String!) {
  updateOrganization(input: {organizationId: $id, name: $name}) { organization { name } errors { code } }
}"""
ACTIVITY = """
query Activity($id: ID!) {
  node(id: $id) { ... on Organization { serviceProviderActivity(first: 20) {
    edges { node { action changes actor { email } } } } } }
}"""


@pytest.fixture
async def mail_api(database_url, smtp_server):
    async for api in start_api(
        test_settings(database_url, smtp_url=smtp_server.url, public_url="https://partners.vendor.test")
    ):
        yield api


async def test_invite_accept_grant_manage_revoke_and_audit(mail_api, smtp_server):
    api = mail_api
    partner = await make_partner(api, await operator(api))
    staff = await register(api, "casey@northwind.example", "Casey Customers")
    await add_member(api, partner.admin, partner.id, staff.email, partner_permissions=["ADMINISTER_CUSTOMERS"])

    # The partner invites; the outbox worker delivers the mail over SMTP.
    invited = await api.data(
        INVITE,
        {
            "input": {
                "email": "chris@contoso.example",
                "organizationName": "Contoso Ltd",
                "message": "Welcome aboard!",
                "language": "de",
            }
        },
        token=partner.admin.token,
    )
    assert invited["inviteCustomer"]["errors"] == []
    await run_job("outbox", api.settings)
    invitation_mails = [m for m in smtp_server.messages if m["To"] == "chris@contoso.example"]
    assert len(invitation_mails) == 1
    body = invitation_mails[0].get_body(("plain",)).get_content()
    assert "Welcome aboard!" in body
    token = re.search(r"https://partners\.vendor\.test/invitations/accept\?token=(ppi_[\w-]+)", body).group(1)

    # The customer accepts from the link: account, organization and relationship at once.
    accepted = (await api.data(ACCEPT, {"input": {"token": token, "name": "Chris Contoso", "password": PASSWORD}}))[
        "acceptInvitation"
    ]
    assert accepted["errors"] == []
    customer_token, customer_id = accepted["token"], accepted["organization"]["id"]
    assert accepted["organization"]["name"] == "Contoso Ltd"

    # The customer is in "my customers", without any grant yet.
    customers = (await api.data(MY_CUSTOMERS, token=staff.token))["myCustomers"]
    assert customers["totalCount"] == 1
    assert customers["edges"][0]["node"]["source"] == "INVITATION"
    assert customers["edges"][0]["node"]["grant"]["permissions"] == []

    # A session without a grant changes nothing.
    session = (await api.data(START_SESSION, {"id": customer_id}, token=staff.token))["startManagementSession"]
    assert session["session"]["isOpen"] and session["session"]["permissions"] == []
    assert await api.error_code(RENAME, {"id": customer_id, "name": "Too early"}, token=staff.token) == "FORBIDDEN"

    # The customer grants MANAGE_SETTINGS; the very next request of the staff member may rename.
    granted = (
        await api.data(
            GRANT, {"input": {"organizationId": customer_id, "permissions": ["MANAGE_SETTINGS"]}}, token=customer_token
        )
    )["setDelegatedPermissions"]
    assert granted["relationship"]["grant"]["permissions"] == ["MANAGE_SETTINGS"]
    renamed = await api.data(RENAME, {"id": customer_id, "name": "Contoso Group"}, token=staff.token)
    assert renamed["updateOrganization"]["organization"]["name"] == "Contoso Group"

    # The customer revokes; the same change is refused at once.
    revoked = await api.data(REVOKE_DELEGATED_PERMISSIONS, {"id": customer_id}, token=customer_token)
    assert revoked["revokeDelegatedPermissions"]["relationship"]["grant"]["permissions"] == []
    assert await api.error_code(RENAME, {"id": customer_id, "name": "Contoso Again"}, token=staff.token) == "FORBIDDEN"

    # The customer sees exactly what the partner did, by whom.
    activity = (await api.data(ACTIVITY, {"id": customer_id}, token=customer_token))["node"]["serviceProviderActivity"]
    actions = [(e["node"]["action"], e["node"]["actor"]["email"]) for e in activity["edges"]]
    assert actions == [("organization.update", staff.email), ("management_session.start", staff.email)]
    assert activity["edges"][0]["node"]["changes"] == {"name": {"from": "Contoso Ltd", "to": "Contoso Group"}}

    # Both sides' administrators were told about the grant changes.
    await run_job("outbox", api.settings)
    recipients = [m["To"] for m in smtp_server.messages]
    assert recipients.count("chris@contoso.example") >= 3  # invitation, grant, revocation
    assert recipients.count(partner.admin.email) >= 3  # linked, grant, revocation
