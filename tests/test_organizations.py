"""Organizations and members: every mutation allowed and denied, the last-administrator
rule, nobody granting what it does not hold, other organizations invisible."""

from __future__ import annotations

import pytest
from strawberry.relay import GlobalID

from partner_portal.models.organizations import Membership, Organization
from tests.conftest import start_api, test_settings
from tests.documents import ACCEPT_MEMBERSHIP, ADD_MEMBER, CREATE_ORGANIZATION, OUTBOX
from tests.support import (
    Person,
    accept_membership,
    add_member,
    create_organization,
    invite_member,
    make_operator,
    membership_link_token,
    register,
    session_of,
)

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
INVITATIONS = """
query Invitations($id: ID!) {
  node(id: $id) { ... on Organization { membershipInvitations(first: 50) {
    totalCount edges { node { id email role status } }
  } } }
}"""
INVITATION_NODE = """
query Node($id: ID!) { node(id: $id) { id ... on MembershipInvitation { email status organization { name } } } }"""
DECLINE = """
mutation Decline($token: String!) {
  declineMembershipInvitation(input: {token: $token}) { declined errors { field code } }
}"""
REVOKE_INVITATION = """
mutation Revoke($id: ID!) {
  revokeMembershipInvitation(input: {invitationId: $id}) { invitation { id status } errors { code } }
}"""


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
        membership = await add_member(
            api, admin, organization["id"], people[key].email, organization_permissions=permissions
        )
        people[f"{key}_membership"] = membership["id"]
    people["admin_membership"] = organization["viewerMembership"]["id"]
    people["id"] = organization["id"]
    return people


@pytest.fixture
async def globex(api):
    admin = await register(api, "admin@globex.example", "Gus Globex")
    organization = await create_organization(api, admin, "Globex Inc")
    return {"admin": admin, "id": organization["id"], "admin_membership": organization["viewerMembership"]["id"]}


async def invitation_statuses(api, who: Person, organization_id: str) -> dict[str, str]:
    data = await api.data(INVITATIONS, {"id": organization_id}, token=who.token)
    return {e["node"]["email"]: e["node"]["status"] for e in data["node"]["membershipInvitations"]["edges"]}


async def member_count(api, acme) -> int:
    data = await api.data(MEMBERS, {"id": acme["id"]}, token=acme["admin"].token)
    return data["node"]["members"]["totalCount"]


@pytest.fixture
async def reader(api) -> Person:
    """An operator who reads the outbox."""
    person = await register(api, "olivia@vendor.example", "Olivia Operator")
    await make_operator(api, person, ["MANAGE_PROGRAMS"])
    return person


async def mails_to(api, reader: Person, email: str) -> list[dict]:
    """The mails queued to an address, newest first, as an operator reads the outbox."""
    data = await api.data(OUTBOX, token=reader.token)
    return [e["node"] for e in data["outboxMessages"]["edges"] if e["node"]["recipient"] == email]


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

    data = await api.data(
        CREATE_ORGANIZATION,
        {"input": {"name": " ", "website": "not a url", "country": "XX", "language": "fr"}},
        token=person.token,
    )

    assert [(e["field"], e["code"]) for e in data["createOrganization"]["errors"]] == [
        ("name", "REQUIRED"),
        ("website", "INVALID_VALUE"),
        ("country", "INVALID_VALUE"),
        ("language", "INVALID_VALUE"),
    ]
    assert (await api.data(ORGANIZATIONS, token=person.token))["organizations"]["totalCount"] == 0


@pytest.fixture
async def capped_api(database_url):
    """At most 3 organizations per user, 2 created an hour."""
    async for running in start_api(test_settings(database_url, max_organizations_per_user=3, organizations_per_hour=2)):
        yield running


async def create(api, person: Person, name: str) -> dict:
    return await api.post(CREATE_ORGANIZATION, {"input": {"name": name}}, token=person.token)


async def test_creating_organizations_is_refused_beyond_the_hourly_rate(clock, capped_api):
    # given: two created this hour
    person = await register(capped_api, "ann@example.com")
    for name in ("One", "Two"):
        await create_organization(capped_api, person, name)
    other = await register(capped_api, "bob@example.com")

    # when
    refused = await create(capped_api, person, "Three")
    others = await create(capped_api, other, "Bob's")
    clock.shift(3600 - 60)
    still_refused = await create(capped_api, person, "Three")
    clock.shift(61)
    later = await create(capped_api, person, "Three")

    # then: THROTTLED, saying when; other users are not slowed down
    [error] = refused["errors"]
    assert error["extensions"]["code"] == "THROTTLED"
    assert "try again in 60 minutes" in error["message"]
    assert others["data"]["createOrganization"]["errors"] == []
    assert still_refused["errors"][0]["extensions"]["code"] == "THROTTLED"
    assert "try again in 1 minutes" in still_refused["errors"][0]["message"]
    assert later["data"]["createOrganization"]["errors"] == []


async def test_a_user_in_the_most_organizations_allowed_creates_no_more(clock, capped_api):
    # given: in 3 organizations, created over two hours
    person = await register(capped_api, "ann@example.com")
    for name in ("One", "Two"):
        await create_organization(capped_api, person, name)
    clock.shift(3601)
    await create_organization(capped_api, person, "Three")
    clock.shift(3601)  # (the hourly rate allows more)

    # when
    refused = (await create(capped_api, person, "Four"))["data"]["createOrganization"]

    # then: a typed error, nothing created
    assert refused["organization"] is None
    [error] = refused["errors"]
    assert error["code"] == "LIMIT_REACHED" and "3 organizations" in error["message"]
    assert (await capped_api.data(ORGANIZATIONS, token=person.token))["organizations"]["totalCount"] == 3


async def test_a_user_in_the_most_organizations_allowed_joins_no_more(clock, capped_api):
    # given: in 3 organizations, and invited to a fourth
    person = await register(capped_api, "ann@example.com")
    for name in ("One", "Two"):
        await create_organization(capped_api, person, name)
    clock.shift(3601)
    await create_organization(capped_api, person, "Three")
    inviter = await register(capped_api, "bob@example.com")
    four = await create_organization(capped_api, inviter, "Four")
    await invite_member(capped_api, inviter, four["id"], person.email)

    # when
    token = await membership_link_token(person.email)
    refused = (await capped_api.data(ACCEPT_MEMBERSHIP, {"token": token}, token=person.token))[
        "acceptMembershipInvitation"
    ]

    # then: a typed error, no membership, and the link still open
    assert refused["membership"] is None and [e["code"] for e in refused["errors"]] == ["LIMIT_REACHED"]
    assert (await capped_api.data(ORGANIZATIONS, token=person.token))["organizations"]["totalCount"] == 3
    assert (await invitation_statuses(capped_api, inviter, four["id"]))["ann@example.com"] == "OPEN"


VIEWER_MEMBERSHIPS = """
query M($first: Int) { viewer { memberships { organization { name members(first: $first) {
  totalCount edges { node { role user { email } } } } } } } }"""


async def test_viewer_memberships_lists_at_most_100_and_is_costed_so(api):
    # given: a user in 101 organizations (beyond what createOrganization allows, as if the cap had been raised)
    person = await register(api, "ann@example.com")
    await create_organization(api, person, "Oldest")
    for i in range(100):
        organization = await Organization.create(name=f"Org {i}", search_name=f"org {i}")
        await Membership.create(
            organization=organization,
            user_id=int(GlobalID.from_id(person.user_id).node_id),
            role="MEMBER",
            permissions=[],
        )

    # when
    with api.count_queries() as queries:
        body = await api.post(VIEWER_MEMBERSHIPS, {"first": 10}, token=person.token)
    too_deep = await api.post(VIEWER_MEMBERSHIPS, {"first": 100}, token=person.token)

    # then: the oldest 100, costed as 100 (each: itself, its organization, the connection, 10 members and users)
    memberships = body["data"]["viewer"]["memberships"]
    assert len(memberships) == 100 and memberships[0]["organization"]["name"] == "Oldest"
    assert memberships[0]["organization"]["members"]["totalCount"] == 1
    assert body["extensions"]["cost"]["requested"] == 1 + 100 * (1 + 1 + 1 + 10 * (1 + 1 + 1))
    assert queries.count <= 8  # the session, memberships, members, their count, users, organizations…
    assert (await api.data(ORGANIZATIONS, token=person.token))["organizations"]["totalCount"] == 101
    # and a deeper selection is refused before it runs
    [error] = too_deep["errors"]
    assert error["extensions"]["code"] == "QUERY_TOO_COMPLEX"


# --- updateOrganization ---------------------------------------------------------------------------


@pytest.mark.parametrize("who", ["admin", "manager", "settings"])
async def test_settings_holders_update_the_organization(api, acme, who):
    data = await api.data(
        UPDATE,
        {"input": {"organizationId": acme["id"], "name": "Acme AG", "country": "ch", "website": "acme.example"}},
        token=acme[who].token,
    )

    organization = data["updateOrganization"]["organization"]
    assert (organization["name"], organization["country"], organization["website"]) == (
        "Acme AG",
        "CH",
        "https://acme.example",
    )


async def test_omitted_fields_stay_and_null_clears(api, acme):
    await api.data(
        UPDATE, {"input": {"organizationId": acme["id"], "website": "https://acme.example"}}, token=acme["admin"].token
    )

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


async def test_a_manager_invites_with_permissions_it_holds_and_the_person_accepts(api, acme):
    newbie = await register(api, "new@example.com", "Nina New")

    # When the manager adds the person
    invitation = await invite_member(
        api, acme["manager"], acme["id"], newbie.email, organization_permissions=["MANAGE_SETTINGS"]
    )

    # Then an invitation waits, and the person is no member yet
    assert invitation["status"] == "OPEN" and invitation["organizationPermissions"] == ["MANAGE_SETTINGS"]
    assert (await invitation_statuses(api, acme["manager"], acme["id"]))["new@example.com"] == "OPEN"
    assert await member_count(api, acme) == 4
    assert (await api.data(ORGANIZATIONS, token=newbie.token))["organizations"]["totalCount"] == 0

    # When the person accepts, signed in with the invited address
    membership = await accept_membership(api, newbie.email)

    # Then the membership exists with what the invitation offered
    assert membership["role"] == "MEMBER" and membership["organizationPermissions"] == ["MANAGE_SETTINGS"]
    assert await member_count(api, acme) == 5
    assert (await invitation_statuses(api, acme["manager"], acme["id"]))["new@example.com"] == "ACCEPTED"


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
    variables = {
        "input": {
            "organizationId": acme["id"],
            "email": "new@example.com",
            "role": role,
            "organizationPermissions": organization_permissions,
            "partnerPermissions": partner_permissions,
        }
    }

    assert await api.error_code(ADD_MEMBER, variables, token=acme[who].token) == "FORBIDDEN"


async def test_a_stranger_makes_nobody_a_member_and_its_mail_shows_no_link(api, reader):
    # Given a stranger's organization named with a phishing text, and a person with an account
    stranger = await register(api, "mallory@evil.example", "Mallory")
    trap = await create_organization(api, stranger, "Security alert: confirm at https://evil.example/login")
    victim = await register(api, "victim@example.com", "Vic Tim")

    # When the stranger "adds" the person as administrator
    invitation = await invite_member(api, stranger, trap["id"], victim.email, role="ADMINISTRATOR")

    # Then the person belongs to nothing: an invitation waits
    assert invitation["status"] == "OPEN" and invitation["role"] == "ADMINISTRATOR"
    assert (await api.data(ORGANIZATIONS, token=victim.token))["organizations"]["totalCount"] == 0
    # And the mail shows the name as text that no mail client turns into a link
    mail = (await mails_to(api, reader, victim.email))[0]
    for part in (mail["subject"], mail["textBody"], mail["htmlBody"]):
        assert "https://evil.example" not in part and "evil.example/login" not in part
    assert "https[:]//evil[.]example/login" in mail["textBody"]

    # When the person declines from the link, without signing in
    token = await membership_link_token(victim.email)
    declined = (await api.data(DECLINE, {"token": token}))["declineMembershipInvitation"]

    # Then the link is spent, and the person stays outside
    assert declined == {"declined": True, "errors": []}
    accepted = (await api.data(ACCEPT_MEMBERSHIP, {"token": token}, token=victim.token))["acceptMembershipInvitation"]
    assert [e["code"] for e in accepted["errors"]] == ["INVITATION_USED"]
    assert (await api.data(ORGANIZATIONS, token=victim.token))["organizations"]["totalCount"] == 0
    assert await invitation_statuses(api, stranger, trap["id"]) == {"victim@example.com": "DECLINED"}


async def test_the_answer_does_not_tell_whether_an_address_has_an_account(api, acme, reader):
    await register(api, "known@example.com")

    def adding(email: str) -> dict:
        return {"input": {"organizationId": acme["id"], "email": email}}

    known = await api.post(ADD_MEMBER, adding("known@example.com"), token=acme["admin"].token)
    unknown = await api.post(ADD_MEMBER, adding("ghost@example.com"), token=acme["admin"].token)

    # The same answer, apart from the invitation's id and address, and the same mail
    def shape(body: dict) -> dict:
        payload = body["data"]["addMember"]
        invitation = {k: v for k, v in payload["invitation"].items() if k not in ("id", "email")}
        return {"errors": body.get("errors"), "payload": {**payload, "invitation": invitation}}

    assert shape(known) == shape(unknown)
    assert known["data"]["addMember"]["errors"] == [] and known["data"]["addMember"]["invitation"]["status"] == "OPEN"
    subjects = [
        (await mails_to(api, reader, email))[0]["subject"] for email in ("known@example.com", "ghost@example.com")
    ]
    assert subjects[0] == subjects[1]

    # And whoever registers with the invited address later accepts
    await register(api, "ghost@example.com", "Gus Ghost")
    assert (await accept_membership(api, "ghost@example.com"))["user"]["email"] == "ghost@example.com"


async def test_members_and_open_invitations_are_not_invited_twice(api, acme):
    twice = await api.data(
        ADD_MEMBER, {"input": {"organizationId": acme["id"], "email": "member@acme.example"}}, token=acme["admin"].token
    )
    first = await invite_member(api, acme["admin"], acme["id"], "new@example.com")
    again = await api.data(
        ADD_MEMBER, {"input": {"organizationId": acme["id"], "email": "NEW@example.com"}}, token=acme["admin"].token
    )

    assert [(e["field"], e["code"]) for e in twice["addMember"]["errors"]] == [("email", "ALREADY_MEMBER")]
    assert [(e["field"], e["code"]) for e in again["addMember"]["errors"]] == [("email", "ALREADY_INVITED")]
    # A revoked invitation makes room for a new one
    await api.data(REVOKE_INVITATION, {"id": first["id"]}, token=acme["admin"].token)
    assert (await invite_member(api, acme["admin"], acme["id"], "new@example.com"))["status"] == "OPEN"


async def test_only_the_invited_address_accepts_and_only_while_the_link_is_open(clock, api, acme):
    newbie = await register(api, "new@example.com", "Nina New")
    other = await register(api, "other@example.com", "Otto Other")
    await invite_member(api, acme["admin"], acme["id"], newbie.email)
    token = await membership_link_token(newbie.email)

    async def accepting(link: str, who: Person | None) -> dict:  # signing in afresh: time moves on
        return await api.post(
            ACCEPT_MEMBERSHIP, {"token": link}, token=await session_of(api, who.email) if who else None
        )

    async def refusal(link: str, who: Person | None) -> str:
        body = await accepting(link, who)
        if body.get("errors"):
            return body["errors"][0]["extensions"]["code"]
        return body["data"]["acceptMembershipInvitation"]["errors"][0]["code"]

    # Not signed in, another account, a made-up link: refused, and nobody became a member
    assert await refusal(token, None) == "UNAUTHENTICATED"
    assert await refusal(token, other) == "INVALID_TOKEN"
    assert await refusal("ppm_" + "x" * 43, newbie) == "INVALID_TOKEN"
    assert await refusal("x" * 300, newbie) == "INVALID_TOKEN"
    assert await member_count(api, acme) == 4
    # The invited address accepts once
    assert (await accepting(token, newbie))["data"]["acceptMembershipInvitation"]["errors"] == []
    assert await refusal(token, newbie) == "INVITATION_USED"

    # A link works until its expiry, and a revoked one not at all
    await invite_member(api, acme["admin"], acme["id"], other.email)
    late = await membership_link_token(other.email)
    clock.shift(api.settings.invitation_ttl)
    admin = Person(acme["admin"].email, await session_of(api, acme["admin"].email), acme["admin"].user_id)
    assert await refusal(late, other) == "INVITATION_EXPIRED"
    assert (await invitation_statuses(api, admin, acme["id"]))["other@example.com"] == "EXPIRED"
    withdrawn = await invite_member(api, admin, acme["id"], other.email)
    await api.data(REVOKE_INVITATION, {"id": withdrawn["id"]}, token=admin.token)
    assert await refusal(await membership_link_token(other.email), other) == "INVITATION_REVOKED"
    assert await member_count(api, {**acme, "admin": admin}) == 5


async def test_who_sees_and_revokes_membership_invitations(api, acme, globex):
    invitation = await invite_member(api, acme["admin"], acme["id"], "new@example.com")

    # Allowed: MANAGE_MEMBERS holders list, fetch and revoke
    assert (await invitation_statuses(api, acme["manager"], acme["id"]))["new@example.com"] == "OPEN"
    fetched = (await api.data(INVITATION_NODE, {"id": invitation["id"]}, token=acme["manager"].token))["node"]
    assert fetched == {
        "id": invitation["id"],
        "email": "new@example.com",
        "status": "OPEN",
        "organization": {"name": "Acme GmbH"},
    }

    # Denied: a member without MANAGE_MEMBERS, another organization's administrator
    assert await api.error_code(INVITATIONS, {"id": acme["id"]}, token=acme["settings"].token) == "FORBIDDEN"
    for outsider in (acme["settings"], globex["admin"]):
        assert await api.error_code(INVITATION_NODE, {"id": invitation["id"]}, token=outsider.token) == "NOT_FOUND"
    assert (
        await api.error_code(REVOKE_INVITATION, {"id": invitation["id"]}, token=acme["settings"].token) == "FORBIDDEN"
    )
    assert await api.error_code(REVOKE_INVITATION, {"id": invitation["id"]}, token=globex["admin"].token) == "NOT_FOUND"

    revoked = (await api.data(REVOKE_INVITATION, {"id": invitation["id"]}, token=acme["manager"].token))[
        "revokeMembershipInvitation"
    ]
    assert revoked == {"invitation": {"id": invitation["id"], "status": "REVOKED"}, "errors": []}
    again = (await api.data(REVOKE_INVITATION, {"id": invitation["id"]}, token=acme["manager"].token))[
        "revokeMembershipInvitation"
    ]
    assert [e["code"] for e in again["errors"]] == ["INVITATION_CLOSED"]


async def test_a_portal_manager_gives_partner_permissions(api, acme):
    await api.data(
        SET_PERMISSIONS,
        {
            "input": {
                "membershipId": acme["manager_membership"],
                "organizationPermissions": ["MANAGE_MEMBERS", "MANAGE_SETTINGS"],
                "partnerPermissions": ["MANAGE_PARTNER_PORTAL"],
            }
        },
        token=acme["admin"].token,
    )
    await register(api, "staff@example.com")

    membership = await add_member(
        api, acme["manager"], acme["id"], "staff@example.com", partner_permissions=["ADMINISTER_CUSTOMERS"]
    )

    assert membership["partnerPermissions"] == ["ADMINISTER_CUSTOMERS"]


# --- setMemberPermissions -------------------------------------------------------------------------


async def test_permissions_are_replaced_and_broader_partner_permissions_include_narrower(api, acme):
    data = await api.data(
        SET_PERMISSIONS,
        {
            "input": {
                "membershipId": acme["member_membership"],
                "organizationPermissions": ["VIEW_BILLING"],
                "partnerPermissions": ["CREATE_CUSTOMER_ORGANIZATIONS"],
            }
        },
        token=acme["admin"].token,
    )

    membership = data["setMemberPermissions"]["membership"]
    assert membership["organizationPermissions"] == ["VIEW_BILLING"]
    assert membership["partnerPermissions"] == ["ADMINISTER_CUSTOMERS", "CREATE_CUSTOMER_ORGANIZATIONS"]


async def test_setting_permissions_is_refused_beyond_ones_own(api, acme, globex):
    def variables(membership_id, permissions):
        return {
            "input": {"membershipId": membership_id, "organizationPermissions": permissions, "partnerPermissions": []}
        }

    # A manager may not hand out (or take away) what it lacks; a plain member may not manage at all.
    assert (
        await api.error_code(
            SET_PERMISSIONS, variables(acme["member_membership"], ["VIEW_BILLING"]), token=acme["manager"].token
        )
        == "FORBIDDEN"
    )
    assert (
        await api.error_code(SET_PERMISSIONS, variables(acme["settings_membership"], []), token=acme["member"].token)
        == "FORBIDDEN"
    )
    # Another organization's administrator does not even see the membership.
    assert (
        await api.error_code(SET_PERMISSIONS, variables(acme["member_membership"], []), token=globex["admin"].token)
        == "NOT_FOUND"
    )
    # Allowed: the manager takes away a permission it holds itself.
    data = await api.data(SET_PERMISSIONS, variables(acme["settings_membership"], []), token=acme["manager"].token)
    assert data["setMemberPermissions"]["membership"]["organizationPermissions"] == []


# --- setMemberRole and the last administrator ------------------------------------------------------------


async def test_administrators_promote_and_demote(api, acme):
    promoted = await api.data(
        SET_ROLE,
        {"input": {"membershipId": acme["member_membership"], "role": "ADMINISTRATOR"}},
        token=acme["admin"].token,
    )
    assert promoted["setMemberRole"]["membership"]["role"] == "ADMINISTRATOR"

    demoted = await api.data(
        SET_ROLE, {"input": {"membershipId": acme["admin_membership"], "role": "MEMBER"}}, token=acme["member"].token
    )
    assert demoted["setMemberRole"]["membership"]["role"] == "MEMBER"


async def test_the_last_administrator_cannot_be_demoted(api, acme):
    data = await api.data(
        SET_ROLE, {"input": {"membershipId": acme["admin_membership"], "role": "MEMBER"}}, token=acme["admin"].token
    )

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
    assert (
        await api.error_code(REMOVE, {"id": acme["settings_membership"]}, token=acme["settings"].token) == "FORBIDDEN"
    )


async def test_the_last_administrator_cannot_be_removed_or_leave(api, acme):
    removed = await api.data(REMOVE, {"id": acme["admin_membership"]}, token=acme["admin"].token)
    left = await api.data(LEAVE, {"id": acme["id"]}, token=acme["admin"].token)

    assert removed["removeMember"]["errors"] == [{"code": "LAST_ADMINISTRATOR"}]
    assert left["leaveOrganization"]["errors"] == [{"code": "LAST_ADMINISTRATOR"}]


async def test_an_administrator_may_leave_once_there_is_another(api, acme):
    await api.data(
        SET_ROLE,
        {"input": {"membershipId": acme["manager_membership"], "role": "ADMINISTRATOR"}},
        token=acme["admin"].token,
    )

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
    assert hidden["errors"] == absent["errors"]
    assert hidden["data"] == absent["data"] == {"node": None}
    assert hidden["errors"][0]["extensions"]["code"] == "NOT_FOUND"
    # an id that is no id of this API says so, whoever asks (tests/test_opaque_inputs.py)
    assert malformed["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"


async def test_nodes_reveal_nothing_across_organizations(api, acme, globex):
    ids = [acme["member_membership"], acme["admin"].user_id]

    for identifier in ids:
        assert await api.error_code(NODE, {"id": identifier}, token=globex["admin"].token) == "NOT_FOUND"
    body = await api.post(
        "query N($ids: [ID!]!) { nodes(ids: $ids) { id } }",
        {"ids": [globex["id"], acme["id"]]},
        token=globex["admin"].token,
    )
    assert [(e["extensions"]["code"], e["path"]) for e in body["errors"]] == [("NOT_FOUND", ["nodes", 1])]
    assert body["data"] == {"nodes": [{"id": globex["id"]}, None]}


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
    second = (
        await api.data(
            page_query, {"id": acme["id"], "after": first["pageInfo"]["endCursor"]}, token=acme["admin"].token
        )
    )["node"]["members"]

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
