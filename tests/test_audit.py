"""Every mutation leaves an audit event in its own transaction; who may read them."""

from __future__ import annotations

from tests.support import add_member, create_organization, make_operator, register

EVENTS = """
query Events($org: ID) {
  auditEvents(organizationId: $org, first: 50) {
    edges { node { action via targetId changes actor { email } organization { name } } }
  }
}"""
UPDATE = """
mutation U($input: UpdateOrganizationInput!) { updateOrganization(input: $input) { errors { code } } }"""


async def _actions(api, token, org=None):
    data = await api.data(EVENTS, {"org": org}, token=token)
    return [edge["node"] for edge in data["auditEvents"]["edges"]]


async def test_changes_are_recorded_with_who_what_and_how(api):
    admin = await register(api, "ada@acme.example")
    organization = await create_organization(api, admin, "Acme")
    await register(api, "bob@acme.example")
    await add_member(api, admin, organization["id"], "bob@acme.example", organization_permissions=["VIEW_BILLING"])
    await api.data(UPDATE, {"input": {"organizationId": organization["id"], "name": "Acme AG"}}, token=admin.token)

    events = await _actions(api, admin.token, organization["id"])

    assert [e["action"] for e in events] == [
        "organization.update",
        "membership.create",
        "membership_invitation.accept",
        "membership_invitation.create",
        "membership.create",
        "organization.create",
    ]
    update = events[0]
    assert update["via"] == "SESSION"
    assert update["actor"]["email"] == "ada@acme.example"
    assert update["organization"]["name"] == "Acme AG"
    assert update["targetId"] == organization["id"]
    assert update["changes"] == {"name": {"from": "Acme", "to": "Acme AG"}}
    assert events[1]["changes"]["permissions"] == ["VIEW_BILLING"]


async def test_a_refused_change_records_nothing(api):
    admin = await register(api, "ada@acme.example")
    organization = await create_organization(api, admin, "Acme")

    failed = await api.data(
        UPDATE, {"input": {"organizationId": organization["id"], "country": "ZZ"}}, token=admin.token
    )

    assert failed["updateOrganization"]["errors"] == [{"code": "INVALID_VALUE"}]
    assert [e["action"] for e in await _actions(api, admin.token, organization["id"])] == [
        "membership.create",
        "organization.create",
    ]


async def test_administrators_read_their_log_members_and_outsiders_do_not(api):
    admin = await register(api, "ada@acme.example")
    organization = await create_organization(api, admin, "Acme")
    member = await register(api, "bob@acme.example")
    await add_member(api, admin, organization["id"], member.email)
    outsider = await register(api, "eve@evil.example")
    await create_organization(api, outsider, "Evil")

    assert len(await _actions(api, admin.token, organization["id"])) == 5
    assert await api.error_code(EVENTS, {"org": organization["id"]}, token=member.token) == "FORBIDDEN"
    assert await api.error_code(EVENTS, {"org": organization["id"]}, token=outsider.token) == "NOT_FOUND"
    assert all(e["organization"]["name"] == "Evil" for e in await _actions(api, outsider.token))
    assert await api.error_code(EVENTS) == "UNAUTHENTICATED"


async def test_operators_read_every_event(api):
    admin = await register(api, "ada@acme.example")
    organization = await create_organization(api, admin, "Acme")
    operator = await register(api, "olivia@vendor.example")
    await make_operator(api, operator, ["VIEW_ALL_REPORTS"])

    assert len(await _actions(api, operator.token, organization["id"])) == 2
    actions = {e["action"] for e in await _actions(api, operator.token)}
    assert {"user.register", "organization.create", "operator.grant"} <= actions
