"""Accounts, sign-in, sessions and their expiry, lockout."""

from __future__ import annotations

from datetime import timedelta

import pytest

from tests.conftest import PASSWORD
from tests.documents import LOGIN, LOGOUT, REGISTER
from tests.support import create_organization, register

VIEWER = "{ viewer { id email name } }"
CREATE_ORGANIZATION = """
mutation { createOrganization(input: {name: "Needs a user"}) { organization { id } errors { code } } }"""
LOGOUT_EVERYWHERE = "mutation { logoutEverywhere { sessionsEnded errors { code } } }"


async def _register(api, email="ann@example.com", password=PASSWORD, name="Ann"):
    data = await api.data(REGISTER, {"input": {"email": email, "password": password, "name": name}})
    return data["register"]


async def _login(api, email, password=PASSWORD):
    return (await api.data(LOGIN, {"input": {"email": email, "password": password}}))["login"]


async def test_register_signs_in_and_normalizes_the_email(api):
    payload = await _register(api, email="  Ann.Smith@Example.COM ")

    assert payload["errors"] == []
    assert payload["user"]["email"] == "ann.smith@example.com"
    viewer = (await api.data(VIEWER, token=payload["token"]))["viewer"]
    assert viewer["email"] == "ann.smith@example.com"


async def test_an_email_is_unique_regardless_of_case(api):
    # Registering signs in at once here (CONFIRM_REGISTRATIONS off, the development default); with
    # it on, a taken address answers like a free one (tests/test_signin.py).
    await register(api, "ann@example.com")

    payload = await _register(api, email="ANN@example.com")

    assert payload["errors"] == [{"field": "email", "code": "EMAIL_TAKEN", "message": payload["errors"][0]["message"]}]
    assert payload["token"] is None


@pytest.mark.parametrize(
    ("email", "password", "name", "expected"),
    [
        ("not-an-address", PASSWORD, "Ann", [("email", "INVALID_EMAIL")]),
        ("ann@example.com", "short1!", "Ann", [("password", "PASSWORD_TOO_SHORT")]),
        ("ann@example.com", "password123456", "Ann", [("password", "PASSWORD_TOO_COMMON")]),
        ("ann@example.com", "qwertyuiop12", "Ann", [("password", "PASSWORD_TOO_COMMON")]),
        ("ann@example.com", PASSWORD, "   ", [("name", "REQUIRED")]),
        ("ann@example.com", PASSWORD, "x" * 201, [("name", "TOO_LONG")]),
        ("bad@", "short", "", [("email", "INVALID_EMAIL"), ("name", "REQUIRED"), ("password", "PASSWORD_TOO_SHORT")]),
    ],
)
async def test_bad_registrations_are_typed_errors_and_write_nothing(api, email, password, name, expected):
    payload = await _register(api, email=email, password=password, name=name)

    assert [(e["field"], e["code"]) for e in payload["errors"]] == expected
    assert payload["user"] is None
    # Nothing was written: the address is still free.
    assert (await _register(api, email="ann@example.com"))["errors"] == []


async def test_login_returns_a_working_session(api):
    await register(api, "ann@example.com")

    payload = await _login(api, "ANN@example.com")

    assert payload["errors"] == []
    assert (await api.data(VIEWER, token=payload["token"]))["viewer"]["email"] == "ann@example.com"


async def test_unknown_email_and_wrong_password_give_the_same_answer(api):
    await register(api, "ann@example.com")

    wrong_password = await _login(api, "ann@example.com", "not-the-password-1")
    unknown_email = await _login(api, "nobody@example.com", "not-the-password-1")

    assert wrong_password == unknown_email
    assert wrong_password["errors"][0]["code"] == "INVALID_CREDENTIALS"
    assert wrong_password["token"] is None


async def test_repeated_failures_lock_the_address_for_a_while(api, clock):
    await register(api, "ann@example.com")
    for _ in range(api.settings.login_max_failures):
        assert (await _login(api, "ann@example.com", "wrong-password-9"))["errors"][0]["code"] == "INVALID_CREDENTIALS"

    locked = await _login(api, "ann@example.com")
    assert locked["errors"][0]["code"] == "TOO_MANY_ATTEMPTS"
    assert locked["token"] is None

    clock.shift(api.settings.login_lock - timedelta(seconds=1))
    assert (await _login(api, "ann@example.com"))["errors"][0]["code"] == "TOO_MANY_ATTEMPTS"
    clock.shift(timedelta(seconds=2))
    assert (await _login(api, "ann@example.com"))["errors"] == []


async def test_unknown_addresses_lock_the_same_way_so_nothing_is_revealed(api):
    for _ in range(api.settings.login_max_failures):
        await _login(api, "nobody@example.com", "wrong-password-9")

    assert (await _login(api, "nobody@example.com"))["errors"][0]["code"] == "TOO_MANY_ATTEMPTS"


async def test_a_successful_login_resets_the_failure_count(api):
    await register(api, "ann@example.com")
    for _ in range(api.settings.login_max_failures - 1):
        await _login(api, "ann@example.com", "wrong-password-9")
    assert (await _login(api, "ann@example.com"))["errors"] == []

    await _login(api, "ann@example.com", "wrong-password-9")

    assert (await _login(api, "ann@example.com"))["errors"] == []


async def test_a_session_expires_after_its_lifetime(api, clock):
    person = await register(api, "ann@example.com")

    clock.shift(api.settings.session_ttl - timedelta(seconds=1))
    assert (await api.data(VIEWER, token=person.token))["viewer"] is not None

    clock.shift(timedelta(seconds=2))
    assert (await api.data(VIEWER, token=person.token))["viewer"] is None
    body = await api.post(CREATE_ORGANIZATION, token=person.token)
    assert body["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    assert "expired" in body["errors"][0]["message"]


async def test_logout_ends_only_the_current_session(api):
    person = await register(api, "ann@example.com")
    other = (await _login(api, "ann@example.com"))["token"]

    assert (await api.data(LOGOUT, token=person.token))["logout"]["sessionsEnded"] == 1

    assert (await api.data(VIEWER, token=person.token))["viewer"] is None
    assert (await api.data(VIEWER, token=other))["viewer"] is not None


async def test_logout_everywhere_ends_every_session(api):
    person = await register(api, "ann@example.com")
    other = (await _login(api, "ann@example.com"))["token"]

    ended = (await api.data(LOGOUT_EVERYWHERE, token=person.token))["logoutEverywhere"]["sessionsEnded"]

    assert ended == 2
    assert (await api.data(VIEWER, token=person.token))["viewer"] is None
    assert (await api.data(VIEWER, token=other))["viewer"] is None


async def test_logout_needs_a_signed_in_user(api):
    assert await api.error_code(LOGOUT) == "UNAUTHENTICATED"
    assert await api.error_code(LOGOUT_EVERYWHERE) == "UNAUTHENTICATED"


async def test_a_forged_token_is_anonymous(api):
    await register(api, "ann@example.com")

    assert (await api.data(VIEWER, token="pps_forged"))["viewer"] is None
    assert await api.error_code(CREATE_ORGANIZATION, token="pps_forged") == "UNAUTHENTICATED"
    assert await api.error_code(CREATE_ORGANIZATION, headers={"authorization": "Basic abc"}) == "UNAUTHENTICATED"


# --- a sign-in answers as the signed-in user -----------------------------------------------------

LOGIN_WITH_MEMBERSHIPS = """
mutation Login($input: LoginInput!) {
  login(input: $input) { token user { email memberships { role organization { name } } } errors { code } }
}"""
REGISTER_THEN_CREATE = """
mutation Register($input: RegisterInput!) {
  register(input: $input) { user { email memberships { role } } errors { code } }
  createOrganization(input: {name: "Made right after"}) { organization { name } errors { code } }
}"""


async def test_the_login_payload_answers_as_the_signed_in_user(api):
    ann = await register(api, "ann@example.com")
    await create_organization(api, ann, "Acme GmbH")

    payload = (await api.data(LOGIN_WITH_MEMBERSHIPS, {"input": {"email": ann.email, "password": PASSWORD}}))["login"]

    assert payload["errors"] == []
    assert payload["user"]["memberships"] == [{"role": "ADMINISTRATOR", "organization": {"name": "Acme GmbH"}}]


async def test_a_failed_login_shows_no_user(api):
    ann = await register(api, "ann@example.com")
    await create_organization(api, ann, "Acme GmbH")

    payload = (await api.data(LOGIN_WITH_MEMBERSHIPS, {"input": {"email": ann.email, "password": "wrong" + PASSWORD}}))[
        "login"
    ]

    assert [e["code"] for e in payload["errors"]] == ["INVALID_CREDENTIALS"]
    assert payload["user"] is None and payload["token"] is None


async def test_the_rest_of_a_registering_operation_acts_as_the_new_user(api):
    variables = {"input": {"email": "ann@example.com", "password": PASSWORD, "name": "Ann"}}

    data = await api.data(REGISTER_THEN_CREATE, variables)

    assert data["register"] == {"user": {"email": "ann@example.com", "memberships": []}, "errors": []}
    assert data["createOrganization"] == {"organization": {"name": "Made right after"}, "errors": []}
