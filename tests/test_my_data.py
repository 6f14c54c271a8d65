"""My data: the export of what the portal holds about the viewer, and deleting the account."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from partner_portal.models.audit import AuditEvent
from partner_portal.models.clock import now
from partner_portal.models.commissions import Commission
from partner_portal.models.identity import SessionToken, User
from partner_portal.models.organizations import MembershipInvitation
from partner_portal.models.outbox import OutboxMessage
from partner_portal.models.partners import PartnerApplication
from partner_portal.models.payouts import Payout
from partner_portal.permissions.actor import Actor
from partner_portal.permissions.enums import Via
from partner_portal.resolvers.my_data import remove_operator
from tests.conftest import PASSWORD, start_api, test_settings
from tests.documents import LOGIN
from tests.support import (
    Person,
    add_member,
    create_api_key,
    create_organization,
    invite_member,
    make_partner,
    operator,
    pk,
    register,
)

EXPORT = "query { viewerDataExport }"
DELETE = """
mutation Delete($input: DeleteAccountInput!) {
  deleteAccount(input: $input) { deletedAt errors { field code message } }
}"""
VIEWER = "query { viewer { id } }"
LEAVE = """
mutation Leave($input: LeaveOrganizationInput!) { leaveOrganization(input: $input) { errors { code } } }"""
SESSION_NODE = "query Session($id: ID!) { node(id: $id) { id ... on SessionToken { current } } }"
AUDIT_LOG = "query { auditEvents(first: 100) { edges { node { action actor { id name email } } } } }"
ORGANIZATION_NODE = "query Organization($id: ID!) { node(id: $id) { ... on Organization { name } } }"


async def _export(api, person: Person) -> dict:
    return (await api.data(EXPORT, token=person.token))["viewerDataExport"]


async def _delete(api, person: Person, password: str | None = PASSWORD, confirmation: str = "DELETE") -> dict:
    variables = {"input": {"password": password, "confirmation": confirmation}}
    return (await api.data(DELETE, variables, token=person.token))["deleteAccount"]


def _codes(payload: dict) -> list[tuple[str | None, str]]:
    return [(error["field"], error["code"]) for error in payload["errors"]]


async def _login(api, email: str) -> dict:
    return (await api.data(LOGIN, {"input": {"email": email, "password": PASSWORD}}))["login"]


# --- the export ----------------------------------------------------------------------------------


async def test_the_export_holds_the_viewers_memberships_sessions_and_actions(api):
    # given
    ann = await register(api, "ann@example.com", "Ann Owner")
    shop = await create_organization(api, ann, "Ann's Shop")
    await add_member(api, ann, shop["id"], (await register(api, "bob@example.com", "Bob Member")).email)

    # when
    export = await _export(api, ann)

    # then
    account = export["account"]["data"]
    assert (account["id"], account["email"], account["name"]) == (ann.user_id, "ann@example.com", "Ann Owner")
    assert account["hasPassword"] is True
    assert [m["organization"] for m in export["memberships"]["items"]] == [{"id": shop["id"], "name": "Ann's Shop"}]
    assert export["memberships"]["items"][0]["role"] == "ADMINISTRATOR"
    assert export["sessions"]["total"] == 1
    session_id = export["sessions"]["items"][0]["id"]
    session = (await api.data(SESSION_NODE, {"id": session_id}, token=ann.token))["node"]
    assert session == {"id": session_id, "current": True}  # the API's own global ids
    actions = {event["action"] for event in export["auditEvents"]["items"]}
    assert {"user.register", "organization.create", "membership_invitation.create"} <= actions
    assert all(section["purpose"] for name, section in export.items() if isinstance(section, dict))
    assert export["exportedAt"].endswith("Z")


async def test_the_export_holds_nothing_of_another_user(api):
    # given: Bob is in Ann's organization, and Ann's actions concern him
    ann = await register(api, "ann@example.com", "Ann Owner")
    shop = await create_organization(api, ann, "Ann's Shop")
    bob = await register(api, "bob@example.com", "Bob Member")
    bobs_membership = await add_member(api, ann, shop["id"], bob.email)

    # when
    text = json.dumps(await _export(api, ann))

    # then
    for trace in ("bob@example.com", "Bob Member", bob.user_id, bobs_membership["id"]):
        assert trace not in text


async def test_the_export_of_an_invitee_holds_the_invitations_to_its_address(api):
    # given
    ann = await register(api, "ann@example.com")
    shop = await create_organization(api, ann, "Ann's Shop")
    await invite_member(api, ann, shop["id"], "carol@example.com")
    carol = await register(api, "carol@example.com")

    # when
    export = await _export(api, carol)

    # then
    [invitation] = export["membershipInvitations"]["items"]
    assert (invitation["organization"]["name"], invitation["status"]) == ("Ann's Shop", "OPEN")
    assert "membership_invitation" in {mail["template"] for mail in export["mails"]["items"]}
    assert export["memberships"] == {**export["memberships"], "total": 0, "items": []}


async def test_anonymous_callers_and_api_keys_have_no_data_to_export_or_account_to_delete(api):
    key = await create_api_key(api, await operator(api), ["REPORTS_READ"])
    variables = {"input": {"password": PASSWORD, "confirmation": "DELETE"}}

    assert await api.error_code(EXPORT) == "UNAUTHENTICATED"
    assert await api.error_code(EXPORT, api_key=key) == "UNAUTHENTICATED"
    assert await api.error_code(DELETE, variables) == "UNAUTHENTICATED"
    assert await api.error_code(DELETE, variables, api_key=key) == "UNAUTHENTICATED"


# --- what keeps an account ---------------------------------------------------------------------------


async def test_deleting_takes_the_password_and_the_typed_word(api):
    ann = await register(api, "ann@example.com")

    assert _codes(await _delete(api, ann, password="not-the-Password-1")) == [("password", "INVALID_CREDENTIALS")]
    assert _codes(await _delete(api, ann, password=None)) == [("password", "REQUIRED")]
    assert _codes(await _delete(api, ann, confirmation="yes")) == [("confirmation", "INVALID_VALUE")]
    assert (await _login(api, "ann@example.com"))["errors"] == []  # nothing was deleted


async def test_the_only_administrator_of_an_organization_with_members_hands_over_first(api):
    # given
    ann = await register(api, "ann@example.com")
    shop = await create_organization(api, ann, "Ann's Shop")
    bob = await register(api, "bob@example.com")
    await add_member(api, ann, shop["id"], bob.email)

    # when
    refused = await _delete(api, ann)

    # then
    assert _codes(refused) == [(None, "LAST_ADMINISTRATOR")]
    assert "Ann's Shop" in refused["errors"][0]["message"]
    assert refused["deletedAt"] is None
    # a member may go; then Ann is the only member, and her organization stays without members
    assert (await _delete(api, bob))["errors"] == []
    assert (await _delete(api, ann))["errors"] == []
    olivia = await operator(api)
    assert (await api.data(ORGANIZATION_NODE, {"id": shop["id"]}, token=olivia.token))["node"] == {"name": "Ann's Shop"}


async def test_an_operator_is_removed_from_the_operators_before_deleting(api):
    olivia = await operator(api)

    assert _codes(await _delete(api, olivia)) == [(None, "OPERATOR_ACCOUNT")]

    assert await remove_operator(Actor(via=Via.CLI), olivia.email)  # what `partner-portal remove-operator` does
    assert (await _delete(api, olivia))["errors"] == []


async def test_with_a_second_factor_the_session_must_have_proved_it(api):
    # given: two-factor sign-in set up, a session that did not prove it
    ann = await register(api, "ann@example.com")
    await User.filter(id=pk(ann.user_id)).update(totp_enabled_at=now())

    # when
    body = await api.post(DELETE, {"input": {"password": PASSWORD, "confirmation": "DELETE"}}, token=ann.token)

    # then
    assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    assert body["errors"][0]["extensions"]["missing"] == {"kind": "SECOND_FACTOR"}
    await SessionToken.filter(user_id=pk(ann.user_id)).update(two_factor_at=now())
    assert (await _delete(api, ann))["errors"] == []


# --- what deleting does ------------------------------------------------------------------------------


async def test_a_deleted_account_cannot_sign_in_and_its_address_registers_anew(api):
    # given
    ann = await register(api, "ann@example.com", "Ann Owner")

    # when
    deleted = await _delete(api, ann)

    # then
    assert deleted["errors"] == [] and deleted["deletedAt"]
    assert (await _login(api, "ann@example.com"))["errors"][0]["code"] == "INVALID_CREDENTIALS"
    assert (await api.post(VIEWER, token=ann.token))["data"]["viewer"] is None  # the session ended
    again = await register(api, "ann@example.com", "Ann Again")
    assert again.user_id != ann.user_id
    export = await _export(api, again)
    assert export["account"]["data"]["name"] == "Ann Again"
    actions = [event["action"] for event in export["auditEvents"]["items"]]
    assert actions.count("user.register") == 1 and "user.delete" not in actions  # none of the old account's


async def test_deleting_keeps_the_ledger_and_the_audit_log_under_a_pseudonym(api, clock):
    # given: Avery, the only member of a partner, is its application's contact, has commission and a
    # payout she requested, and an open invitation from another organization
    olivia = await operator(api)
    partner = await make_partner(api, olivia, admin_email="avery@northwind.example")
    avery = partner.admin
    partner_pk = pk(partner.id)
    await Commission.create(
        source_key="test:1", partner_id=partner_pk, type="SELF", status="PAID", amount=12345, currency="EUR",
        created_at=now(),
    )  # fmt: skip
    await Payout.create(
        partner_id=partner_pk, status="PAID", amount=12345, currency="EUR", method="BANK_TRANSFER",
        destination={"iban": "DE89370400440532013000"}, requested_by_id=pk(avery.user_id), requested_at=now(),
    )  # fmt: skip
    dana = await register(api, "dana@example.com")
    await invite_member(api, dana, (await create_organization(api, dana, "Dana's"))["id"], avery.email)
    ledger = [
        await Commission.filter(partner_id=partner_pk).values(),
        await Payout.filter(partner_id=partner_pk).values(),
    ]

    # when
    assert (await _delete(api, avery))["errors"] == []

    # then: the ledger is as it was, the organization stays
    assert [
        await Commission.filter(partner_id=partner_pk).values(),
        await Payout.filter(partner_id=partner_pk).values(),
    ] == ledger
    assert (await api.data(ORGANIZATION_NODE, {"id": partner.id}, token=olivia.token))["node"]["name"]
    # the account is a pseudonym, and the audit log still holds its actions under it
    pseudonym = f"deleted-{pk(avery.user_id)}@invalid"
    assert await User.filter(id=pk(avery.user_id)).values("name", "email", "password_hash", "deleted_at") == [
        {"name": "Deleted user", "email": pseudonym, "password_hash": None, "deleted_at": now()}
    ]
    log = (await api.data(AUDIT_LOG, token=olivia.token))["auditEvents"]["edges"]
    by_avery = [edge["node"] for edge in log if (edge["node"]["actor"] or {}).get("id") == avery.user_id]
    assert {"user.register", "organization.create", "partner_application.submit", "user.delete"} <= {
        event["action"] for event in by_avery
    }
    assert {(event["actor"]["name"], event["actor"]["email"]) for event in by_avery} == {("Deleted user", pseudonym)}
    # nothing kept names the address any more: audit details, mails, invitations, the application
    for kept in (
        await AuditEvent.all().values_list("changes", flat=True),
        await OutboxMessage.all().values_list("payload", flat=True),
        await MembershipInvitation.all().values("email", "status"),
        await PartnerApplication.all().values("contact_name", "contact_email", "contact_phone"),
    ):
        assert avery.email not in json.dumps(kept, default=str)
    assert await MembershipInvitation.all().values("email", "status") == [{"email": pseudonym, "status": "DECLINED"}]
    assert await PartnerApplication.all().values("contact_name", "contact_email") == [
        {"contact_name": "Deleted user", "contact_email": pseudonym}
    ]


async def test_deleting_leaves_addresses_that_contain_the_deleted_one_alone(api):
    # given: Ann invites Joann, whose address contains Ann's; Dana invites Ann
    ann = await register(api, "ann@example.com")
    shop = await create_organization(api, ann, "Ann's Shop")
    await invite_member(api, ann, shop["id"], "joann@example.com")
    dana = await register(api, "dana@example.com")
    await invite_member(api, dana, (await create_organization(api, dana, "Dana's"))["id"], ann.email)
    mails_to_ann = [payload["to"] for payload in await OutboxMessage.all().values_list("payload", flat=True)].count(
        ann.email
    )

    # when
    assert (await _delete(api, ann))["errors"] == []

    # then: Joann's invitation, its mail and its audit details are untouched
    assert await MembershipInvitation.filter(email="joann@example.com").values_list("status", flat=True) == ["OPEN"]
    created = await AuditEvent.filter(action="membership_invitation.create").values_list("changes", flat=True)
    assert {changes["email"] for changes in created} == {"joann@example.com", f"deleted-{pk(ann.user_id)}@invalid"}
    mails = await OutboxMessage.all().values("payload", "status")
    assert [mail["status"] for mail in mails if mail["payload"]["to"] == "joann@example.com"] == ["PENDING"]
    # Ann's own mails are kept as a record that they were sent, without their text; none is sent now
    pseudonym = f"deleted-{pk(ann.user_id)}@invalid"
    to_ann = [mail for mail in mails if mail["payload"]["to"] == pseudonym]
    assert len(to_ann) == mails_to_ann > 0
    assert {(mail["payload"]["text"], mail["status"]) for mail in to_ann} == {("", "FAILED")}


# --- accounts of the identity provider ---------------------------------------------------------------

ISSUER = "https://id.vendor.test"
PROVIDER_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _provider_token(subject: str = "sam-1", email: str = "sam@example.com") -> str:
    issued = datetime.now(UTC)
    claims = {
        "iss": ISSUER,
        "aud": "partner-portal",
        "sub": subject,
        "iat": issued,
        "exp": issued + timedelta(minutes=5),
        "name": "Sam Sso",
        "email": email,
        "email_verified": True,
    }
    return jwt.encode(claims, PROVIDER_KEY, algorithm="RS256")


@pytest.fixture
async def sso_api(database_url):
    public_key = PROVIDER_KEY.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    settings = test_settings(
        database_url, oidc_issuer=ISSUER, oidc_audience="partner-portal", oidc_public_key=public_key.decode()
    )
    async for running in start_api(settings):
        yield running


async def test_an_account_of_the_identity_provider_is_deleted_with_the_typed_word_alone(sso_api):
    # given: the account has no password
    token = _provider_token()
    first = (await sso_api.data(VIEWER, token=token))["viewer"]["id"]
    assert (await sso_api.data(EXPORT, token=token))["viewerDataExport"]["account"]["data"]["singleSignOn"] == {
        "issuer": ISSUER,
        "subject": "sam-1",
    }

    # when
    deleted = (await sso_api.data(DELETE, {"input": {"confirmation": "DELETE"}}, token=token))["deleteAccount"]

    # then: the provider's next token for the person makes a new account
    assert deleted["errors"] == []
    again = (await sso_api.data(VIEWER, token=_provider_token()))["viewer"]["id"]
    assert again != first


async def test_exports_are_counted_like_look_ups(database_url):
    async for api in start_api(test_settings(database_url, code_lookup_rate="2/minute")):
        ann = await register(api, "ann@example.com", "Ann")

        answers = [await api.post(EXPORT, token=ann.token) for _ in range(3)]

        assert [bool(answer.get("data")) for answer in answers] == [True, True, False]
        assert answers[2]["errors"][0]["extensions"]["code"] == "THROTTLED"
