"""Invitations: partner staff invite a prospective customer by email; the mail's single-use link
registers the customer, creates its organization and links the partner (source INVITATION).

Everything goes through the public GraphQL API; mails are read from the outbox as an operator
(one test takes the real SMTP round trip). Time is the frozen `clock`, never slept on.
"""

from __future__ import annotations

import asyncio
import json
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

import pytest

from partner_portal.resolvers.jobs import run_job
from tests.conftest import PASSWORD, START, start_api, test_settings
from tests.customer_invitations import accept, invite, invited, link_token, newest_link, outbox
from tests.documents import ADD_MEMBER, INVITE_CUSTOMER, LOGIN
from tests.support import Partner, Person, add_member, create_organization, fresh, make_partner, operator, register

RESEND = """
mutation Resend($id: ID!) {
  resendInvitation(input: {invitationId: $id}) { invitation { id status expiresAt } errors { field code } }
}"""
REVOKE = """
mutation Revoke($id: ID!) {
  revokeInvitation(input: {invitationId: $id}) { invitation { id status } errors { field code } }
}"""
INVITATIONS = """
query Invitations($status: InvitationStatus, $first: Int) {
  invitations(status: $status, first: $first) {
    totalCount
    edges { node { id email organizationName message language status expiresAt createdAt acceptedAt } }
  }
}"""
INVITATION_NODE = """
query Node($id: ID!) {
  node(id: $id) { id ... on Invitation { email organizationName message language status expiresAt createdAt } }
}"""
ORGANIZATION_COUNT = "{ organizations { totalCount } }"
ORGANIZATION_NAMES = "{ organizations(first: 50) { edges { node { name } } } }"
MY_CUSTOMERS = """
{ myCustomers(first: 20) { totalCount edges { node { source customer { name } grant { permissions } } } } }"""
VIEWER = "{ viewer { email name memberships { role organization { id name } } } }"


# --- the world of these tests ------------------------------------------------------------------


@dataclass
class World:
    operator: Person
    partner: Partner
    inviter: Person  # partner staff holding CREATE_CUSTOMER_ORGANIZATIONS


@pytest.fixture
async def world(api) -> World:
    """Northwind, an approved service partner, with a staff member who may invite customers."""
    reviewer = await operator(api)
    partner = await make_partner(api, reviewer)
    inviter = await register(api, "ivy@northwind.example", "Ivy Inviter")
    await add_member(
        api, partner.admin, partner.id, inviter.email, partner_permissions=["CREATE_CUSTOMER_ORGANIZATIONS"]
    )
    return World(reviewer, partner, inviter)


async def organization_count(api, reviewer: Person) -> int:
    return (await api.data(ORGANIZATION_COUNT, token=reviewer.token))["organizations"]["totalCount"]


async def invitations(api, who: Person, status: str | None = None) -> list[dict]:
    data = await api.data(INVITATIONS, {"status": status, "first": 100}, token=who.token)
    return [edge["node"] for edge in data["invitations"]["edges"]]


async def statuses(api, who: Person) -> dict[str, str]:
    return {row["email"]: row["status"] for row in await invitations(api, who)}


def instant(value: str) -> datetime:
    return datetime.fromisoformat(value)


# --- inviting ------------------------------------------------------------------------------------


async def test_an_invitation_mails_a_link_that_is_valid_for_14_days(clock, api, world):
    # Given a staff member of a service partner holding CREATE_CUSTOMER_ORGANIZATIONS
    # When they invite a prospective customer
    invitation = await invited(
        api,
        world.inviter,
        "Chris@Contoso.example",
        organizationName="Contoso Ltd",
        message="Welcome aboard!",
        language="de",
    )

    # Then the invitation is open for 14 days, to the normalized address
    assert invitation["email"] == "chris@contoso.example"
    assert invitation["status"] == "OPEN"
    assert invitation["language"] == "de" and invitation["message"] == "Welcome aboard!"
    assert instant(invitation["createdAt"]) == START
    assert instant(invitation["expiresAt"]) == START + timedelta(days=14)
    assert invitation["acceptedAt"] is None

    # And one mail in German carries the link with a ppi_ token, in both parts
    mails = [m for m in await outbox(api, world.operator) if m["recipient"] == "chris@contoso.example"]
    assert len(mails) == 1
    mail = mails[0]
    assert mail["language"] == "de"
    token = link_token(api, mail["textBody"])
    assert token is not None and len(token) > 40
    assert link_token(api, mail["htmlBody"]) == token
    assert "Welcome aboard!" in mail["textBody"]


async def test_the_link_token_is_only_in_the_mail(api, world):
    # Given an invitation
    invitation = await invited(api, world.inviter)
    token = await newest_link(api, world.operator, "chris@contoso.example")

    # When anyone allowed reads the invitation, by list or by id
    listed = await api.data(INVITATIONS, {"first": 10}, token=world.inviter.token)
    by_id = await api.data(INVITATION_NODE, {"id": invitation["id"]}, token=world.partner.admin.token)

    # Then the token is in neither answer
    assert token not in json.dumps(listed) and token not in json.dumps(by_id)
    # And of all outgoing messages only the invitation mail's bodies hold it
    holders = [m for m in await outbox(api, world.operator) if token in json.dumps(m)]
    assert [(m["recipient"], link_token(api, m["textBody"])) for m in holders] == [("chris@contoso.example", token)]

    # And the database keeps no clear copy: not in the invitation row, not in the audit log
    from partner_portal.models.audit import AuditEvent
    from partner_portal.models.invitations import Invitation

    rows = await Invitation.all().values()
    assert len(rows) == 1 and token not in json.dumps(rows, default=str)
    assert token[4:] not in json.dumps(rows, default=str)
    assert token not in json.dumps(await AuditEvent.all().values(), default=str)


async def test_inviting_needs_create_customer_organizations_in_a_service_partner(api, world):
    # Given people around Northwind with every relevant permission but the right one
    administer_only = await register(api, "ari@northwind.example", "Ari Administer")
    await add_member(
        api, world.partner.admin, world.partner.id, administer_only.email, partner_permissions=["ADMINISTER_CUSTOMERS"]
    )
    plain = await register(api, "pat@northwind.example", "Pat Plain")
    await add_member(api, world.partner.admin, world.partner.id, plain.email)
    homeless = await register(api, "nora@nowhere.example", "Nora Nowhere")
    outsider = await register(api, "olaf@outside.example", "Olaf Outside")
    await create_organization(api, outsider, "Outside AG")
    affiliate = await make_partner(
        api, world.operator, "admin@affiliates.example", "Affiliates Only", programs=["AFFILIATE"]
    )
    mails_before = len(await outbox(api, world.operator))
    variables = {"input": {"email": "chris@contoso.example", "organizationName": "Contoso Ltd"}}

    # When / Then each of them is refused with the right code
    assert await api.error_code(INVITE_CUSTOMER, variables) == "UNAUTHENTICATED"
    assert await api.error_code(INVITE_CUSTOMER, variables, token=homeless.token) == "NO_ORGANIZATION"
    assert await api.error_code(INVITE_CUSTOMER, variables, token=administer_only.token) == "FORBIDDEN"
    assert await api.error_code(INVITE_CUSTOMER, variables, token=plain.token) == "FORBIDDEN"
    assert await api.error_code(INVITE_CUSTOMER, variables, token=affiliate.admin.token) == "FORBIDDEN"
    on_behalf = {"input": {**variables["input"], "partnerId": world.partner.id}}
    assert await api.error_code(INVITE_CUSTOMER, on_behalf, token=outsider.token) == "NOT_FOUND"
    assert await api.error_code(INVITATIONS, token=administer_only.token) == "FORBIDDEN"

    # And nothing was written or sent
    assert await invitations(api, world.partner.admin) == []
    assert len(await outbox(api, world.operator)) == mails_before

    # While the partner's administrator (holding every partner permission) may invite
    assert (await invited(api, world.partner.admin))["status"] == "OPEN"


@pytest.mark.parametrize(
    ("change", "field", "code"),
    [
        ({"email": "not-an-address"}, "email", "INVALID_EMAIL"),
        ({"organizationName": "   "}, "organizationName", "REQUIRED"),
        ({"language": "fr"}, "language", "INVALID_VALUE"),
        ({"message": "x" * 4001}, "message", "TOO_LONG"),
    ],
)
async def test_bad_input_is_a_typed_error_and_writes_nothing(api, world, change, field, code):
    # Given a valid invitation but for one field
    mails_before = len(await outbox(api, world.operator))
    values = {"email": "chris@contoso.example", "organizationName": "Contoso Ltd", "language": "en", **change}

    # When it is sent
    payload = await invite(api, world.inviter, **values)

    # Then that field is named with its code, and nothing exists afterwards
    assert payload["invitation"] is None
    assert [(e["field"], e["code"]) for e in payload["errors"]] == [(field, code)]
    assert await invitations(api, world.inviter) == []
    assert len(await outbox(api, world.operator)) == mails_before


async def test_every_bad_field_is_reported_at_once_and_the_limits_are_inclusive(api, world):
    payload = await invite(api, world.inviter, "nope", organization_name="", language="xx", message="y" * 4001)
    assert sorted((e["field"], e["code"]) for e in payload["errors"]) == [
        ("email", "INVALID_EMAIL"),
        ("language", "INVALID_VALUE"),
        ("message", "TOO_LONG"),
        ("organizationName", "REQUIRED"),
    ]

    # A message of exactly 4000 characters is fine
    assert (await invited(api, world.inviter, message="z" * 4000))["message"] == "z" * 4000


async def test_a_second_open_invitation_to_the_same_address_is_refused(api, world):
    # Given an open invitation to Chris
    first = await invited(api, world.inviter)

    # When anyone of the partner invites the same address again (in another spelling)
    again = await invite(api, world.partner.admin, "CHRIS@contoso.example", organization_name="Contoso Two")

    # Then it is ALREADY_INVITED, with a single invitation and a single mail
    assert [(e["field"], e["code"]) for e in again["errors"]] == [("email", "ALREADY_INVITED")]
    assert [row["id"] for row in await invitations(api, world.inviter)] == [first["id"]]
    mails = [m for m in await outbox(api, world.operator) if m["recipient"] == "chris@contoso.example"]
    assert len(mails) == 1

    # And once the first is revoked, a new invitation may go out
    await api.data(REVOKE, {"id": first["id"]}, token=world.inviter.token)
    assert (await invited(api, world.inviter))["status"] == "OPEN"


# --- accepting -----------------------------------------------------------------------------------


async def test_accepting_creates_the_user_the_organization_and_the_relationship(clock, api, world):
    # Given an invitation to Chris
    invitation = await invited(api, world.inviter)
    token = await newest_link(api, world.operator, "chris@contoso.example")
    organizations_before = await organization_count(api, world.operator)

    # When Chris accepts it from the link, not signed in
    accepted = await accept(api, token, name="Chris Contoso")

    # Then there is a new account with a working session, administrator of the new organization
    assert accepted["errors"] == []
    assert accepted["user"]["email"] == "chris@contoso.example" and accepted["user"]["name"] == "Chris Contoso"
    assert accepted["organization"]["name"] == "Contoso Ltd"
    viewer = (await api.data(VIEWER, token=accepted["token"]))["viewer"]
    assert viewer["email"] == "chris@contoso.example"
    assert [(m["role"], m["organization"]["id"]) for m in viewer["memberships"]] == [
        ("ADMINISTRATOR", accepted["organization"]["id"])
    ]
    assert await organization_count(api, world.operator) == organizations_before + 1
    # And the password chosen works for signing in
    assert (await api.data(LOGIN, {"input": {"email": "chris@contoso.example", "password": PASSWORD}}))["login"][
        "errors"
    ] == []

    # And the partner has the customer, by invitation, without any grant
    customers = (await api.data(MY_CUSTOMERS, token=world.inviter.token))["myCustomers"]
    assert [
        (e["node"]["customer"]["name"], e["node"]["source"], e["node"]["grant"]["permissions"])
        for e in customers["edges"]
    ] == [("Contoso Ltd", "INVITATION", [])]

    # And the invitation is accepted, at the (frozen) moment
    [row] = await invitations(api, world.inviter)
    assert row["id"] == invitation["id"] and row["status"] == "ACCEPTED"
    assert instant(row["acceptedAt"]) == START


async def test_a_signed_in_user_accepts_with_the_own_account(api, world):
    # Given an invitation to Chris's address, opened by Bob who already has an account
    await invited(api, world.inviter)
    token = await newest_link(api, world.operator, "chris@contoso.example")
    bob = await register(api, "bob@fabrikam.example", "Bob Fabrikam")
    organizations_before = await organization_count(api, world.operator)

    # When Bob accepts it signed in (no name, no password), naming the organization himself
    accepted = await accept(api, token, name=None, password=None, signed_in=bob, organizationName="Contoso Group")

    # Then no account is created: no new session, Bob administers the new organization
    assert accepted["errors"] == []
    assert accepted["user"] is None and accepted["token"] is None
    assert accepted["organization"]["name"] == "Contoso Group"
    assert accepted["organization"]["viewerMembership"]["role"] == "ADMINISTRATOR"
    viewer = (await api.data(VIEWER, token=bob.token))["viewer"]
    assert [(m["role"], m["organization"]["name"]) for m in viewer["memberships"]] == [
        ("ADMINISTRATOR", "Contoso Group")
    ]
    assert await organization_count(api, world.operator) == organizations_before + 1
    # And the invited address is still free to register
    await register(api, "chris@contoso.example")
    # And the partner has its customer
    customers = (await api.data(MY_CUSTOMERS, token=world.inviter.token))["myCustomers"]
    assert [e["node"]["customer"]["name"] for e in customers["edges"]] == ["Contoso Group"]


async def test_unusable_links_are_told_apart_and_change_nothing(api, world):
    # Given a revoked invitation and an accepted one
    revoked = await invited(api, world.inviter, "dana@contoso.example")
    revoked_token = await newest_link(api, world.operator, "dana@contoso.example")
    await api.data(REVOKE, {"id": revoked["id"]}, token=world.inviter.token)
    await invited(api, world.inviter, "chris@contoso.example")
    used_token = await newest_link(api, world.operator, "chris@contoso.example")
    assert (await accept(api, used_token))["errors"] == []
    organizations_before = await organization_count(api, world.operator)
    someone = await register(api, "sam@somewhere.example", "Sam Somewhere")

    # When / Then each kind of unusable link has its own code
    cases = {
        "not-a-token": "INVALID_TOKEN",
        "": "INVALID_TOKEN",
        "ppi_" + "x" * 300: "INVALID_TOKEN",
        "ppi_" + secrets.token_urlsafe(32): "INVALID_TOKEN",
        revoked_token: "INVITATION_REVOKED",
        used_token: "INVITATION_USED",
    }
    for token, code in cases.items():
        anonymous = await accept(api, token, name="Somebody Else", password=PASSWORD + "!")
        assert [(e["field"], e["code"]) for e in anonymous["errors"]] == [("token", code)], token
        assert anonymous["organization"] is None and anonymous["token"] is None
        signed_in = await accept(api, token, name=None, password=None, signed_in=someone)
        assert [e["code"] for e in signed_in["errors"]] == [code], token

    # And nothing was created
    assert await organization_count(api, world.operator) == organizations_before
    assert (await api.data(VIEWER, token=someone.token))["viewer"]["memberships"] == []
    assert await statuses(api, world.inviter) == {
        "dana@contoso.example": "REVOKED",
        "chris@contoso.example": "ACCEPTED",
    }


async def test_a_link_works_until_its_expiry_to_the_second(clock, api, world):
    # Given three invitations sent at the same moment (expiring at START + 14 days)
    tokens = {}
    for name in ("early", "exact", "late"):
        await invited(api, world.inviter, f"{name}@contoso.example")
        tokens[name] = await newest_link(api, world.operator, f"{name}@contoso.example")
    expiry = START + timedelta(days=14)

    # When the first is accepted one second before the expiry
    clock.move_to(expiry - timedelta(seconds=1))
    early = await accept(api, tokens["early"])
    # Then it works
    assert early["errors"] == [] and early["organization"]["name"] == "Contoso Ltd"

    # When the others are accepted at the expiry and one second after it
    clock.move_to(expiry)
    exact = await accept(api, tokens["exact"])
    clock.move_to(expiry + timedelta(seconds=1))
    late = await accept(api, tokens["late"])

    # Then the link has stopped working, and nothing was created
    assert [(e["field"], e["code"]) for e in exact["errors"]] == [("token", "INVITATION_EXPIRED")]
    assert [(e["field"], e["code"]) for e in late["errors"]] == [("token", "INVITATION_EXPIRED")]
    assert exact["organization"] is None and late["organization"] is None
    reviewer = await fresh(api, world.operator)
    names = (await api.data(ORGANIZATION_NAMES, token=reviewer.token))["organizations"]["edges"]
    assert [n["node"]["name"] for n in names].count("Contoso Ltd") == 1


@pytest.mark.parametrize(
    ("name", "password", "errors"),
    [
        ("Chris Contoso", "short", [("password", "PASSWORD_TOO_SHORT")]),
        ("Chris Contoso", "passwordpassword", [("password", "PASSWORD_TOO_COMMON")]),
        (None, PASSWORD, [("name", "REQUIRED")]),
        ("   ", PASSWORD, [("name", "REQUIRED")]),
        (None, None, [("name", "REQUIRED"), ("password", "PASSWORD_TOO_SHORT")]),
    ],
)
async def test_a_weak_password_or_a_missing_name_writes_nothing(api, world, name, password, errors):
    # Given an invitation to Chris
    await invited(api, world.inviter)
    token = await newest_link(api, world.operator, "chris@contoso.example")
    organizations_before = await organization_count(api, world.operator)

    # When Chris accepts with a bad name or password
    refused = await accept(api, token, name=name, password=password)

    # Then the problems are named, and nothing was created: the invitation is still open
    assert sorted((e["field"], e["code"]) for e in refused["errors"]) == errors
    assert refused["organization"] is None and refused["token"] is None
    assert await organization_count(api, world.operator) == organizations_before
    assert await statuses(api, world.inviter) == {"chris@contoso.example": "OPEN"}

    # And the same link works afterwards (no half-made account blocks it)
    accepted = await accept(api, token, name="Chris Contoso", password=PASSWORD)
    assert accepted["errors"] == [] and accepted["user"]["email"] == "chris@contoso.example"


async def test_an_address_with_an_account_must_sign_in_first(api, world):
    # Given Chris has an account already and is invited
    chris = await register(api, "chris@contoso.example", "Chris Contoso")
    await invited(api, world.inviter)
    token = await newest_link(api, world.operator, "chris@contoso.example")
    organizations_before = await organization_count(api, world.operator)

    # When the link is used without signing in
    refused = await accept(api, token, name="Someone Else", password=PASSWORD + "?")

    # Then EMAIL_TAKEN, nothing was created and the invitation is still open
    assert [(e["field"], e["code"]) for e in refused["errors"]] == [("token", "EMAIL_TAKEN")]
    assert await organization_count(api, world.operator) == organizations_before
    assert await statuses(api, world.inviter) == {"chris@contoso.example": "OPEN"}

    # And signed in, Chris accepts it into the existing account
    accepted = await accept(api, token, name=None, password=None, signed_in=chris)
    assert accepted["errors"] == [] and accepted["organization"]["viewerMembership"]["role"] == "ADMINISTRATOR"


async def test_two_concurrent_accepts_of_one_link_create_one_organization(api, world):
    # Given an invitation
    await invited(api, world.inviter)
    token = await newest_link(api, world.operator, "chris@contoso.example")
    organizations_before = await organization_count(api, world.operator)

    # When the link is accepted twice at the same time
    results = await asyncio.gather(accept(api, token, name="Chris One"), accept(api, token, name="Chris Two"))

    # Then exactly one succeeded and the other was told the invitation is used
    succeeded = [r for r in results if not r["errors"]]
    failed = [r for r in results if r["errors"]]
    assert len(succeeded) == 1 and len(failed) == 1
    assert [(e["field"], e["code"]) for e in failed[0]["errors"]] == [("token", "INVITATION_USED")]
    assert failed[0]["organization"] is None and failed[0]["token"] is None
    # And there is one new organization, one customer, one account
    assert await organization_count(api, world.operator) == organizations_before + 1
    customers = (await api.data(MY_CUSTOMERS, token=world.inviter.token))["myCustomers"]
    assert customers["totalCount"] == 1
    viewer = (await api.data(VIEWER, token=succeeded[0]["token"]))["viewer"]
    assert len(viewer["memberships"]) == 1


async def test_the_slower_of_two_accepts_is_told_the_link_is_used_not_that_the_address_is_taken(
    api, world, monkeypatch
):
    """The race window made deterministic: the second request checks the link before the first
    finishes, and continues only after the first has created the account."""
    from partner_portal.resolvers import invitations as resolver

    original, checked, first_done = resolver._open_invitation, [], asyncio.Event()  # noqa: SLF001 — wrapped to count

    async def second_waits_after_the_check(token: str):
        invitation = await original(token)
        checked.append(token)
        if len(checked) == 2:
            await first_done.wait()
        return invitation

    monkeypatch.setattr(resolver, "_open_invitation", second_waits_after_the_check)
    await invited(api, world.inviter)
    token = await newest_link(api, world.operator, "chris@contoso.example")

    async def first() -> dict:
        try:
            return await accept(api, token, name="Chris One")
        finally:
            first_done.set()

    # When both pass the link check, and the second goes on once the first is through
    winner, loser = await asyncio.gather(first(), accept(api, token, name="Chris Two"))

    # Then the second is told the link was used (the address belongs to the account it made)
    assert winner["errors"] == []
    assert [(e["field"], e["code"]) for e in loser["errors"]] == [("token", "INVITATION_USED")]


# --- resending, revoking, listing, expiring -------------------------------------------------------


async def test_resending_renews_the_expiry_and_replaces_the_link(clock, api, world):
    # Given an invitation sent at START
    invitation = await invited(api, world.inviter)
    old_token = await newest_link(api, world.operator, "chris@contoso.example")

    # When it is resent ten days later
    clock.shift(timedelta(days=10))
    resent = (await api.data(RESEND, {"id": invitation["id"]}, token=world.inviter.token))["resendInvitation"]

    # Then it is open for 14 days from now, with a new link in a new mail
    assert resent["errors"] == []
    assert resent["invitation"]["status"] == "OPEN"
    assert instant(resent["invitation"]["expiresAt"]) == START + timedelta(days=24)
    new_token = await newest_link(api, world.operator, "chris@contoso.example")
    assert new_token != old_token
    mails = [m for m in await outbox(api, world.operator) if m["recipient"] == "chris@contoso.example"]
    assert len(mails) == 2

    # And the old link is unknown now, while the new one works past the first expiry
    assert [e["code"] for e in (await accept(api, old_token))["errors"]] == ["INVALID_TOKEN"]
    clock.move_to(START + timedelta(days=20))
    assert (await accept(api, new_token))["errors"] == []


async def test_an_expired_invitation_can_be_resent_before_and_after_the_expiry_job(clock, api, world):
    # Given two invitations that have expired (only by the clock so far)
    computed = await invited(api, world.inviter, "one@contoso.example")
    marked = await invited(api, world.inviter, "two@contoso.example")
    clock.move_to(START + timedelta(days=15))
    inviter = await fresh(api, world.inviter)
    reviewer = await fresh(api, world.operator)
    assert await statuses(api, inviter) == {"one@contoso.example": "EXPIRED", "two@contoso.example": "EXPIRED"}

    # When the first is resent, then the expiry job marks the other, which is then resent too
    first = (await api.data(RESEND, {"id": computed["id"]}, token=inviter.token))["resendInvitation"]
    assert await run_job("invitations", api.settings) == "1 invitation(s) expired"
    second = (await api.data(RESEND, {"id": marked["id"]}, token=inviter.token))["resendInvitation"]

    # Then both are open again for 14 days from now, and their new links work
    for resent in (first, second):
        assert resent["errors"] == []
        assert resent["invitation"]["status"] == "OPEN"
        assert instant(resent["invitation"]["expiresAt"]) == START + timedelta(days=29)
    for email in ("one@contoso.example", "two@contoso.example"):
        token = await newest_link(api, reviewer, email)
        assert (await accept(api, token, name="New Customer"))["errors"] == []


async def test_resending_an_expired_invitation_cannot_make_a_second_open_one(clock, api, world):
    # Given an expired invitation to Chris, and a newer open one to the same address
    old = await invited(api, world.inviter)
    clock.move_to(START + timedelta(days=15))
    inviter = await fresh(api, world.inviter)
    reviewer = await fresh(api, world.operator)
    new = await invited(api, inviter)
    mails_before = len(await outbox(api, reviewer))

    # When the old one is resent
    resent = (await api.data(RESEND, {"id": old["id"]}, token=inviter.token))["resendInvitation"]

    # Then it is ALREADY_INVITED: the address keeps exactly one open invitation, and no mail went out
    assert [e["code"] for e in resent["errors"]] == ["ALREADY_INVITED"]
    assert [row["id"] for row in await invitations(api, inviter, "OPEN")] == [new["id"]]
    assert [row["id"] for row in await invitations(api, inviter, "EXPIRED")] == [old["id"]]
    assert len(await outbox(api, reviewer)) == mails_before


async def test_revoking_withdraws_the_link(api, world):
    # Given an open invitation
    invitation = await invited(api, world.inviter)
    token = await newest_link(api, world.operator, "chris@contoso.example")

    # When it is revoked
    revoked = (await api.data(REVOKE, {"id": invitation["id"]}, token=world.inviter.token))["revokeInvitation"]

    # Then it is REVOKED, its link says so, and it cannot be revoked or resent again
    assert revoked["errors"] == [] and revoked["invitation"]["status"] == "REVOKED"
    assert [e["code"] for e in (await accept(api, token))["errors"]] == ["INVITATION_REVOKED"]
    again = (await api.data(REVOKE, {"id": invitation["id"]}, token=world.inviter.token))["revokeInvitation"]
    assert [e["code"] for e in again["errors"]] == ["INVITATION_CLOSED"]
    resent = (await api.data(RESEND, {"id": invitation["id"]}, token=world.inviter.token))["resendInvitation"]
    assert [e["code"] for e in resent["errors"]] == ["INVITATION_CLOSED"]
    assert await statuses(api, world.inviter) == {"chris@contoso.example": "REVOKED"}


async def test_an_accepted_invitation_can_be_neither_resent_nor_revoked(api, world):
    # Given an accepted invitation
    invitation = await invited(api, world.inviter)
    await accept(api, await newest_link(api, world.operator, "chris@contoso.example"))
    mails_before = len(await outbox(api, world.operator))

    # When the partner tries to resend or revoke it
    resent = (await api.data(RESEND, {"id": invitation["id"]}, token=world.inviter.token))["resendInvitation"]
    revoked = (await api.data(REVOKE, {"id": invitation["id"]}, token=world.inviter.token))["revokeInvitation"]

    # Then both are INVITATION_CLOSED, and nothing changed or was sent
    assert [e["code"] for e in resent["errors"]] == ["INVITATION_CLOSED"]
    assert [e["code"] for e in revoked["errors"]] == ["INVITATION_CLOSED"]
    assert await statuses(api, world.inviter) == {"chris@contoso.example": "ACCEPTED"}
    assert len(await outbox(api, world.operator)) == mails_before

    # And it stays closed (not "already invited") once the address has a newer open invitation
    await invited(api, world.inviter, organization_name="Contoso Subsidiary")
    resent = (await api.data(RESEND, {"id": invitation["id"]}, token=world.inviter.token))["resendInvitation"]
    assert [e["code"] for e in resent["errors"]] == ["INVITATION_CLOSED"]


async def test_only_the_partners_inviters_resend_and_revoke(api, world):
    # Given an invitation of Northwind, and people who may not touch it
    invitation = await invited(api, world.inviter)
    administer_only = await register(api, "ari@northwind.example", "Ari Administer")
    await add_member(
        api, world.partner.admin, world.partner.id, administer_only.email, partner_permissions=["ADMINISTER_CUSTOMERS"]
    )
    other = await make_partner(api, world.operator, "admin@fabrikam.example", "Fabrikam Services")

    # When / Then: another partner does not even see it; a colleague without the permission is refused
    for mutation in (RESEND, REVOKE):
        assert await api.error_code(mutation, {"id": invitation["id"]}, token=other.admin.token) == "NOT_FOUND"
        assert await api.error_code(mutation, {"id": invitation["id"]}, token=administer_only.token) == "FORBIDDEN"
        assert await api.error_code(mutation, {"id": invitation["id"]}) == "UNAUTHENTICATED"
    assert await api.error_code(INVITATION_NODE, {"id": invitation["id"]}, token=other.admin.token) == "NOT_FOUND"
    assert await api.error_code(INVITATION_NODE, {"id": invitation["id"]}, token=administer_only.token) == "NOT_FOUND"
    assert await invitations(api, other.admin) == []
    # And it is unchanged
    assert await statuses(api, world.inviter) == {"chris@contoso.example": "OPEN"}


async def test_the_status_filter_and_the_idempotent_expiry_job(clock, api, world):
    # Given, over time: one invitation that expires, then an accepted, a revoked and an open one
    await invited(api, world.inviter, "expired@contoso.example")
    clock.move_to(START + timedelta(days=10))
    await invited(api, world.inviter, "accepted@contoso.example")
    await invited(api, world.inviter, "revoked@contoso.example")
    await invited(api, world.inviter, "open@contoso.example")
    await accept(api, await newest_link(api, world.operator, "accepted@contoso.example"))
    revoked_id = next(r["id"] for r in await invitations(api, world.inviter) if r["email"].startswith("revoked"))
    await api.data(REVOKE, {"id": revoked_id}, token=world.inviter.token)
    clock.move_to(START + timedelta(days=14, seconds=1))
    inviter = await fresh(api, world.inviter)

    async def by_status() -> dict[str | None, list[str]]:
        return {
            status: sorted(row["email"].split("@")[0] for row in await invitations(api, inviter, status))
            for status in (None, "OPEN", "EXPIRED", "ACCEPTED", "REVOKED")
        }

    expected = {
        None: ["accepted", "expired", "open", "revoked"],
        "OPEN": ["open"],
        "EXPIRED": ["expired"],
        "ACCEPTED": ["accepted"],
        "REVOKED": ["revoked"],
    }

    # Then the filter computes EXPIRED from the clock before any job ran
    assert await by_status() == expected
    # And the job marks it once, a second run finds nothing, the answers stay the same
    assert await run_job("invitations", api.settings) == "1 invitation(s) expired"
    assert await by_status() == expected
    assert await run_job("invitations", api.settings) == "0 invitation(s) expired"
    assert await by_status() == expected

    # When even the last open one is past due, the job takes only that one: accepted and revoked stay
    clock.move_to(START + timedelta(days=24, seconds=1))
    inviter = await fresh(api, inviter)
    assert await statuses(api, inviter) == {
        "expired@contoso.example": "EXPIRED",
        "accepted@contoso.example": "ACCEPTED",
        "revoked@contoso.example": "REVOKED",
        "open@contoso.example": "EXPIRED",
    }
    assert await run_job("invitations", api.settings) == "1 invitation(s) expired"
    assert await run_job("invitations", api.settings) == "0 invitation(s) expired"
    assert [r["email"] for r in await invitations(api, inviter, "OPEN")] == []
    assert sorted(r["email"] for r in await invitations(api, inviter, "EXPIRED")) == [
        "expired@contoso.example",
        "open@contoso.example",
    ]


# --- the real mail ---------------------------------------------------------------------------------


@pytest.fixture
async def mail_api(database_url, smtp_server):
    async for running in start_api(
        test_settings(database_url, smtp_url=smtp_server.url, public_url="https://partners.vendor.test/")
    ):
        yield running


async def test_the_invitation_arrives_over_smtp_and_its_link_registers_the_customer(mail_api, smtp_server):
    # Given a service partner's administrator
    api = mail_api
    partner = await make_partner(api, await operator(api))

    # When they invite Chris and the outbox worker runs
    await invited(api, partner.admin, message="See you soon")
    await run_job("outbox", api.settings)

    # Then exactly one mail reached Chris's address, with the link on the public URL in both parts
    assert [rcpts for _, rcpts in smtp_server.envelopes].count(["chris@contoso.example"]) == 1
    [mail] = [m for m in smtp_server.messages if m["To"] == "chris@contoso.example"]
    assert "Contoso Ltd" in mail["Subject"]
    text = mail.get_body(("plain",)).get_content()
    html = mail.get_body(("html",)).get_content()
    token = re.search(r"https://partners\.vendor\.test/invitations/accept\?token=(ppi_[A-Za-z0-9_-]+)", text).group(1)
    assert f"https://partners.vendor.test/invitations/accept?token={token}" in html
    assert "See you soon" in text

    # And the link from the mail registers Chris
    accepted = await accept(api, token)
    assert accepted["errors"] == [] and accepted["organization"]["name"] == "Contoso Ltd"


# --- mail rates ------------------------------------------------------------------------------------


@pytest.fixture
async def rated_api(database_url):
    async for running in start_api(
        test_settings(database_url, mail_invitation_rate="3/hour", mail_recipient_rate="2/day")
    ):
        yield running


async def test_invitation_mails_are_rated_per_sending_organization_and_per_address(clock, rated_api):
    api = rated_api
    reviewer = await operator(api)
    partner = await make_partner(api, reviewer)
    other = await make_partner(api, reviewer, "admin@fabrikam.example", "Fabrikam")

    # An address gets 2 invitation mails a day, whoever sends them (a resend is one)
    invitation = await invited(api, partner.admin, "chris@contoso.example")
    await api.data(RESEND, {"id": invitation["id"]}, token=partner.admin.token)
    assert await api.error_code(RESEND, {"id": invitation["id"]}, token=partner.admin.token) == "THROTTLED"
    variables = {"input": {"email": "chris@contoso.example", "organizationName": "Contoso"}}
    refused = await api.post(INVITE_CUSTOMER, variables, token=other.admin.token)
    assert refused["errors"][0]["extensions"]["code"] == "THROTTLED"
    assert "try again in" in refused["errors"][0]["message"]

    # An organization sends 3 invitation mails an hour, to customers and to members alike
    await invited(api, partner.admin, "dana@contoso.example")
    member = {"input": {"organizationId": partner.id, "email": "erin@northwind.example"}}
    assert await api.error_code(ADD_MEMBER, member, token=partner.admin.token) == "THROTTLED"
    assert (await invite(api, other.admin, "erin@northwind.example"))["errors"] == []

    # Nothing refused was mailed, and the next hour brings room again
    mailed = [m["recipient"] for m in await outbox(api, reviewer) if "ppi_" in m["textBody"] or "ppm_" in m["textBody"]]
    assert sorted(mailed) == [
        "chris@contoso.example",
        "chris@contoso.example",
        "dana@contoso.example",
        "erin@northwind.example",
    ]
    clock.shift(timedelta(hours=1))
    admin = await fresh(api, partner.admin)
    assert (await api.data(ADD_MEMBER, member, token=admin.token))["addMember"]["errors"] == []


ACCEPT_WITH_MEMBERSHIPS = """
mutation Accept($input: AcceptInvitationInput!) {
  acceptInvitation(input: $input) {
    organization { name viewerMembership { role } }
    user { email memberships { role organization { name } } }
    errors { code }
  }
}"""


async def test_the_accept_payload_answers_as_the_new_user(api, world):
    await invited(api, world.inviter)
    token = await newest_link(api, world.operator, "chris@contoso.example")
    variables = {"input": {"token": token, "name": "Chris Contoso", "password": PASSWORD}}

    accepted = (await api.data(ACCEPT_WITH_MEMBERSHIPS, variables))["acceptInvitation"]

    assert accepted["errors"] == []
    assert accepted["organization"] == {"name": "Contoso Ltd", "viewerMembership": {"role": "ADMINISTRATOR"}}
    assert accepted["user"] == {
        "email": "chris@contoso.example",
        "memberships": [{"role": "ADMINISTRATOR", "organization": {"name": "Contoso Ltd"}}],
    }


PREVIEW = """
query Preview($token: String!) {
  invitationPreview(token: $token) { partnerName email organizationName message status expiresAt }
}"""


async def test_the_link_shows_its_invitation_before_it_is_accepted(api, world):
    await invited(api, world.inviter, message="Welcome aboard")
    token = await newest_link(api, world.operator, "chris@contoso.example")

    before = (await api.data(PREVIEW, {"token": token}))["invitationPreview"]
    await accept(api, token)
    after = (await api.data(PREVIEW, {"token": token}))["invitationPreview"]
    unknown = (await api.data(PREVIEW, {"token": "ppi_" + secrets.token_urlsafe(32)}))["invitationPreview"]
    foreign = (await api.data(PREVIEW, {"token": "not a token"}))["invitationPreview"]

    assert before["partnerName"] == "Northwind Partners"
    assert (before["email"], before["organizationName"], before["message"]) == (
        "chris@contoso.example",
        "Contoso Ltd",
        "Welcome aboard",
    )
    assert (before["status"], after["status"]) == ("OPEN", "ACCEPTED")
    assert unknown is None and foreign is None


async def test_guessing_invitation_tokens_is_throttled(database_url):
    async for api in start_api(test_settings(database_url, code_lookup_rate="2/minute")):
        answers = [await api.post(PREVIEW, {"token": f"ppi_guess{i}"}) for i in range(3)]

        assert [answer.get("errors") is None for answer in answers] == [True, True, False]
        assert answers[2]["errors"][0]["extensions"]["code"] == "THROTTLED"
