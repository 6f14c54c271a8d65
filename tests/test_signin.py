"""Sign-in and registration under attack: argon2 off the event loop in a bounded pool, one sign-in or
registration per operation, sign-in rates per client address and for everyone, a lockout per
(address, client) with an account-wide backoff that guesses sent at once cannot pass, and the
owner's unlock link by mail."""

from __future__ import annotations

import asyncio
import re
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta

import httpx
import pytest
from argon2 import PasswordHasher
from graphql import get_named_type

from partner_portal.models.identity import LoginThrottle
from partner_portal.schema import build_schema
from partner_portal.schema.guards.limits import PASSWORD_FIELDS
from partner_portal.schema.strawberry_internals import graphql_schema
from tests.conftest import PASSWORD, Api, start_api, test_settings
from tests.documents import LOGIN, OUTBOX, REGISTER
from tests.servers import Server
from tests.support import operator, register

ATTACKER = "198.51.100.7"
OWNER = "203.0.113.20"
UNLOCK = "mutation Unlock($token: String!) { unlockAccount(input: {token: $token}) { unlocked errors { field code } } }"


@asynccontextmanager
async def portal(database_url: str, **overrides: object) -> AsyncIterator[Api]:
    async for api in start_api(test_settings(database_url, **overrides)):
        yield api


def from_address(api: Api, address: str) -> Api:
    """Another client of the same app, connecting from `address`."""
    app = api.client._transport.app  # noqa: SLF001 — the app under test, seen from another address
    transport = httpx.ASGITransport(app=app, client=(address, 40000))
    return Api(httpx.AsyncClient(transport=transport, base_url="http://portal.test"), api.settings)


async def login(api: Api, email: str, password: str = PASSWORD) -> dict:
    return (await api.data(LOGIN, {"input": {"email": email, "password": password}}))["login"]


def codes(payload: dict) -> list[str]:
    return [error["code"] for error in payload["errors"]]


# --- argon2 off the event loop, in a bounded pool ---------------------------------------------------


@pytest.fixture
def held_verifies(monkeypatch: pytest.MonkeyPatch) -> dict:
    """argon2's verify waits for `release` (in whatever thread runs it); counts how many run at once."""
    state = {
        "release": threading.Event(),
        "started": threading.Event(),
        "finished": threading.Event(),
        "running": 0,
        "most": 0,
        "lock": threading.Lock(),
    }
    original = PasswordHasher.verify

    def held(self: PasswordHasher, stored: str, password: str) -> bool:
        with state["lock"]:
            state["running"] += 1
            state["most"] = max(state["most"], state["running"])
        state["started"].set()
        try:
            state["release"].wait(timeout=10)
            return original(self, stored, password)
        finally:
            with state["lock"]:
                state["running"] -= 1
            state["finished"].set()

    monkeypatch.setattr(PasswordHasher, "verify", held)
    return state


async def test_other_requests_are_answered_while_a_password_is_checked(api, held_verifies):
    await register(api, "ann@example.com")
    signing_in = asyncio.create_task(login(api, "ann@example.com"))
    assert await asyncio.to_thread(held_verifies["started"].wait, 10)

    answered = await api.data("{ __typename }")

    assert answered == {"__typename": "Query"}
    assert not held_verifies["finished"].is_set()  # the event loop was free while argon2 worked
    held_verifies["release"].set()
    assert (await signing_in)["errors"] == []


async def test_a_sign_in_that_succeeds_meanwhile_does_not_lock_out_the_others(api, monkeypatch):
    """A successful sign-in deletes the account's count (`_clear`); another sign-in that made the
    row a moment before and counts on it next makes it again instead of answering TOO_MANY_ATTEMPTS
    (seen on PostgreSQL with three sign-ins at once)."""
    await register(api, "ann@example.com")
    original = LoginThrottle.get_or_create
    cleared = []

    async def then_cleared(*args, **kwargs):
        made = await original(*args, **kwargs)
        if not cleared:  # the other sign-in succeeds right now
            cleared.append(await LoginThrottle.filter(email="ann@example.com").delete())
        return made

    monkeypatch.setattr(LoginThrottle, "get_or_create", then_cleared)

    signed_in = await login(api, "ann@example.com")

    assert cleared == [1]
    assert codes(signed_in) == []


async def test_password_checks_beyond_the_pool_wait_their_turn(database_url, held_verifies):
    async with portal(database_url, password_hash_workers=1) as api:
        await register(api, "ann@example.com")
        attempts = [
            asyncio.create_task(login(from_address(api, f"192.0.2.{n}"), "ann@example.com")) for n in range(1, 4)
        ]
        assert await asyncio.to_thread(held_verifies["started"].wait, 10)
        await api.data("{ __typename }")  # the others had every chance to start meanwhile

        running = held_verifies["running"]
        held_verifies["release"].set()
        results = await asyncio.gather(*attempts)

    assert running == 1
    assert held_verifies["most"] == 1
    assert [codes(result) for result in results] == [[], [], []]


# --- one sign-in or registration per operation ------------------------------------------------------


@pytest.mark.parametrize(
    "document",
    [
        'mutation { a: login(input: {email: "a@b.example", password: "guess-1"}) { token } '
        'b: login(input: {email: "a@b.example", password: "guess-2"}) { token } }',
        'mutation { login(input: {email: "a@b.example", password: "guess-1"}) { token } '
        'register(input: {email: "c@d.example", password: "guess-2", name: "C"}) { token } }',
        'mutation { a: login(input: {email: "a@b.example", password: "guess-1"}) { token } ...more } '
        'fragment more on Mutation { ... on Mutation { b: acceptInvitation(input: {token: "x", password: "guess-2"}) '
        "{ token } } }",
    ],
)
async def test_an_operation_signs_in_or_registers_once(api, document, held_verifies):
    held_verifies["release"].set()
    response = await api.client.post(
        "/graphql", json={"query": document}, headers={"accept": "application/graphql-response+json"}
    )

    assert response.status_code == 400
    body = response.json()
    assert "data" not in body or body["data"] is None
    assert "sign in or register once" in body["errors"][0]["message"]
    assert not held_verifies["started"].is_set()  # refused before any password was looked at


async def test_one_sign_in_with_other_fields_runs(api):
    await register(api, "ann@example.com")
    document = (
        'mutation { login(input: {email: "ann@example.com", password: "%s"}) { token } '
        'unlockAccount(input: {token: "ppu_x"}) { unlocked } }' % PASSWORD
    )

    body = await api.post(document)

    assert body["data"]["login"]["token"]
    assert body["data"]["unlockAccount"] == {"unlocked": False}


def test_every_mutation_taking_a_password_is_one_sign_in():
    mutation = graphql_schema(build_schema(test_settings("sqlite://:memory:"))).mutation_type
    takes_password = {
        name
        for name, field in mutation.fields.items()
        for argument in field.args.values()
        if any(key.lower().endswith("password") for key in getattr(get_named_type(argument.type), "fields", {}))
    }

    assert takes_password == PASSWORD_FIELDS


# --- sign-in rates -------------------------------------------------------------------------------------


async def test_sign_ins_are_rated_per_client_address(database_url, clock):
    async with portal(database_url, sign_in_rate="3/minute") as api:
        attacker, owner = from_address(api, ATTACKER), from_address(api, OWNER)
        for n in range(3):
            assert codes(await login(attacker, f"guess{n}@example.com", "wrong-password-9")) == ["INVALID_CREDENTIALS"]

        response = await attacker.client.post(
            "/graphql",
            json={
                "query": REGISTER,
                "variables": {"input": {"email": "new@example.com", "password": PASSWORD, "name": "New"}},
            },
        )
        refused = response.json()

        assert refused["errors"][0]["extensions"]["code"] == "THROTTLED"
        assert 1 <= refused["errors"][0]["extensions"]["retryAfter"] <= 61
        assert response.headers["retry-after"] == str(refused["errors"][0]["extensions"]["retryAfter"])
        assert "from your address" in refused["errors"][0]["message"]
        assert (
            codes(
                (
                    await owner.data(
                        REGISTER, {"input": {"email": "new@example.com", "password": PASSWORD, "name": "New"}}
                    )
                )["register"]
            )
            == []
        )
        clock.shift(timedelta(seconds=61))
        assert codes(await login(attacker, "new@example.com")) == []


@pytest.mark.slow  # two server processes
async def test_sign_ins_on_one_server_count_on_the_other(api, redis_url):
    servers = [
        Server(api.settings.database_url, {"RATE_LIMIT_STORAGE": redis_url, "SIGN_IN_RATE": "3/minute"})
        for _ in range(2)
    ]
    try:
        await asyncio.gather(*(server.start() for server in servers))
        answers = []
        for server in (servers[0], servers[1], servers[0], servers[1]):
            async with httpx.AsyncClient(base_url=server.url) as client:
                response = await client.post(
                    "/graphql",
                    json={
                        "query": LOGIN,
                        "variables": {"input": {"email": "ann@example.com", "password": "wrong-password-9"}},
                    },
                )
                answers.append(response.json())
    finally:
        for server in servers:
            await server.kill()

    assert [body["data"]["login"]["errors"][0]["code"] for body in answers[:3]] == ["INVALID_CREDENTIALS"] * 3
    assert answers[3]["errors"][0]["extensions"]["code"] == "THROTTLED"


async def test_sign_ins_of_everyone_are_rated_together(database_url):
    async with portal(database_url, sign_in_global_rate="3/minute") as api:
        for n in range(3):
            assert codes(await login(from_address(api, f"192.0.2.{n}"), "a@example.com", "x")) == [
                "INVALID_CREDENTIALS"
            ]

        code = await from_address(api, "192.0.2.99").error_code(
            LOGIN, {"input": {"email": "a@example.com", "password": "x"}}
        )

    assert code == "THROTTLED"


# --- lockout: guesses at once, per (address, client), account-wide backoff, unlock by mail -------------


async def test_guesses_sent_at_once_get_no_more_tries_than_the_limit(api, held_verifies):
    await register(api, "ann@example.com")
    held_verifies["release"].set()
    guesses = [login(api, "ann@example.com", f"wrong-password-{n}") for n in range(20)]

    answers = await asyncio.gather(*guesses)

    checked = [a for a in answers if codes(a) == ["INVALID_CREDENTIALS"]]
    assert len(checked) == api.settings.login_max_failures
    assert len(answers) - len(checked) == sum(codes(a) == ["TOO_MANY_ATTEMPTS"] for a in answers)
    assert codes(await login(api, "ann@example.com")) == ["TOO_MANY_ATTEMPTS"]


async def test_a_guesser_locks_out_its_own_address_not_the_owner(api, clock):
    await register(api, "ann@example.com")
    attacker, owner = from_address(api, ATTACKER), from_address(api, OWNER)
    for _ in range(api.settings.login_max_failures):
        await login(attacker, "ann@example.com", "wrong-password-9")

    assert codes(await login(attacker, "ann@example.com")) == ["TOO_MANY_ATTEMPTS"]
    assert codes(await login(owner, "ann@example.com")) == []
    clock.shift(api.settings.login_lock + timedelta(seconds=1))
    assert codes(await login(attacker, "ann@example.com")) == []


async def _guess_from_many_addresses(api: Api, email: str, guesses: int, first_address: int = 0) -> None:
    """Wrong passwords, each address guessing as often as its own limit allows."""
    per_address = api.settings.login_max_failures
    for n in range(guesses):
        await login(from_address(api, f"192.0.2.{first_address + n // per_address}"), email, "wrong-password-9")


def _unlock_token(mail: dict) -> str:
    return re.search(r"/unlock\?token=(ppu_[A-Za-z0-9_-]+)", mail["textBody"]).group(1)


async def test_guesses_from_many_addresses_lock_the_account_and_mail_the_owner_a_link(database_url, clock):
    async with portal(database_url, login_max_failures=3, login_account_max_failures=6) as api:
        reviewer = await operator(api)
        await register(api, "ann@example.com")
        owner = from_address(api, OWNER)

        await _guess_from_many_addresses(api, "ann@example.com", 6)
        locked = await login(owner, "ann@example.com")
        await _guess_from_many_addresses(api, "ann@example.com", 6, first_address=10)  # refused: no more mail

        mails = [
            edge["node"]
            for edge in (await api.data(OUTBOX, token=reviewer.token))["outboxMessages"]["edges"]
            if edge["node"]["recipient"] == "ann@example.com"
        ]
        assert codes(locked) == ["TOO_MANY_ATTEMPTS"]
        assert "link mailed to you" in locked["errors"][0]["message"]
        assert len(mails) == 1
        token = _unlock_token(mails[0])

        unlocked = (await owner.data(UNLOCK, {"token": token}))["unlockAccount"]
        assert unlocked == {"unlocked": True, "errors": []}
        assert codes(await login(owner, "ann@example.com")) == []
        again = (await owner.data(UNLOCK, {"token": token}))["unlockAccount"]
        assert again == {"unlocked": False, "errors": [{"field": "token", "code": "INVALID_TOKEN"}]}


async def test_without_the_link_the_account_lock_ends_after_its_minutes(database_url, clock):
    async with portal(database_url, login_max_failures=3, login_account_max_failures=6) as api:
        await register(api, "ann@example.com")
        owner = from_address(api, OWNER)
        await _guess_from_many_addresses(api, "ann@example.com", 6)

        clock.shift(api.settings.login_account_lock - timedelta(seconds=1))
        assert codes(await login(owner, "ann@example.com")) == ["TOO_MANY_ATTEMPTS"]
        clock.shift(timedelta(seconds=2))
        assert codes(await login(owner, "ann@example.com")) == []


async def test_an_unlock_link_expires(database_url, clock):
    async with portal(database_url, login_max_failures=3, login_account_max_failures=3) as api:
        reviewer = await operator(api)
        await register(api, "ann@example.com")
        await _guess_from_many_addresses(api, "ann@example.com", 3)
        [mail] = [edge["node"] for edge in (await api.data(OUTBOX, token=reviewer.token))["outboxMessages"]["edges"]]

        clock.shift(api.settings.unlock_link_ttl + timedelta(seconds=1))
        expired = (await api.data(UNLOCK, {"token": _unlock_token(mail)}))["unlockAccount"]

    assert expired["errors"] == [{"field": "token", "code": "INVALID_TOKEN"}]


@pytest.mark.parametrize("token", ["ppu_forged", "not-a-token", "ppu_" + "x" * 200])
async def test_a_forged_unlock_link_unlocks_nothing(api, token):
    assert (await api.data(UNLOCK, {"token": token}))["unlockAccount"]["errors"] == [
        {"field": "token", "code": "INVALID_TOKEN"}
    ]


async def test_an_unknown_address_locks_the_same_way_and_mails_nobody(database_url):
    async with portal(database_url, login_max_failures=3, login_account_max_failures=6) as api:
        reviewer = await operator(api)
        await _guess_from_many_addresses(api, "nobody@example.com", 6)

        locked = await login(from_address(api, OWNER), "nobody@example.com")
        mails = (await api.data(OUTBOX, token=reviewer.token))["outboxMessages"]["edges"]

    assert codes(locked) == ["TOO_MANY_ATTEMPTS"]
    assert mails == []


# --- long passwords ------------------------------------------------------------------------------------


async def test_a_long_password_registers_and_signs_in(api):
    long_password = "correct horse battery staple " * 4  # 116 characters: beyond zxcvbn's 72

    registered = (
        await api.data(REGISTER, {"input": {"email": "ann@example.com", "password": long_password, "name": "Ann"}})
    )["register"]

    assert registered["errors"] == []
    assert codes(await login(api, "ann@example.com", long_password)) == []


@pytest.mark.parametrize("mutation", ["register", "login"])
async def test_a_password_beyond_the_limit_is_too_long(api, mutation, held_verifies):
    held_verifies["release"].set()
    document = REGISTER if mutation == "register" else LOGIN
    values = {"email": "ann@example.com", "password": "x" * 1025}
    if mutation == "register":
        values["name"] = "Ann"

    payload = (await api.data(document, {"input": values}))[mutation]

    assert payload["errors"] == [{"field": "password", "code": "TOO_LONG", "message": "Use at most 1024 characters."}]
    assert not held_verifies["started"].is_set()


# --- registration without revealing taken addresses ----------------------------------------------------

REGISTER_BY_MAIL = """
mutation Register($input: RegisterInput!) {
  register(input: $input) { token expiresAt user { id } confirmationMailed errors { field code } }
}"""
CONFIRM = """
mutation Confirm($token: String!) {
  confirmRegistration(input: {token: $token}) { token user { email } errors { field code } }
}"""


async def _mails_to(api: Api, reviewer_token: str, recipient: str) -> list[dict]:
    edges = (await api.data(OUTBOX, token=reviewer_token))["outboxMessages"]["edges"]
    return [edge["node"] for edge in edges if edge["node"]["recipient"] == recipient]


def _registration_token(mail: dict) -> str:
    return re.search(r"/register/confirm\?token=(ppr_[A-Za-z0-9_-]+)", mail["textBody"]).group(1)


async def _register_by_mail(api: Api, email: str) -> dict:
    values = {"email": email, "password": PASSWORD, "name": "Someone"}
    return (await api.data(REGISTER_BY_MAIL, {"input": values}))["register"]


@pytest.fixture
async def mail_api(database_url) -> AsyncIterator[tuple[Api, str]]:
    """Registrations confirmed by mail, and an operator (made as the CLI does) to read the outbox."""
    from partner_portal.permissions.actor import Actor
    from partner_portal.permissions.enums import OperatorPermission, Via
    from partner_portal.resolvers.identity import make_operator

    async with portal(database_url, confirm_registrations=True) as api:
        await make_operator(
            Actor(via=Via.CLI),
            "olivia@vendor.example",
            list(OperatorPermission),
            password=PASSWORD,
            settings=api.settings,
        )
        yield api, (await login(api, "olivia@vendor.example"))["token"]


async def test_register_answers_alike_for_taken_and_free_addresses(mail_api):
    api, reviewer = mail_api

    taken = await _register_by_mail(api, "olivia@vendor.example")
    free = await _register_by_mail(api, "bob@example.com")

    assert taken == free == {"token": None, "expiresAt": None, "user": None, "confirmationMailed": True, "errors": []}
    [notice] = await _mails_to(api, reviewer, "olivia@vendor.example")
    assert "has an account already" in notice["textBody"] and "token=" not in notice["textBody"]
    [link] = await _mails_to(api, reviewer, "bob@example.com")
    assert codes(await login(api, "bob@example.com")) == ["INVALID_CREDENTIALS"]  # no account before the link

    confirmed = (await api.data(CONFIRM, {"token": _registration_token(link)}))["confirmRegistration"]

    assert confirmed["errors"] == [] and confirmed["user"] == {"email": "bob@example.com"}
    assert (await api.data("{ viewer { email } }", token=confirmed["token"]))["viewer"] == {"email": "bob@example.com"}
    again = (await api.data(CONFIRM, {"token": _registration_token(link)}))["confirmRegistration"]
    assert again["errors"] == [{"field": "token", "code": "INVALID_TOKEN"}]
    assert codes(await login(api, "bob@example.com")) == []


async def test_a_registration_link_expires(mail_api, clock):
    api, reviewer = mail_api
    await _register_by_mail(api, "bob@example.com")
    [link] = await _mails_to(api, reviewer, "bob@example.com")

    clock.shift(timedelta(hours=24, seconds=1))
    expired = (await api.data(CONFIRM, {"token": _registration_token(link)}))["confirmRegistration"]

    assert expired["errors"] == [{"field": "token", "code": "INVALID_TOKEN"}]
    assert codes(await login(api, "bob@example.com")) == ["INVALID_CREDENTIALS"]


async def test_bad_registrations_by_mail_are_typed_errors_and_mail_nothing(mail_api):
    api, reviewer = mail_api

    payload = await api.data(REGISTER_BY_MAIL, {"input": {"email": "bob@", "password": "short", "name": ""}})

    assert codes(payload["register"]) == ["INVALID_EMAIL", "REQUIRED", "PASSWORD_TOO_SHORT"]
    assert payload["register"]["confirmationMailed"] is False
    assert (await api.data(OUTBOX, token=reviewer))["outboxMessages"]["edges"] == []


def test_registrations_are_confirmed_by_mail_in_production_by_default():
    production = test_settings("sqlite://:memory:", environment="production")

    assert production.registrations_by_mail
    assert not test_settings("sqlite://:memory:").registrations_by_mail
    assert not test_settings(
        "sqlite://:memory:", environment="production", confirm_registrations=False
    ).registrations_by_mail


async def test_without_the_rate_storage_a_sign_in_is_unavailable_before_any_password_is_checked(
    database_url, held_verifies
):
    from tests.conftest import free_port

    held_verifies["release"].set()
    async with portal(database_url, rate_limit_storage=f"redis://127.0.0.1:{free_port()}", query_budget=0) as api:
        response = await api.client.post(
            "/graphql",
            json={"query": LOGIN, "variables": {"input": {"email": "ann@example.com", "password": PASSWORD}}},
        )

    assert response.status_code == 503, response.text
    assert [error["extensions"]["code"] for error in response.json()["errors"]] == ["SERVICE_UNAVAILABLE"]
    assert not held_verifies["started"].is_set()
