from tests.support import create_organization, register


async def test_register_and_create_organization(api):
    person = await register(api, "Alice@Example.com")
    organization = await create_organization(api, person, "Acme")
    assert organization["viewerMembership"]["role"] == "ADMINISTRATOR"
