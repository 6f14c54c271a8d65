"""Operations most tests need, through the public GraphQL surface."""

from __future__ import annotations

from dataclasses import dataclass

from tests.conftest import PASSWORD, Api

REGISTER = """
mutation Register($input: RegisterInput!) {
  register(input: $input) { token expiresAt user { id email name } errors { field code message } }
}"""
LOGIN = """
mutation Login($input: LoginInput!) {
  login(input: $input) { token expiresAt user { id email } errors { field code message } }
}"""
CREATE_ORGANIZATION = """
mutation Create($input: CreateOrganizationInput!) {
  createOrganization(input: $input) {
    organization { id name website country language viewerMembership { id role } }
    errors { field code message }
  }
}"""
ADD_MEMBER = """
mutation Add($input: AddMemberInput!) {
  addMember(input: $input) {
    membership { id role organizationPermissions partnerPermissions user { email } }
    errors { field code message }
  }
}"""


@dataclass(frozen=True)
class Person:
    email: str
    token: str
    user_id: str


async def register(api: Api, email: str, name: str = "Test Person") -> Person:
    data = await api.data(REGISTER, {"input": {"email": email, "password": PASSWORD, "name": name}})
    payload = data["register"]
    assert payload["errors"] == [], payload["errors"]
    return Person(email, payload["token"], payload["user"]["id"])


async def create_organization(api: Api, person: Person, name: str = "Acme GmbH") -> dict:
    data = await api.data(CREATE_ORGANIZATION, {"input": {"name": name}}, token=person.token)
    payload = data["createOrganization"]
    assert payload["errors"] == [], payload["errors"]
    return payload["organization"]


async def add_member(api: Api, admin: Person, organization_id: str, email: str, *, role: str = "MEMBER",
                     organization_permissions: list[str] = (), partner_permissions: list[str] = ()) -> dict:
    data = await api.data(ADD_MEMBER, {"input": {
        "organizationId": organization_id, "email": email, "role": role,
        "organizationPermissions": list(organization_permissions),
        "partnerPermissions": list(partner_permissions),
    }}, token=admin.token)
    payload = data["addMember"]
    assert payload["errors"] == [], payload["errors"]
    return payload["membership"]


async def make_operator(api: Api, person: Person, permissions: list[str] | None = None) -> None:
    """Operators are made by the trusted CLI; tests call the same function it does."""
    from permissions.actor import Actor
    from permissions.enums import OperatorPermission, Via
    from resolvers.identity import make_operator as grant

    chosen = [OperatorPermission(p) for p in permissions] if permissions is not None else list(OperatorPermission)
    await grant(Actor(via=Via.CLI), person.email, chosen, settings=api.settings)


REQUEST_PARTNER_STATUS = """
mutation Apply($input: RequestPartnerStatusInput!) {
  requestPartnerStatus(input: $input) { application { id status programs } errors { field code message } }
}"""
APPROVE = """
mutation Approve($input: ApprovePartnerApplicationInput!) {
  approvePartnerApplication(input: $input) { application { id status approvedPrograms } errors { field code } }
}"""
PARTNER_CODE = "query Code($id: ID!) { node(id: $id) { ... on Organization { partnerProfile { code } } } }"
APPLICATION_FORM = {
    "legalName": "Northwind Partners GmbH", "website": "https://northwind.example", "country": "DE",
    "vatId": "DE136695976", "contactName": "Avery Admin", "contactEmail": "avery@northwind.example",
    "programs": ["SERVICE_PARTNER", "AFFILIATE"], "message": "We resell and administer.",
}


@dataclass(frozen=True)
class Partner:
    admin: Person
    id: str
    code: str


CREATE_API_KEY = """
mutation Key($input: CreateApiKeyInput!) { createApiKey(input: $input) { secret errors { field code } } }"""


async def create_api_key(api: Api, creator: Person, scopes: list[str], name: str = "Key") -> str:
    """An integrator's API key with these scopes, created by an operator; its secret."""
    created = (await api.data(CREATE_API_KEY, {"input": {"name": name, "scopes": scopes}},
                              token=creator.token))["createApiKey"]
    assert created["errors"] == [], created["errors"]
    return created["secret"]


async def operator(api: Api, email: str = "olivia@vendor.example") -> Person:
    person = await register(api, email, "Olivia Operator")
    await make_operator(api, person)
    return person


async def make_partner(api: Api, reviewer: Person, admin_email: str = "admin@northwind.example",
                       name: str = "Northwind Partners", programs: list[str] = ("SERVICE_PARTNER", "AFFILIATE"),
                       ) -> Partner:
    """An organization that applied and was approved, through the API."""
    admin = await register(api, admin_email, "Avery Admin")
    organization = await create_organization(api, admin, name)
    applied = (await api.data(REQUEST_PARTNER_STATUS, {"input": {
        **APPLICATION_FORM, "organizationId": organization["id"], "programs": list(programs)}},
        token=admin.token))["requestPartnerStatus"]
    assert applied["errors"] == [], applied["errors"]
    approved = (await api.data(APPROVE, {"input": {
        "applicationId": applied["application"]["id"], "programs": list(programs), "payoutCurrency": "EUR"}},
        token=reviewer.token))["approvePartnerApplication"]
    assert approved["errors"] == [], approved["errors"]
    code = (await api.data(PARTNER_CODE, {"id": organization["id"]}, token=admin.token))["node"]["partnerProfile"]["code"]
    return Partner(admin, organization["id"], code)
