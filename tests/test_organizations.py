"""Organizations and members: every mutation allowed and denied, the last-administrator
rule, nobody granting what it does not hold, other organizations invisible."""

from __future__ import annotations

import pytest

from tests.support import ADD_MEMBER, CREATE_ORGANIZATION, add_member, create_organization, make_operator, register

UPDATE = """
mutation Update($input: UpdateOrganizationInput!) {
  updateOrganization(input: $input) { organization { id name website country language } errors { field code } }
}"""
SET_PERMISSIONS = """
mutation Set($input: SetMemberPermissionsInput!) {
  setMemberPermissions(input: $input) {
    membership { id organizationPermissions partnerPermissions } errors { field code }
  }
}"""
SET_ROLE = """
mutation Role($input: SetMemberRoleInput!) {
  setMemberRole(input: $input) { membership { id role } errors { field code } }
}"""
REMOVE = """
mutation Remove($id: ID!) { removeMember(input: {membershipId: $id}) { membershipId errors { code } } }"""
LEAVE = """
mutation Leave($id: ID!) { leaveOrganization(input: {organizationId: $id}) { membershipId errors { code } } }"""
MEMBERS = """
query Members($id: ID!, $first: Int) {
  node(id: $id) {
    ... on Organization {
      members(first: $first) {
        totalCount
        edges { node { id role organizationPermissions partnerPermissions user { email name } organization { name } } }
      }
    }
  }
}"""
NODE = "query Node($id: ID!) { node(id: $id) { id ... on Organization { name } } }"
ORGANIZATIONS = "{ organizations(first: 50) { totalCount edges { node { name } } } }"
VIEWER_ORGANIZATION = "{ viewerOrganization { name } }"


@pytest.fixture
async def acme(api):
    """Acme with an administrator, a member manager, a settings manager and a plain member."""
    admin = await register(api, "admin@acme.example", "Ada Admin")
    organization = await create_organization(api, admin, "Acme GmbH")
    people = {"admin": admin}
    for key, permissions in {
        "manager": ["MANAGE_MEMBERS", "MANAGE_SETTINGS"],
        "settings": ["MANAGE_SETTINGS"],
        "member": [],
    }.items():
        people[key] = await register(api, f"{key}@acme.example", key.title())
        membership = await add_member(api, admin, organization["id"], people[key].email,
                                      organization_permissions=permissions)
        people[f"{key}_membership"] = membership["id"]
    people["admin_membership"] = organization["viewerMembership"]["id"]
    people["id"] = organization["id"]
    return people


@pytest.fixture
async def globex(api):
    admin = await register(api, "admin@globex.example", "Gus Globex")
    organization = await create_organization(api, admin, "Globex Inc")
    return {"admin": admin, "id": organization["id"], "admin_membership": organization["viewerMembership"]["id"]}


# --- createOrganization -------------------------------------------------------------------------


async def test_the_creator_becomes_administrator(api):
    person = await register(api, "ann@example.com")

    organization = await create_organization(api, person, "Ann's Bakery")

    assert organization["viewerMembership"]["role"] == "ADMINISTRATOR"
    assert (await api.data(VIEWER_ORGANIZATION, token=person.token))["viewerOrganization"]["name"] == "Ann's Bakery"


async def test_creating_needs_a_signed_in_user(api):
    assert await api.error_code(CREATE_ORGANIZATION, {"input": {"name": "X"}}) == "UNAUTHENTICATED"


async def test_a_user_without_organization_is_told_to_create_one(api):
    person = await register(api, "ann@example.com")

    body = await api.post(VIEWER_ORGANIZATION, token=person.token)

    assert body["errors"][0]["extensions"]["code"] == "NO_ORGANIZATION"
    assert "create an organization" in body["errors"][0]["message"]


async def test_bad_organization_input_is_typed_and_nothing_is_created(api):
    person = await register(api, "ann@example.com")

    data = await api.data(CREATE_ORGANIZATION, {"input": {
        "name": " ", "website": "not a url", "country": "XX", "language": "fr"}}, token=person.token)

    assert [(e["field"], e["code"]) for e in data["createOrganization"]["errors"]] == [
        ("name", "REQUIRED"), ("website", "INVALID_VALUE"), ("country", "INVALID_VALUE"), ("language", "INVALID_VALUE"),
    ]
    assert (await api.data(ORGANIZATIONS, token=person.token))["organizations"]["totalCount"] == 0


# --- updateOrganization ---------------------------------------------------------------------------


@pytest.mark.parametrize("who", ["admin", "manager", "settings"])
async def test_settings_holders_update_the_organization(api, acme, who):
    data = await api.data(UPDATE, {"input": {"organizationId": acme["id"], "name": "Acme AG", "country": "ch",
                                             "website": "acme.example"}}, token=acme[who].token)

    organization = data["updateOrganization"]["organization"]
    assert (organization["name"], organization["country"], organization["website"]) == (
        "Acme AG", "CH", "https://acme.example")


async def test_omitted_fields_stay_and_null_clears(api, acme):
    await api.data(UPDATE, {"input": {"organizationId": acme["id"], "website": "https://acme.example"}},
                   token=acme["admin"].token)

    data = await api.data(UPDATE, {"input": {"organizationId": acme["id"], "website": None}}, token=acme["admin"].token)

    assert data["updateOrganization"]["organization"]["name"] == "Acme GmbH"
    assert data["updateOrganization"]["organization"]["website"] is None


async def test_updating_is_refused_without_the_permission(api, acme, globex):
    variables = {"input": {"organizationId": acme["id"], "name": "Hijacked"}}

    assert await api.error_code(UPDATE, variables, token=acme["member"].token) == "FORBIDDEN"
    assert await api.error_code(UPDATE, variables, token=globex["admin"].token) == "NOT_FOUND"
    assert await api.error_code(UPDATE, variables) == "UNAUTHENTICATED"


async def test_an_organization_seen_but_not_joined_is_forbidden_a_hidden_one_looks_absent(api, acme, globex):
    # given: an operator sees every organization; Globex's administrator does not see Acme
    operator = await register(api, "otto@vendor.example")
    await make_operator(api, operator)
    variables = {"input": {"organizationId": acme["id"], "name": "Hijacked"}}
    missing = {"input": {"organizationId": "T3JnYW5pemF0aW9uOjk5OTk5", "name": "Hijacked"}}

    # when
    seen = await api.post(UPDATE, variables, token=operator.token)
    hidden = await api.post(UPDATE, variables, token=globex["admin"].token)
    absent = await api.post(UPDATE, missing, token=globex["admin"].token)

    # then
    assert seen["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    assert hidden["errors"] == absent["errors"] and hidden["data"] == absent["data"]
    assert hidden["errors"][0]["extensions"]["code"] == "NOT_FOUND"
    assert await api.error_code(UPDATE, missing, token=operator.token) == "NOT_FOUND"


# --- addMember ----------------------------------------------------------------------------------


async def test_a_manager_adds_members_with_permissions_it_holds(api, acme):
    await register(api, "new@example.com")

    membership = await add_member(api, acme["manager"], acme["id"], "new@example.com",
                                  organization_permissions=["MANAGE_SETTINGS"])

    assert membership["organizationPermissions"] == ["MANAGE_SETTINGS"]


@pytest.mark.parametrize(
    ("who", "role", "organization_permissions", "partner_permissions"),
    [
        ("member", "MEMBER", [], []),  # no MANAGE_MEMBERS
        ("settings", "MEMBER", [], []),  # no MANAGE_MEMBERS
        ("manager", "MEMBER", ["VIEW_BILLING"], []),  # does not hold VIEW_BILLING
        ("manager", "ADMINISTRATOR", [], []),  # only administrators make administrators
        ("manager", "MEMBER", [], ["ADMINISTER_CUSTOMERS"]),  # partner permissions: admins and portal managers
    ],
)
async def test_adding_members_is_refused_beyond_ones_own_permissions(
    api, acme, who, role, organization_permissions, partner_permissions
):
    await register(api, "new@example.com")
    variables = {"input": {"organizationId": acme["id"], "email": "new@example.com", "role": role,
                           "organizationPermissions": organization_permissions,
                           "partnerPermissions": partner_permissions}}

    assert await api.error_code(ADD_MEMBER, variables, token=acme[who].token) == "FORBIDDEN"


async def test_adding_unknown_users_and_existing_members_are_typed_errors(api, acme):
    unknown = await api.data(ADD_MEMBER, {"input": {"organizationId": acme["id"], "email": "ghost@example.com"}},
                             token=acme["admin"].token)
    twice = await api.data(ADD_MEMBER, {"input": {"organizationId": acme["id"], "email": "member@acme.example"}},
                           token=acme["admin"].token)

    assert [(e["field"], e["code"]) for e in unknown["addMember"]["errors"]] == [("email", "USER_NOT_FOUND")]
    assert [(e["field"], e["code"]) for e in twice["addMember"]["errors"]] == [("email", "ALREADY_MEMBER")]


async def test_a_portal_manager_gives_partner_permissions(api, acme):
    await api.data(SET_PERMISSIONS, {"input": {"membershipId": acme["manager_membership"],
                                               "organizationPermissions": ["MANAGE_MEMBERS", "MANAGE_SETTINGS"],
                                               "partnerPermissions": ["MANAGE_PARTNER_PORTAL"]}},
                   token=acme["admin"].token)
    await register(api, "staff@example.com")

    membership = await add_member(api, acme["manager"], acme["id"], "staff@example.com",
                                  partner_permissions=["ADMINISTER_CUSTOMERS"])

    assert membership["partnerPermissions"] == ["ADMINISTER_CUSTOMERS"]


# --- setMemberPermissions -------------------------------------------------------------------------


async def test_permissions_are_replaced_and_broader_partner_permissions_include_narrower(api, acme):
    data = await api.data(SET_PERMISSIONS, {"input": {
        "membershipId": acme["member_membership"], "organizationPermissions": ["VIEW_BILLING"],
        "partnerPermissions": ["CREATE_CUSTOMER_ORGANIZATIONS"]}}, token=acme["admin"].token)

    membership = data["setMemberPermissions"]["membership"]
    assert membership["organizationPermissions"] == ["VIEW_BILLING"]
    assert membership["partnerPermissions"] == ["ADMINISTER_CUSTOMERS", "CREATE_CUSTOMER_ORGANIZATIONS"]


async def test_setting_permissions_is_refused_beyond_ones_own(api, acme, globex):
    def variables(membership_id, permissions):
        return {"input": {"membershipId": membership_id, "organizationPermissions": permissions,
                          "partnerPermissions": []}}

    # A manager may not hand out (or take away) what it lacks; a plain member may not manage at all.
    assert await api.error_code(SET_PERMISSIONS, variables(acme["member_membership"], ["VIEW_BILLING"]),
                                token=acme["manager"].token) == "FORBIDDEN"
    assert await api.error_code(SET_PERMISSIONS, variables(acme["settings_membership"], []),
                                token=acme["member"].token) == "FORBIDDEN"
    # Another organization's administrator does not even see the membership.
    assert await api.error_code(SET_PERMISSIONS, variables(acme["member_membership"], []),
                                token=globex["admin"].token) == "NOT_FOUND"
    # Allowed: the manager takes away a permission it holds itself.
    data = await api.data(SET_PERMISSIONS, variables(acme["settings_membership"], []), token=acme["manager"].token)
    assert data["setMemberPermissions"]["membership"]["organizationPermissions"] == []


# --- setMemberRole and the last administrator ------------------------------------------------------------


async def test_administrators_promote_and_demote(api, acme):
    promoted = await api.data(SET_ROLE, {"input": {"membershipId": acme["member_membership"], "role": "ADMINISTRATOR"}},
                              token=acme["admin"].token)
    assert promoted["setMemberRole"]["membership"]["role"] == "ADMINISTRATOR"

    demoted = await api.data(SET_ROLE, {"input": {"membershipId": acme["admin_membership"], "role": "MEMBER"}},
                             token=acme["member"].token)
    assert demoted["setMemberRole"]["membership"]["role"] == "MEMBER"


async def test_the_last_administrator_cannot_be_demoted(api, acme):
    data = await api.data(SET_ROLE, {"input": {"membershipId": acme["admin_membership"], "role": "MEMBER"}},
                          token=acme["admin"].token)

    assert data["setMemberRole"]["errors"] == [{"field": None, "code": "LAST_ADMINISTRATOR"}]
    members = (await api.data(MEMBERS, {"id": acme["id"]}, token=acme["admin"].token))["node"]["members"]["edges"]
    assert members[0]["node"]["role"] == "ADMINISTRATOR"


async def test_roles_are_changed_by_administrators_only(api, acme):
    variables = {"input": {"membershipId": acme["member_membership"], "role": "ADMINISTRATOR"}}

    assert await api.error_code(SET_ROLE, variables, token=acme["manager"].token) == "FORBIDDEN"
    assert await api.error_code(SET_ROLE, variables, token=acme["member"].token) == "FORBIDDEN"


# --- removeMember and leaveOrganization ------------------------------------------------------------------


async def test_managers_remove_members_but_not_administrators(api, acme):
    removed = await api.data(REMOVE, {"id": acme["member_membership"]}, token=acme["manager"].token)
    assert removed["removeMember"]["membershipId"] == acme["member_membership"]

    assert await api.error_code(REMOVE, {"id": acme["admin_membership"]}, token=acme["manager"].token) == "FORBIDDEN"
    assert await api.error_code(REMOVE, {"id": acme["settings_membership"]}, token=acme["settings"].token) == "FORBIDDEN"


async def test_the_last_administrator_cannot_be_removed_or_leave(api, acme):
    removed = await api.data(REMOVE, {"id": acme["admin_membership"]}, token=acme["admin"].token)
    left = await api.data(LEAVE, {"id": acme["id"]}, token=acme["admin"].token)

    assert removed["removeMember"]["errors"] == [{"code": "LAST_ADMINISTRATOR"}]
    assert left["leaveOrganization"]["errors"] == [{"code": "LAST_ADMINISTRATOR"}]


async def test_an_administrator_may_leave_once_there_is_another(api, acme):
    await api.data(SET_ROLE, {"input": {"membershipId": acme["manager_membership"], "role": "ADMINISTRATOR"}},
                   token=acme["admin"].token)

    left = await api.data(LEAVE, {"id": acme["id"]}, token=acme["admin"].token)

    assert left["leaveOrganization"]["errors"] == []
    assert await api.error_code(NODE, {"id": acme["id"]}, token=acme["admin"].token) == "NOT_FOUND"


async def test_a_member_leaves_and_outsiders_cannot(api, acme, globex):
    assert (await api.data(LEAVE, {"id": acme["id"]}, token=acme["member"].token))["leaveOrganization"]["errors"] == []
    assert await api.error_code(LEAVE, {"id": acme["id"]}, token=globex["admin"].token) == "NOT_FOUND"
    assert await api.error_code(REMOVE, {"id": acme["settings_membership"]}, token=globex["admin"].token) == "NOT_FOUND"


# --- visibility ---------------------------------------------------------------------------------------


async def test_another_organization_looks_exactly_like_a_missing_one(api, acme, globex):
    hidden = await api.post(NODE, {"id": acme["id"]}, token=globex["admin"].token)
    absent = await api.post(NODE, {"id": "T3JnYW5pemF0aW9uOjk5OTk5"}, token=globex["admin"].token)
    malformed = await api.post(NODE, {"id": "not-a-global-id"}, token=globex["admin"].token)

    # the budget report in `extensions` counts down between requests; the answers are the same
    assert hidden["errors"] == absent["errors"] == malformed["errors"]
    assert hidden["data"] == absent["data"] == malformed["data"] is None
    assert hidden["errors"][0]["extensions"]["code"] == "NOT_FOUND"


async def test_nodes_reveal_nothing_across_organizations(api, acme, globex):
    ids = [acme["member_membership"], acme["admin"].user_id]

    for identifier in ids:
        assert await api.error_code(NODE, {"id": identifier}, token=globex["admin"].token) == "NOT_FOUND"
    body = await api.post("query N($ids: [ID!]!) { nodes(ids: $ids) { id } }", {"ids": [globex["id"], acme["id"]]},
                          token=globex["admin"].token)
    assert body["errors"][0]["extensions"]["code"] == "NOT_FOUND"
    assert body["data"] is None


async def test_members_see_each_other_and_operators_see_every_organization(api, acme, globex):
    members = (await api.data(MEMBERS, {"id": acme["id"]}, token=acme["member"].token))["node"]["members"]
    assert members["totalCount"] == 4
    assert (await api.data(ORGANIZATIONS, token=acme["member"].token))["organizations"]["totalCount"] == 1

    operator = await register(api, "olivia@vendor.example")
    await make_operator(api, operator)
    assert (await api.data(ORGANIZATIONS, token=operator.token))["organizations"]["totalCount"] == 2


async def test_members_pages_continue_after_the_cursor(api, acme):
    page_query = """
    query P($id: ID!, $after: String) { node(id: $id) { ... on Organization {
      members(first: 3, after: $after) { pageInfo { hasNextPage endCursor } edges { node { user { email } } } } } } }"""

    first = (await api.data(page_query, {"id": acme["id"]}, token=acme["admin"].token))["node"]["members"]
    second = (await api.data(page_query, {"id": acme["id"], "after": first["pageInfo"]["endCursor"]},
                             token=acme["admin"].token))["node"]["members"]

    emails = [e["node"]["user"]["email"] for e in first["edges"] + second["edges"]]
    assert emails == ["admin@acme.example", "manager@acme.example", "settings@acme.example", "member@acme.example"]
    assert first["pageInfo"]["hasNextPage"] and not second["pageInfo"]["hasNextPage"]


async def test_a_members_list_costs_the_same_queries_whatever_its_length(api, acme):
    async def queries_for_members() -> int:
        with api.count_queries() as counter:
            await api.data(MEMBERS, {"id": acme["id"], "first": 100}, token=acme["admin"].token)
        return counter.count

    small = await queries_for_members()
    for i in range(20):
        await register(api, f"extra{i}@example.com")
        await add_member(api, acme["admin"], acme["id"], f"extra{i}@example.com")
    large = await queries_for_members()

    assert large == small
    # the session (with the user's memberships and operator permissions), management sessions (an
    # administrator holds the partner permissions too), the node, the page, its count, users, organizations
    assert small == 7
