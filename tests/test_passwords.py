"""Passwords: a reset by mailed link (the same answer for every address, single use, expiring, ending every
session) and a change while signed in (the current password checked like a sign-in, other sessions ended)."""

from __future__ import annotations

import hashlib
import re
from contextlib import AbstractAsyncContextManager
from datetime import UTC, datetime, timedelta

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from partner_portal.models.identity import PasswordResetToken, User
from partner_portal.models.outbox import OutboxMessage
from partner_portal.resolvers.outbox import deliver_due
from tests.conftest import PASSWORD, START, Api, SmtpServer, running, test_settings
from tests.documents import LOGIN
from tests.support import Person, create_api_key, fresh, operator, register

NEW_PASSWORD = "another-Sturdy-passphrase-43"
REQUEST = """
mutation Request($email: String!) {
  requestPasswordReset(input: {email: $email}) { requested errors { field code message } }
}"""
RESET = """
mutation Reset($token: String!, $password: String!) {
  resetPassword(input: {token: $token, newPassword: $password}) {
    passwordChanged secondFactorRequired token expiresAt user { id email } errors { field code }
  }
}"""
CHANGE = """
mutation Change($current: String!, $new: String!) {
  changePassword(input: {currentPassword: $current, newPassword: $new}) {
    sessionsEnded user { email } errors { field code }
  }
}"""
SIGNED_IN_ONLY = "{ organizations { totalCount } }"
SUBJECT = "Choose a new password for your partner portal account"
RESET_LINK = r"http://localhost:8000/password/reset\?token=(ppw_[A-Za-z0-9_-]+)"


def portal(database_url: str, **overrides: object) -> AbstractAsyncContextManager[Api]:
    return running(test_settings(database_url, **overrides))


async def request_reset(api: Api, email: str) -> dict:
    return (await api.data(REQUEST, {"email": email}))["requestPasswordReset"]


async def reset(api: Api, link_token: str, password: str = NEW_PASSWORD, **credentials: str) -> dict:
    return (await api.data(RESET, {"token": link_token, "password": password}, **credentials))["resetPassword"]


async def change(api: Api, person: Person, current: str = PASSWORD, new: str = NEW_PASSWORD) -> dict:
    return (await api.data(CHANGE, {"current": current, "new": new}, token=person.token))["changePassword"]


async def login_codes(api: Api, email: str, password: str) -> list[str]:
    payload = (await api.data(LOGIN, {"input": {"email": email, "password": password}}))["login"]
    return [error["code"] for error in payload["errors"]]


async def reset_mails() -> list[dict]:
    """The reset mails in the outbox, oldest first."""
    payloads = await OutboxMessage.all().order_by("id").values_list("payload", flat=True)
    return [payload for payload in payloads if payload.get("template") == "password_reset"]


async def mailed_token(email: str) -> str:
    """The token of the newest reset link mailed to `email`."""
    [*_, newest] = [mail for mail in await reset_mails() if mail["to"] == email]
    return re.search(RESET_LINK, newest["text"]).group(1)


def reset_messages(smtp_server: SmtpServer, subject: str = SUBJECT) -> list:
    """The reset mails the SMTP server received (registering may mail too)."""
    return [message for message in smtp_server.messages if message["Subject"] == subject]


async def is_signed_in(api: Api, token: str) -> bool:
    body = await api.post(SIGNED_IN_ONLY, token=token)
    if body.get("errors"):
        assert body["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED", body
        return False
    return True


# --- requesting a reset ------------------------------------------------------------------------------


async def test_the_reset_link_reaches_the_mailbox_and_sets_a_new_password(api, smtp_server, clock):
    # given
    ann = await register(api, "ann@example.com", "Ann")

    # when
    requested = await request_reset(api, "Ann@Example.com")
    report = await deliver_due(api.settings.model_copy(update={"smtp_url": smtp_server.url}))

    # then: the mail reached the SMTP server, with the link in both parts
    assert requested == {"requested": True, "errors": []}
    assert report.failed == 0
    [message] = reset_messages(smtp_server)
    assert message["To"] == "ann@example.com"
    parts = {part.get_content_type(): part.get_content() for part in message.iter_parts()}
    token = re.search(RESET_LINK, parts["text/plain"]).group(1)
    assert f"password/reset?token={token}" in parts["text/html"]
    assert "March 2, 2026, 10:00 UTC" in parts["text/plain"]  # an hour from now

    # when: the link is followed
    done = await reset(api, token)

    # then: the new password signs in, as the answer did
    assert done["errors"] == [] and done["passwordChanged"] and not done["secondFactorRequired"]
    assert done["user"] == {"id": ann.user_id, "email": "ann@example.com"}
    assert await is_signed_in(api, done["token"])
    assert await login_codes(api, "ann@example.com", NEW_PASSWORD) == []
    assert await login_codes(api, "ann@example.com", PASSWORD) == ["INVALID_CREDENTIALS"]


async def test_the_token_is_stored_only_as_its_sha256(api, clock):
    await register(api, "ann@example.com")

    await request_reset(api, "ann@example.com")

    token = await mailed_token("ann@example.com")
    [stored] = await PasswordResetToken.all().values("token_hash", "email", "expires_at")
    assert stored == {
        "token_hash": hashlib.sha256(token.encode()).hexdigest(),
        "email": "ann@example.com",
        "expires_at": START + timedelta(minutes=60),
    }


async def test_the_mail_is_in_the_account_s_language(api, smtp_server):
    await register(api, "ann@example.com")
    await User.filter(email="ann@example.com").update(language="de")

    await request_reset(api, "ann@example.com")
    await deliver_due(api.settings.model_copy(update={"smtp_url": smtp_server.url}))

    [message] = reset_messages(smtp_server, "Wählen Sie ein neues Passwort für Ihr Partnerportal-Konto")
    assert message["Content-Language"] == "de"


async def test_every_address_gets_the_same_answer_and_only_an_account_with_a_password_a_mail(api):
    # given: an account, one that signs in only through the identity provider, a deleted one
    await register(api, "ann@example.com")
    await User.create(email="sso@example.com", name="Sso", oidc_issuer="https://idp.example", oidc_subject="s-1")
    await register(api, "gone@example.com")
    await User.filter(email="gone@example.com").update(deleted_at=START)

    # when
    answers = {
        email: await request_reset(api, email)
        for email in ("ann@example.com", "nobody@example.com", "sso@example.com", "gone@example.com")
    }

    # then
    assert all(answer == {"requested": True, "errors": []} for answer in answers.values()), answers
    assert [mail["to"] for mail in await reset_mails()] == ["ann@example.com"]
    assert await PasswordResetToken.all().count() == 1


async def test_a_malformed_address_is_a_user_error(api):
    answer = await request_reset(api, "not an address")

    assert answer["requested"] is False
    assert [(error["field"], error["code"]) for error in answer["errors"]] == [("email", "INVALID_EMAIL")]


async def test_requests_are_throttled_per_client(database_url):
    async with portal(database_url, code_lookup_rate="2/minute") as api:
        answers = [await api.post(REQUEST, {"email": f"n{n}@example.com"}) for n in range(3)]

    assert [body.get("errors") is None for body in answers] == [True, True, False]
    assert answers[2]["errors"][0]["extensions"]["code"] == "THROTTLED"


async def test_an_address_gets_a_few_reset_mails_and_then_the_same_answer_without_mail(database_url):
    async with portal(database_url, mail_password_reset_rate="2/hour") as api:
        await register(api, "ann@example.com")

        answers = [await request_reset(api, "ann@example.com") for _ in range(3)]
        mails = await reset_mails()

    assert answers == [{"requested": True, "errors": []}] * 3
    assert len(mails) == 2


# --- resetting ---------------------------------------------------------------------------------------


async def test_a_link_works_once(api):
    await register(api, "ann@example.com")
    await request_reset(api, "ann@example.com")
    token = await mailed_token("ann@example.com")

    first = await reset(api, token)
    second = await reset(api, token, "yet-another-Sturdy-passphrase-44")

    assert first["errors"] == []
    assert second == {
        "passwordChanged": False,
        "secondFactorRequired": False,
        "token": None,
        "expiresAt": None,
        "user": None,
        "errors": [{"field": "token", "code": "TOKEN_USED"}],
    }
    assert await login_codes(api, "ann@example.com", NEW_PASSWORD) == []


async def test_a_newer_request_replaces_the_older_link(api):
    await register(api, "ann@example.com")
    await request_reset(api, "ann@example.com")
    older = await mailed_token("ann@example.com")
    await request_reset(api, "ann@example.com")
    newer = await mailed_token("ann@example.com")

    assert (await reset(api, older))["errors"] == [{"field": "token", "code": "INVALID_TOKEN"}]
    assert (await reset(api, newer))["errors"] == []


async def test_a_link_works_for_its_hour_and_not_after(api, clock):
    await register(api, "ann@example.com")
    await request_reset(api, "ann@example.com")
    token = await mailed_token("ann@example.com")

    clock.shift(timedelta(minutes=60, seconds=1))
    expired = await reset(api, token)

    assert expired["errors"] == [{"field": "token", "code": "TOKEN_EXPIRED"}]
    assert await login_codes(api, "ann@example.com", PASSWORD) == []


async def test_a_link_used_within_its_hour_works(api, clock):
    await register(api, "ann@example.com")
    await request_reset(api, "ann@example.com")
    token = await mailed_token("ann@example.com")

    clock.shift(timedelta(minutes=59))

    assert (await reset(api, token))["errors"] == []


@pytest.mark.parametrize("token", ["ppw_forged", "not-a-token", "ppw_" + "x" * 200])
async def test_a_forged_link_changes_nothing(api, token):
    await register(api, "ann@example.com")

    assert (await reset(api, token))["errors"] == [{"field": "token", "code": "INVALID_TOKEN"}]
    assert await login_codes(api, "ann@example.com", PASSWORD) == []


async def test_a_weak_new_password_is_refused_and_the_link_still_works(api):
    await register(api, "ann@example.com")
    await request_reset(api, "ann@example.com")
    token = await mailed_token("ann@example.com")

    weak = await reset(api, token, "password123")
    short = await reset(api, token, "short")
    good = await reset(api, token)

    assert weak["errors"] == [{"field": "newPassword", "code": "PASSWORD_TOO_COMMON"}]
    assert short["errors"] == [{"field": "newPassword", "code": "PASSWORD_TOO_SHORT"}]
    assert good["errors"] == []


async def test_a_reset_ends_every_session_of_the_user(api):
    # given: two devices signed in, and another person
    ann = await register(api, "ann@example.com")
    other_device = await fresh(api, ann)
    bob = await register(api, "bob@example.com")
    await request_reset(api, "ann@example.com")

    # when: the link is followed on one of the devices
    done = await reset(api, await mailed_token("ann@example.com"), token=ann.token)

    # then: the old tokens are UNAUTHENTICATED, the new one works, Bob stays signed in
    assert not await is_signed_in(api, ann.token)
    assert not await is_signed_in(api, other_device.token)
    assert await is_signed_in(api, done["token"])
    assert await is_signed_in(api, bob.token)


async def test_a_reset_proves_the_address(api, clock):
    await register(api, "ann@example.com")
    await User.filter(email="ann@example.com").update(email_verified_at=None)
    await request_reset(api, "ann@example.com")

    await reset(api, await mailed_token("ann@example.com"))

    assert await User.filter(email="ann@example.com").first().values_list("email_verified_at", flat=True) == START


async def test_a_link_to_an_address_the_account_no_longer_has_does_not_work(api):
    await register(api, "ann@example.com")
    await request_reset(api, "ann@example.com")
    token = await mailed_token("ann@example.com")
    await User.filter(email="ann@example.com").update(email="ann@new.example")

    assert (await reset(api, token))["errors"] == [{"field": "token", "code": "INVALID_TOKEN"}]


async def test_a_reset_ends_the_sign_in_lock_of_the_address(database_url):
    async with portal(database_url, login_max_failures=3, login_account_max_failures=3) as api:
        await register(api, "ann@example.com")
        for n in range(3):
            assert await login_codes(api, "ann@example.com", f"wrong-password-{n}") == ["INVALID_CREDENTIALS"]
        assert await login_codes(api, "ann@example.com", PASSWORD) == ["TOO_MANY_ATTEMPTS"]
        await request_reset(api, "ann@example.com")

        await reset(api, await mailed_token("ann@example.com"))

        assert await login_codes(api, "ann@example.com", NEW_PASSWORD) == []


async def test_with_two_factor_sign_in_a_reset_sets_the_password_but_does_not_sign_in(api):
    ann = await register(api, "ann@example.com")
    await User.filter(email="ann@example.com").update(totp_enabled_at=START)
    await request_reset(api, "ann@example.com")

    done = await reset(api, await mailed_token("ann@example.com"))

    assert done == {
        "passwordChanged": True,
        "secondFactorRequired": True,
        "token": None,
        "expiresAt": None,
        "user": None,
        "errors": [],
    }
    assert not await is_signed_in(api, ann.token)
    stored = await User.filter(email="ann@example.com").first().values_list("password_hash", flat=True)
    assert stored.startswith("$argon2id$")


# --- changing the password ---------------------------------------------------------------------------


async def test_a_change_keeps_this_session_and_ends_the_others(api):
    # given
    ann = await register(api, "ann@example.com")
    other_device = await fresh(api, ann)
    await request_reset(api, "ann@example.com")
    pending_link = await mailed_token("ann@example.com")

    # when
    changed = await change(api, ann)

    # then
    assert changed == {"sessionsEnded": 1, "user": {"email": "ann@example.com"}, "errors": []}
    assert await is_signed_in(api, ann.token)
    assert not await is_signed_in(api, other_device.token)
    assert await login_codes(api, "ann@example.com", NEW_PASSWORD) == []
    assert await login_codes(api, "ann@example.com", PASSWORD) == ["INVALID_CREDENTIALS"]
    assert (await reset(api, pending_link))["errors"] == [{"field": "token", "code": "INVALID_TOKEN"}]


async def test_a_wrong_current_password_changes_nothing(api):
    ann = await register(api, "ann@example.com")
    other_device = await fresh(api, ann)

    refused = await change(api, ann, current="wrong-password-1")

    assert refused == {
        "sessionsEnded": 0,
        "user": None,
        "errors": [{"field": "currentPassword", "code": "INVALID_CREDENTIALS"}],
    }
    assert await is_signed_in(api, other_device.token)
    assert await login_codes(api, "ann@example.com", PASSWORD) == []


async def test_wrong_current_passwords_count_as_failed_sign_ins(database_url):
    async with portal(database_url, login_max_failures=3) as api:
        ann = await register(api, "ann@example.com")

        guesses = [await change(api, ann, current=f"wrong-password-{n}") for n in range(4)]
        right_one = await change(api, ann)

    assert [guess["errors"][0]["code"] for guess in guesses] == ["INVALID_CREDENTIALS"] * 3 + ["TOO_MANY_ATTEMPTS"]
    assert right_one["errors"][0]["code"] == "TOO_MANY_ATTEMPTS"


async def test_a_weak_new_password_is_refused(api):
    ann = await register(api, "ann@example.com")

    refused = await change(api, ann, new="password123")

    assert refused["errors"] == [{"field": "newPassword", "code": "PASSWORD_TOO_COMMON"}]
    assert await login_codes(api, "ann@example.com", PASSWORD) == []


async def test_anonymous_callers_and_api_keys_cannot_change_a_password(api):
    reviewer = await operator(api)
    key = await create_api_key(api, reviewer, ["REPORTS_READ"])
    variables = {"current": PASSWORD, "new": NEW_PASSWORD}

    assert await api.error_code(CHANGE, variables) == "UNAUTHENTICATED"
    assert await api.error_code(CHANGE, variables, api_key=key) == "UNAUTHENTICATED"


async def test_an_identity_provider_s_token_cannot_change_a_password(database_url):
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    public_pem = key.public_key().public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo).decode()
    issuer, audience, moment = "https://id.vendor.test", "partner-portal", datetime.now(UTC)
    claims = {"iss": issuer, "aud": audience, "sub": "s-1", "email": "sso@example.com", "email_verified": True}
    token = jwt.encode({**claims, "iat": moment, "exp": moment + timedelta(minutes=5)}, key, algorithm="RS256")
    settings = test_settings(database_url, oidc_issuer=issuer, oidc_audience=audience, oidc_public_key=public_pem)
    async with running(settings) as api:
        assert (await api.data("{ viewer { email } }", token=token))["viewer"] == {"email": "sso@example.com"}

        code = await api.error_code(CHANGE, {"current": PASSWORD, "new": NEW_PASSWORD}, token=token)

    assert code == "UNAUTHENTICATED"


# --- one password per operation ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "document",
    [
        'mutation { a: changePassword(input: {currentPassword: "guess-1", newPassword: "x"}) { sessionsEnded } '
        'b: changePassword(input: {currentPassword: "guess-2", newPassword: "x"}) { sessionsEnded } }',
        'mutation { resetPassword(input: {token: "ppw_x", newPassword: "x"}) { passwordChanged } '
        'login(input: {email: "a@b.example", password: "guess-1"}) { token } }',
    ],
)
async def test_an_operation_checks_or_sets_one_password(api, document):
    body = await api.post(document)

    assert body.get("data") is None
    assert "sign in or register once" in body["errors"][0]["message"]
