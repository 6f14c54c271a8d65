"""Operations most tests need, through the public GraphQL surface."""

from __future__ import annotations

import re
from dataclasses import dataclass

from strawberry.relay import GlobalID

from tests.conftest import PASSWORD, Api
from tests.documents import (
    ACCEPT_MEMBERSHIP,
    ADD_MEMBER,
    APPROVE_PARTNER_APPLICATION,
    CONFIRM_REGISTRATION,
    CREATE_API_KEY,
    CREATE_ORGANIZATION,
    LOGIN,
    PARTNER_CODE,
    REGISTER,
    REQUEST_PARTNER_STATUS,
    VERIFY_EMAIL,
)

GRAPHQL_RESPONSE = "application/graphql-response+json"  # GraphQL over HTTP's media type


@dataclass(frozen=True)
class Person:
    email: str
    token: str
    user_id: str


async def register(api: Api, email: str, name: str = "Test Person") -> Person:
    data = await api.data(REGISTER, {"input": {"email": email, "password": PASSWORD, "name": name}})
    payload = data["register"]
    assert payload["errors"] == [], payload["errors"]
    if payload["confirmationMailed"]:  # CONFIRM_REGISTRATIONS (production): follow the mailed link
        token = await _mailed_token(email, r"/register/confirm\?token=(ppr_[\w-]+)")
        data = await api.data(CONFIRM_REGISTRATION, {"token": token})
        payload = data["confirmRegistration"]
        assert payload["errors"] == [], payload["errors"]
    else:  # signed in at once, unverified: follow the mailed verification link
        await _verify(api, payload["user"]["email"])
    return Person(email, payload["token"], payload["user"]["id"])


async def _verify(api: Api, email: str) -> None:
    """Use the verification link mailed to `email`; the mail is then taken from the outbox, as a read
    one from a mailbox, so that tests of other mails find theirs alone."""
    from partner_portal.models.outbox import OutboxMessage

    token = await verification_token(email)
    verified = (await api.data(VERIFY_EMAIL, {"token": token}))["verifyEmail"]
    assert verified["errors"] == [], verified["errors"]
    for message_id, message in await OutboxMessage.all().values_list("id", "payload"):
        if message.get("to") == email and token in message["text"]:
            await OutboxMessage.filter(id=message_id).delete()


async def verification_token(email: str) -> str:
    """The token of the newest verification link mailed to `email`."""
    return await _mailed_token(email, r"/email/verify\?token=(ppv_[\w-]+)")


async def _mailed_token(email: str, link: str) -> str:
    """The token in the newest mail to `email` whose text holds `link` (a pattern with one group)."""
    from partner_portal.models.outbox import OutboxMessage

    for message in await OutboxMessage.all().order_by("-id").values_list("payload", flat=True):
        if message.get("to") == email and (found := re.search(link, message["text"])):
            return found.group(1)
    raise AssertionError(f"no mail to {email} with {link}")


def pk(global_id: str) -> int:
    """The database id behind a global id."""
    return int(GlobalID.from_id(global_id).node_id)


async def fresh(api: Api, person: Person) -> Person:
    """A new session of `person` (sessions last 14 days; several tests move the clock further)."""
    data = await api.data(LOGIN, {"input": {"email": person.email, "password": PASSWORD}})
    assert data["login"]["errors"] == [], data["login"]["errors"]
    return Person(person.email, data["login"]["token"], person.user_id)


async def create_organization(api: Api, person: Person, name: str = "Acme GmbH") -> dict:
    data = await api.data(CREATE_ORGANIZATION, {"input": {"name": name}}, token=person.token)
    payload = data["createOrganization"]
    assert payload["errors"] == [], payload["errors"]
    return payload["organization"]


async def invite_member(
    api: Api,
    admin: Person,
    organization_id: str,
    email: str,
    *,
    role: str = "MEMBER",
    organization_permissions: list[str] = (),
    partner_permissions: list[str] = (),
) -> dict:
    """addMember's invitation, which must succeed."""
    data = await api.data(
        ADD_MEMBER,
        {
            "input": {
                "organizationId": organization_id,
                "email": email,
                "role": role,
                "organizationPermissions": list(organization_permissions),
                "partnerPermissions": list(partner_permissions),
            }
        },
        token=admin.token,
    )
    payload = data["addMember"]
    assert payload["errors"] == [], payload["errors"]
    return payload["invitation"]


async def membership_link_token(email: str) -> str:
    """The token of the newest membership invitation mailed to `email`, as the mailbox shows it."""
    return await _mailed_token(email, r"/memberships/accept\?token=(ppm_[\w-]+)")


async def session_of(api: Api, email: str) -> str:
    """A session token of the registered user with this address (what signing in gives)."""
    from partner_portal.models.identity import User
    from partner_portal.resolvers.identity import issue_session

    user_id = await User.filter(email=email).first().values_list("id", flat=True)
    assert user_id is not None, f"no account for {email}"
    return (await issue_session(api.settings, {"id": user_id})).token


async def accept_membership(api: Api, email: str) -> dict:
    """The invitee signs in and accepts the newest invitation mailed to it; the membership."""
    token = await membership_link_token(email)
    data = await api.data(ACCEPT_MEMBERSHIP, {"token": token}, token=await session_of(api, email))
    payload = data["acceptMembershipInvitation"]
    assert payload["errors"] == [], payload["errors"]
    return payload["membership"]


async def add_member(
    api: Api,
    admin: Person,
    organization_id: str,
    email: str,
    *,
    role: str = "MEMBER",
    organization_permissions: list[str] = (),
    partner_permissions: list[str] = (),
) -> dict:
    """A registered person becomes a member: `admin` invites (addMember), the person accepts."""
    await invite_member(
        api,
        admin,
        organization_id,
        email,
        role=role,
        organization_permissions=organization_permissions,
        partner_permissions=partner_permissions,
    )
    return await accept_membership(api, email)


async def make_operator(api: Api, person: Person, permissions: list[str] | None = None) -> None:
    """Operators are made by the trusted CLI; tests call the same function it does."""
    from partner_portal.permissions.actor import Actor
    from partner_portal.permissions.enums import OperatorPermission, Via
    from partner_portal.resolvers.identity import make_operator as grant

    chosen = [OperatorPermission(p) for p in permissions] if permissions is not None else list(OperatorPermission)
    await grant(Actor(via=Via.CLI), person.email, chosen, settings=api.settings)


APPLICATION_FORM = {
    "legalName": "Northwind Partners GmbH",
    "website": "https://northwind.example",
    "country": "DE",
    "vatId": "DE136695976",
    "contactName": "Avery Admin",
    "contactEmail": "avery@northwind.example",
    "programs": ["SERVICE_PARTNER", "AFFILIATE"],
    "message": "We resell and administer.",
}


@dataclass(frozen=True)
class Partner:
    admin: Person
    id: str
    code: str


async def create_api_key(api: Api, creator: Person, scopes: list[str], name: str = "Key") -> str:
    """An integrator's API key with these scopes, created by an operator; its secret."""
    created = (await api.data(CREATE_API_KEY, {"input": {"name": name, "scopes": scopes}}, token=creator.token))[
        "createApiKey"
    ]
    assert created["errors"] == [], created["errors"]
    return created["secret"]


async def operator(api: Api, email: str = "olivia@vendor.example") -> Person:
    person = await register(api, email, "Olivia Operator")
    await make_operator(api, person)
    return person


async def make_partner(
    api: Api,
    reviewer: Person,
    admin_email: str = "admin@northwind.example",
    name: str = "Northwind Partners",
    programs: list[str] = ("SERVICE_PARTNER", "AFFILIATE"),
) -> Partner:
    """An organization that applied and was approved, through the API."""
    admin = await register(api, admin_email, "Avery Admin")
    organization = await create_organization(api, admin, name)
    applied = (
        await api.data(
            REQUEST_PARTNER_STATUS,
            {"input": {**APPLICATION_FORM, "organizationId": organization["id"], "programs": list(programs)}},
            token=admin.token,
        )
    )["requestPartnerStatus"]
    assert applied["errors"] == [], applied["errors"]
    approved = (
        await api.data(
            APPROVE_PARTNER_APPLICATION,
            {
                "input": {
                    "applicationId": applied["application"]["id"],
                    "programs": list(programs),
                    "payoutCurrency": "EUR",
                }
            },
            token=reviewer.token,
        )
    )["approvePartnerApplication"]
    assert approved["errors"] == [], approved["errors"]
    code = (await api.data(PARTNER_CODE, {"id": organization["id"]}, token=admin.token))["node"]["partnerProfile"][
        "code"
    ]
    return Partner(admin, organization["id"], code)
