"""Verified email addresses: the link mailed after registering, a new link, a change of address, and what an
unverified account may not do (apply for partner status, act for a partner: payouts, partner permissions)."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest

from partner_portal.resolvers.jobs import run_job
from tests.conftest import PASSWORD, Api, start_api, test_settings
from tests.customer_invitations import accept, invited, newest_link
from tests.documents import (
    ACCEPT_MEMBERSHIP,
    ADD_MEMBER,
    APPROVE_PARTNER_APPLICATION,
    LOGIN,
    REGISTER,
    REQUEST_PARTNER_STATUS,
    VERIFY_EMAIL,
)
from tests.support import (
    APPLICATION_FORM,
    Person,
    create_organization,
    invite_member,
    make_partner,
    membership_link_token,
    operator,
    register,
    verification_token,
)

VIEWER = "{ viewer { email emailVerified } }"
RESEND = "mutation { resendVerificationEmail { email errors { field code message } } }"
CHANGE_EMAIL = """
mutation Change($input: ChangeEmailInput!) {
  changeEmail(input: $input) { pendingEmail errors { field code message } }
}"""
SET_PAYOUT_SETTINGS = """
mutation Set($input: SetPayoutSettingsInput!) {
  setPayoutSettings(input: $input) { payoutSettings { method } errors { field code message } }
}"""
REQUEST_PAYOUT = """
mutation Request($input: RequestPayoutInput!) {
  requestPayout(input: $input) { payout { id } errors { field code message } }
}"""
PAYPAL = {"method": "PAYPAL", "paypalEmail": "payouts@example.com"}
REGISTER_SHOWING_VERIFICATION = REGISTER.replace("user { id email name }", "user { id email name emailVerified }")


async def unverified(api: Api, email: str, name: str = "Una Verified") -> Person:
    """A person who registered and did not open the link mailed to them."""
    payload = (
        await api.data(REGISTER_SHOWING_VERIFICATION, {"input": {"email": email, "password": PASSWORD, "name": name}})
    )["register"]
    assert payload["errors"] == [] and payload["user"]["emailVerified"] is False
    return Person(email, payload["token"], payload["user"]["id"])


async def viewer(api: Api, person: Person) -> dict:
    return (await api.data(VIEWER, token=person.token))["viewer"]


async def verify(api: Api, link_token: str, session: str | None = None) -> dict:
    return (await api.data(VERIFY_EMAIL, {"token": link_token}, token=session))["verifyEmail"]


def refusal(body: dict) -> tuple[str, dict | None, str]:
    """The code, `extensions.missing` and message of a response's first error."""
    error = body["errors"][0]
    return error["extensions"]["code"], error["extensions"].get("missing"), error["message"]


def codes(payload: dict) -> list[str]:
    return [error["code"] for error in payload["errors"]]


# --- the mailed link -------------------------------------------------------------------------------


@pytest.fixture
async def mail_api(database_url, smtp_server):
    async for running in start_api(
        test_settings(database_url, smtp_url=smtp_server.url, public_url="https://partners.vendor.test/")
    ):
        yield running


async def test_registering_mails_a_link_over_smtp_that_verifies_the_address_without_signing_in(mail_api, smtp_server):
    # Given a new account, which starts unverified
    api = mail_api
    person = await unverified(api, "una@example.com")
    assert await viewer(api, person) == {"email": "una@example.com", "emailVerified": False}

    # When the outbox worker runs
    await run_job("outbox", api.settings)

    # Then the verification mail reached the address, its link on the public URL's verification page
    [mail] = [m for m in smtp_server.messages if m["To"] == "una@example.com"]
    assert mail["Subject"] == "Verify your partner portal email address"
    text = mail.get_body(("plain",)).get_content()
    found = re.search(r"https://partners\.vendor\.test/email/verify\?token=(ppv_[A-Za-z0-9_-]+)", text)
    assert found and f"https://partners.vendor.test/email/verify?token={found.group(1)}" in (
        mail.get_body(("html",)).get_content()
    )

    # And the link verifies the address, for whoever opens it
    verified = await verify(api, found.group(1))
    assert verified == {"user": {"id": person.user_id, "email": "una@example.com", "emailVerified": True}, "errors": []}
    assert await viewer(api, person) == {"email": "una@example.com", "emailVerified": True}


async def test_a_link_works_once(api):
    # Given a verified address
    person = await unverified(api, "una@example.com")
    token = await verification_token(person.email)
    assert (await verify(api, token, session=person.token))["errors"] == []

    # When the link is used again
    again = await verify(api, token)

    # Then it is refused
    assert codes(again) == ["TOKEN_USED"] and again["user"] is None


async def test_a_link_expires_after_48_hours(api, clock):
    # Given an unverified account, 48 hours after its link was mailed
    person = await unverified(api, "una@example.com")
    token = await verification_token(person.email)
    clock.shift(timedelta(hours=48))

    # When the link is used
    late = await verify(api, token)

    # Then it has expired, and the address stays unverified
    assert codes(late) == ["TOKEN_EXPIRED"]
    assert (await viewer(api, person))["emailVerified"] is False


@pytest.mark.parametrize("token", ["ppv_unknown", "pps_not-a-verification-link", "ppv_" + "x" * 200])
async def test_an_unknown_or_malformed_link_is_refused(api, token):
    assert codes(await verify(api, token)) == ["INVALID_TOKEN"]


# --- a new link ------------------------------------------------------------------------------------


async def test_a_new_link_replaces_the_old_one(api):
    # Given an unverified account that asks for a new link
    person = await unverified(api, "una@example.com")
    first = await verification_token(person.email)
    resent = (await api.data(RESEND, token=person.token))["resendVerificationEmail"]
    assert resent == {"email": "una@example.com", "errors": []}
    second = await verification_token(person.email)

    # Then the old link no longer works and the new one verifies
    assert second != first
    assert codes(await verify(api, first)) == ["INVALID_TOKEN"]
    assert (await verify(api, second))["user"]["emailVerified"] is True


async def test_a_verified_account_without_a_pending_change_gets_no_link(api):
    person = await register(api, "vera@example.com")

    resent = (await api.data(RESEND, token=person.token))["resendVerificationEmail"]

    assert codes(resent) == ["ALREADY_VERIFIED"]


async def test_new_links_are_rated_per_account(api):
    # Given an account that asked for five new links within the hour (MAIL_VERIFICATION_RATE)
    person = await unverified(api, "una@example.com")
    for _ in range(5):
        assert (await api.data(RESEND, token=person.token))["resendVerificationEmail"]["errors"] == []

    # When it asks for a sixth
    body = await api.post(RESEND, token=person.token)

    # Then it is throttled
    assert refusal(body)[0] == "THROTTLED"


async def test_asking_for_a_link_takes_a_signed_in_user(api):
    assert await api.error_code(RESEND) == "UNAUTHENTICATED"


# --- a change of address ---------------------------------------------------------------------------


async def change_email(api: Api, person: Person, new_email: str, password: str = PASSWORD) -> dict:
    variables = {"input": {"newEmail": new_email, "password": password}}
    return (await api.data(CHANGE_EMAIL, variables, token=person.token))["changeEmail"]


async def test_the_address_changes_when_the_link_mailed_to_the_new_one_is_used_and_the_old_one_is_told(
    mail_api, smtp_server
):
    # Given a verified account that asks to change its address
    api = mail_api
    person = await register(api, "vera@example.com")
    assert await change_email(api, person, "  Vera@Example.ORG ") == {"pendingEmail": "vera@example.org", "errors": []}

    # Then until the link is used, the account keeps its address
    assert await viewer(api, person) == {"email": "vera@example.com", "emailVerified": True}

    # When the link mailed to the new address is used
    await run_job("outbox", api.settings)
    [link_mail] = [m for m in smtp_server.messages if m["To"] == "vera@example.org"]
    assert link_mail["Subject"] == "Confirm your new partner portal address"
    token = re.search(r"/email/verify\?token=(ppv_[\w-]+)", link_mail.get_body(("plain",)).get_content()).group(1)
    verified = await verify(api, token)

    # Then the new address is the account's, verified, and signs in; the old one does not
    assert verified["user"] == {"id": person.user_id, "email": "vera@example.org", "emailVerified": True}
    signed_in = (await api.data(LOGIN, {"input": {"email": "vera@example.org", "password": PASSWORD}}))["login"]
    assert signed_in["errors"] == []
    old = (await api.data(LOGIN, {"input": {"email": "vera@example.com", "password": PASSWORD}}))["login"]
    assert codes(old) == ["INVALID_CREDENTIALS"]

    # And the old address was told, with the new one
    await run_job("outbox", api.settings)
    [notice] = [m for m in smtp_server.messages if m["To"] == "vera@example.com"]
    assert notice["Subject"] == "The address of your partner portal account was changed"
    assert "vera@example.org" in notice.get_body(("plain",)).get_content()


async def test_a_wrong_password_changes_nothing(api):
    person = await register(api, "vera@example.com")

    changed = await change_email(api, person, "vera@example.org", password="not-the-Password-42")

    assert changed == {
        "pendingEmail": None,
        "errors": [{"field": "password", "code": "INVALID_CREDENTIALS", "message": "The password is wrong."}],
    }


async def test_an_address_of_another_account_is_refused(api):
    # The caller proved its password, so it may learn that the address has an account (as `register` says).
    person = await register(api, "vera@example.com")
    await register(api, "otto@example.com")

    changed = await change_email(api, person, "OTTO@example.com")

    assert codes(changed) == ["EMAIL_TAKEN"]


async def test_a_link_to_an_address_taken_meanwhile_is_refused(api):
    # Given a pending change to an address that another account registered since
    person = await register(api, "vera@example.com")
    await change_email(api, person, "vera@example.org")
    token = await verification_token("vera@example.org")
    await register(api, "vera@example.org", "Another Vera")

    # When the link is used
    late = await verify(api, token)

    # Then it is refused, and the account keeps its address
    assert codes(late) == ["EMAIL_TAKEN"]
    assert (await viewer(api, person))["email"] == "vera@example.com"


async def test_a_pending_change_is_mailed_again_to_the_new_address(api):
    person = await register(api, "vera@example.com")
    await change_email(api, person, "vera@example.org")

    resent = (await api.data(RESEND, token=person.token))["resendVerificationEmail"]

    assert resent == {"email": "vera@example.org", "errors": []}


async def test_an_unverified_account_may_correct_its_address(api):
    # Given an account registered with a mistyped address
    person = await unverified(api, "una@exmaple.com")

    # When it changes the address and uses the link mailed to the new one
    await change_email(api, person, "una@example.com")
    verified = await verify(api, await verification_token("una@example.com"))

    # Then the corrected address is the account's, verified
    assert verified["user"]["email"] == "una@example.com" and verified["user"]["emailVerified"] is True


# --- other ways an address is proved ---------------------------------------------------------------


async def test_accepting_a_membership_invitation_mailed_to_the_address_verifies_it(api):
    # Given an unverified person invited to an organization
    admin = await register(api, "avery@contoso.example")
    organization = await create_organization(api, admin, "Contoso")
    person = await unverified(api, "una@contoso.example")
    await invite_member(api, admin, organization["id"], person.email)

    # When they accept the link mailed to their address
    token = await membership_link_token(person.email)
    accepted = (await api.data(ACCEPT_MEMBERSHIP, {"token": token}, token=person.token))["acceptMembershipInvitation"]

    # Then the address is verified
    assert accepted["errors"] == []
    assert (await viewer(api, person))["emailVerified"] is True


async def test_a_customer_who_signs_up_through_a_partners_invitation_is_verified(api):
    # Given a partner's invitation mailed to Chris
    partner = await make_partner(api, await operator(api))
    await invited(api, partner.admin, "chris@contoso.example")
    token = await newest_link(api, await operator(api, "rita@vendor.example"), "chris@contoso.example")

    # When Chris signs up with its link
    accepted = await accept(api, token)

    # Then the new account's address is verified
    assert accepted["errors"] == []
    chris = Person("chris@contoso.example", accepted["token"], accepted["user"]["id"])
    assert await viewer(api, chris) == {"email": "chris@contoso.example", "emailVerified": True}


async def test_an_invitation_accepted_by_a_signed_in_account_of_another_address_verifies_nothing(api):
    # Given an unverified person who accepts, signed in, an invitation mailed to another address
    partner = await make_partner(api, await operator(api))
    await invited(api, partner.admin, "chris@contoso.example")
    token = await newest_link(api, await operator(api, "rita@vendor.example"), "chris@contoso.example")
    una = await unverified(api, "una@contoso.example")

    # When it accepts the invitation
    assert (await accept(api, token, name=None, password=None, signed_in=una))["errors"] == []

    # Then its own address stays unverified
    assert (await viewer(api, una))["emailVerified"] is False


# --- what an unverified account may not do ---------------------------------------------------------


def application(organization_id: str) -> dict:
    return {"input": {**APPLICATION_FORM, "organizationId": organization_id}}


async def test_an_unverified_account_cannot_apply_for_partner_status_until_it_verifies(api):
    # Given an unverified administrator of an organization
    person = await unverified(api, "una@northwind.example")
    organization = await create_organization(api, person, "Northwind")

    # When it applies
    body = await api.post(REQUEST_PARTNER_STATUS, application(organization["id"]), token=person.token)

    # Then it is refused, saying what is missing
    code, missing, message = refusal(body)
    assert (code, missing) == ("FORBIDDEN", {"kind": "VERIFIED_EMAIL"})
    assert message.startswith("Verify your email address first: applying for partner status")

    # And once the address is verified, the application goes in
    await verify(api, await verification_token(person.email))
    applied = (await api.data(REQUEST_PARTNER_STATUS, application(organization["id"]), token=person.token))[
        "requestPartnerStatus"
    ]
    assert applied["errors"] == [] and applied["application"]["status"] == "PENDING"


async def _unverified_partner_administrator(api: Api) -> tuple[Person, str]:
    """Una, unverified, created an organization; Vera (verified, invited with REQUEST_PARTNER_STATUS)
    applied for it, and an operator approved: Una is an unverified administrator of a partner."""
    una = await unverified(api, "una@northwind.example")
    organization = await create_organization(api, una, "Northwind")
    vera = await register(api, "vera@northwind.example")
    await invite_member(api, una, organization["id"], vera.email, organization_permissions=["REQUEST_PARTNER_STATUS"])
    token = await membership_link_token(vera.email)
    assert (await api.data(ACCEPT_MEMBERSHIP, {"token": token}, token=vera.token))["acceptMembershipInvitation"][
        "errors"
    ] == []
    applied = (await api.data(REQUEST_PARTNER_STATUS, application(organization["id"]), token=vera.token))[
        "requestPartnerStatus"
    ]
    reviewer = await operator(api)
    approval = {
        "input": {"applicationId": applied["application"]["id"], "programs": ["AFFILIATE"], "payoutCurrency": "EUR"}
    }
    approved = await api.data(APPROVE_PARTNER_APPLICATION, approval, token=reviewer.token)
    assert approved["approvePartnerApplication"]["errors"] == []
    return una, organization["id"]


@pytest.mark.parametrize(
    ("document", "variables"),
    [
        (SET_PAYOUT_SETTINGS, {"input": PAYPAL}),
        (REQUEST_PAYOUT, {"input": {}}),
    ],
    ids=["setPayoutSettings", "requestPayout"],
)
async def test_an_unverified_partner_administrator_is_not_paid_out_until_it_verifies(api, document, variables):
    # Given an unverified administrator of a partner
    una, _ = await _unverified_partner_administrator(api)

    # When it changes the payout settings or requests a payout
    body = await api.post(document, variables, token=una.token)

    # Then it is refused, saying what is missing
    code, missing, message = refusal(body)
    assert (code, missing) == ("FORBIDDEN", {"kind": "VERIFIED_EMAIL"})
    assert message.startswith("Verify your email address first")

    # And once verified, the partner side is open to it (a payout then meets only the partner's own state)
    await verify(api, await verification_token(una.email))
    allowed = await api.post(document, variables, token=una.token)
    assert not allowed.get("errors"), allowed
    field = next(iter(allowed["data"]))
    assert set(codes(allowed["data"][field])) <= {"NO_PAYOUT_SETTINGS", "NO_EXCHANGE_RATE", "BELOW_THRESHOLD"}


async def test_an_unverified_partner_administrator_cannot_grant_partner_permissions(api):
    # Given an unverified administrator of a partner: its partner permissions are not in force
    una, partner_id = await _unverified_partner_administrator(api)

    # When it invites a member with a partner permission
    variables = {
        "input": {
            "organizationId": partner_id,
            "email": "mo@northwind.example",
            "role": "MEMBER",
            "organizationPermissions": [],
            "partnerPermissions": ["MANAGE_PARTNER_PORTAL"],
        }
    }

    # Then it is refused
    assert await api.error_code(ADD_MEMBER, variables, token=una.token) == "FORBIDDEN"

    # And once verified, the invitation goes out
    await verify(api, await verification_token(una.email))
    assert (await api.data(ADD_MEMBER, variables, token=una.token))["addMember"]["errors"] == []
