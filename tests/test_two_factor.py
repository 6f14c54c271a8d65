"""Two-factor sign-in: setting it up, signing in with a code or a recovery code, losing it, turning it
off, an operator's reset, and the vendor's requirement (REQUIRE_TWO_FACTOR) for operators and for
partner staff in management sessions. Real TOTP codes (pyotp) at the frozen clock."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pyotp
import pytest
from pydantic import ValidationError

from partner_portal.models.audit import AuditEvent
from partner_portal.models.identity import RecoveryCode, SessionToken, SignInChallenge, User
from partner_portal.models.outbox import OutboxMessage
from partner_portal.resolvers.identity import token_digest
from partner_portal.resolvers.two_factor import decrypt_secret
from tests.conftest import PASSWORD, Api, start_api, test_settings
from tests.documents import SET_DELEGATED_PERMISSIONS, SET_SERVICE_PARTNER
from tests.support import (
    Person,
    create_organization,
    make_operator,
    make_partner,
    operator,
    pk,
    register,
)

BEGIN = """
mutation Begin($password: String!) {
  beginTwoFactorSetup(input: {password: $password}) { secret provisioningUri errors { field code message } }
}"""
CONFIRM = """
mutation Confirm($code: String!) {
  confirmTwoFactorSetup(input: {code: $code}) {
    user { twoFactorEnabled recoveryCodesLeft } recoveryCodes errors { field code message }
  }
}"""
REGENERATE = """
mutation Regenerate($code: String!) {
  regenerateRecoveryCodes(input: {code: $code}) { recoveryCodes errors { field code message } }
}"""
DISABLE = """
mutation Disable($password: String!, $code: String!) {
  disableTwoFactor(input: {password: $password, code: $code}) {
    user { twoFactorEnabled recoveryCodesLeft } errors { field code message }
  }
}"""
LOGIN = """
mutation Login($email: String!, $password: String!) {
  login(input: {email: $email, password: $password}) {
    token user { id } secondFactorRequired challenge challengeExpiresAt errors { field code message }
  }
}"""
COMPLETE = """
mutation Complete($input: CompleteSignInInput!) {
  completeSignIn(input: $input) {
    token expiresAt user { email twoFactorEnabled recoveryCodesLeft } errors { field code message }
  }
}"""
RESET = """
mutation Reset($userId: ID!) {
  resetTwoFactor(input: {userId: $userId}) { user { id twoFactorEnabled recoveryCodesLeft } errors { field code } }
}"""
VIEWER = "{ viewer { twoFactorEnabled recoveryCodesLeft } }"
USER = "query User($id: ID!) { node(id: $id) { ... on User { twoFactorEnabled recoveryCodesLeft } } }"
CREATE_KEY = """
mutation Key { createApiKey(input: {name: "BI", scopes: [REPORTS_READ]}) { secret errors { code } } }"""
START_SESSION = """
mutation Start($id: ID!) { startManagementSession(input: {customerId: $id}) { session { id } errors { code } } }"""
RENAME = """
mutation Rename($id: ID!) { updateOrganization(input: {organizationId: $id, name: "Renamed"}) { errors { code } } }"""


@dataclass
class TwoFactor:
    secret: str
    recovery_codes: list[str]

    def code(self) -> str:
        return pyotp.TOTP(self.secret).now()


async def payload(api: Api, document: str, variables: dict[str, Any], token: str | None = None) -> dict[str, Any]:
    data = await api.data(document, variables, token=token)
    return next(iter(data.values()))


def codes(result: dict[str, Any]) -> list[str]:
    return [error["code"] for error in result["errors"]]


async def turn_on(api: Api, person: Person) -> TwoFactor:
    """Set up two-factor sign-in for `person` with `person.token`, which then counts as proved."""
    begun = await payload(api, BEGIN, {"password": PASSWORD}, person.token)
    assert begun["errors"] == [], begun["errors"]
    confirmed = await payload(api, CONFIRM, {"code": pyotp.TOTP(begun["secret"]).now()}, person.token)
    assert confirmed["errors"] == [], confirmed["errors"]
    return TwoFactor(begun["secret"], confirmed["recoveryCodes"])


async def challenge(api: Api, person: Person) -> str:
    result = await payload(api, LOGIN, {"email": person.email, "password": PASSWORD})
    assert result["errors"] == [] and result["secondFactorRequired"], result
    return result["challenge"]


async def complete(api: Api, challenge_token: str, **factor: str) -> dict[str, Any]:
    return await payload(api, COMPLETE, {"input": {"challenge": challenge_token, **factor}})


async def sign_in(api: Api, person: Person, factor: TwoFactor, clock: Any) -> Person:
    """A new session of `person`, signed in with a code of the next time step (a code works once)."""
    clock.shift(timedelta(seconds=30))
    result = await complete(api, await challenge(api, person), code=factor.code())
    assert result["errors"] == [], result["errors"]
    return Person(person.email, result["token"], person.user_id)


async def mails(template: str, to: str) -> list[dict[str, Any]]:
    messages = await OutboxMessage.all().values_list("payload", flat=True)
    return [m for m in messages if m.get("template") == template and m.get("to") == to]


async def settings_api(database_url: str, **overrides: Any) -> AsyncIterator[Api]:
    async for running in start_api(test_settings(database_url, **overrides)):
        yield running


@pytest.fixture
async def operators_need_it(database_url: str) -> AsyncIterator[Api]:
    async for running in settings_api(database_url, require_two_factor=["operators"]):
        yield running


@pytest.fixture
async def sessions_need_it(database_url: str) -> AsyncIterator[Api]:
    async for running in settings_api(database_url, require_two_factor=["management-sessions"]):
        yield running


# --- setting up ---------------------------------------------------------------------------------------------


async def test_setting_up_shows_the_secret_once_and_stores_it_encrypted(api, clock):
    # given
    ann = await register(api, "ann@example.com", "Ann")

    # when
    begun = await payload(api, BEGIN, {"password": PASSWORD}, ann.token)

    # then: an authenticator app's secret and URI; the row holds neither in clear
    assert begun["errors"] == []
    secret = begun["secret"]
    assert begun["provisioningUri"].startswith("otpauth://totp/Partner%20Portal:ann%40example.com?secret=")
    assert "issuer=Partner%20Portal" in begun["provisioningUri"]
    stored = await User.filter(email="ann@example.com").first().values_list("totp_secret", flat=True)
    assert secret not in stored and secret.lower() not in stored.lower()
    assert decrypt_secret(api.settings, stored) == secret
    assert (await api.data(VIEWER, token=ann.token))["viewer"] == {"twoFactorEnabled": False, "recoveryCodesLeft": None}

    # when: a first code turns it on
    confirmed = await payload(api, CONFIRM, {"code": pyotp.TOTP(secret).now()}, ann.token)

    # then: ten recovery codes, shown once and stored as SHA-256; the session counts as proved
    assert confirmed["errors"] == []
    assert confirmed["user"] == {"twoFactorEnabled": True, "recoveryCodesLeft": 10}
    recovery_codes = confirmed["recoveryCodes"]
    assert len(set(recovery_codes)) == 10
    stored_codes = set(await RecoveryCode.filter(user_id=pk(ann.user_id)).values_list("code_hash", flat=True))
    assert stored_codes == {token_digest(code.replace("-", "")) for code in recovery_codes}
    session = await SessionToken.filter(token_hash=token_digest(ann.token)).first()
    assert session.two_factor_at is not None
    notice = await mails("two_factor_changed", "ann@example.com")
    assert len(notice) == 1 and "turned on" in notice[0]["text"]


async def test_set_up_asks_for_the_password_and_a_right_first_code(api, clock):
    # given
    ann = await register(api, "ann@example.com", "Ann")

    # when / then
    assert codes(await payload(api, BEGIN, {"password": "not-the-password-1"}, ann.token)) == ["INVALID_CREDENTIALS"]
    assert codes(await payload(api, CONFIRM, {"code": "123456"}, ann.token)) == ["TWO_FACTOR_NOT_ENABLED"]
    begun = await payload(api, BEGIN, {"password": PASSWORD}, ann.token)
    wrong = str((int(pyotp.TOTP(begun["secret"]).now()) + 1) % 1_000_000).zfill(6)
    assert codes(await payload(api, CONFIRM, {"code": wrong}, ann.token)) == ["INVALID_CODE"]
    assert (await api.data(VIEWER, token=ann.token))["viewer"]["twoFactorEnabled"] is False


async def test_set_up_is_refused_while_it_is_on(api, clock):
    # given
    ann = await register(api, "ann@example.com", "Ann")
    await turn_on(api, ann)

    # when
    again = await payload(api, BEGIN, {"password": PASSWORD}, ann.token)

    # then
    assert codes(again) == ["TWO_FACTOR_ENABLED"]


async def test_the_secret_and_codes_need_a_signed_in_user(api):
    body = await api.post(BEGIN, {"password": PASSWORD})

    assert body["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"


# --- signing in ---------------------------------------------------------------------------------------------


async def test_sign_in_asks_for_a_code_after_the_password(api, clock):
    # given
    ann = await register(api, "ann@example.com", "Ann")
    factor = await turn_on(api, ann)

    # when: the password alone
    answer = await payload(api, LOGIN, {"email": ann.email, "password": PASSWORD})

    # then: no session yet, a challenge
    assert answer["errors"] == [] and answer["secondFactorRequired"] is True
    assert answer["token"] is None and answer["user"] is None
    assert answer["challenge"].startswith("ppc_")
    stored = await SignInChallenge.filter(user_id=pk(ann.user_id)).values_list("token_hash", flat=True)
    assert stored == [token_digest(answer["challenge"])]

    # when: a code of the next time step completes it
    clock.shift(timedelta(seconds=30))
    completed = await complete(api, answer["challenge"], code=factor.code())

    # then: a session, which proved a second factor; the payload answers as the signed-in user
    assert completed["errors"] == []
    assert completed["user"] == {"email": ann.email, "twoFactorEnabled": True, "recoveryCodesLeft": 10}
    session = await SessionToken.filter(token_hash=token_digest(completed["token"])).first()
    assert session.two_factor_at is not None
    assert (await api.data(VIEWER, token=completed["token"]))["viewer"]["twoFactorEnabled"] is True


async def test_a_code_is_not_accepted_twice(api, clock):
    # given: the code of this time step confirmed the set-up
    ann = await register(api, "ann@example.com", "Ann")
    factor = await turn_on(api, ann)
    used = factor.code()

    # when: the same code again, within its time step
    replayed = await complete(api, await challenge(api, ann), code=used)

    # then
    assert codes(replayed) == ["INVALID_CODE"]

    # when: the next step's code
    clock.shift(timedelta(seconds=30))
    fresh = await complete(api, await challenge(api, ann), code=factor.code())

    # then
    assert fresh["errors"] == [] and fresh["token"]


async def test_a_code_of_the_next_or_previous_step_is_accepted_but_not_older(api, clock):
    ann = await register(api, "ann@example.com", "Ann")
    factor = await turn_on(api, ann)
    totp = pyotp.TOTP(factor.secret)
    clock.shift(timedelta(minutes=5))
    moment = time.time()

    too_old = await complete(api, await challenge(api, ann), code=totp.at(moment - 60))
    previous = await complete(api, await challenge(api, ann), code=totp.at(moment - 30))
    following = await complete(api, await challenge(api, ann), code=totp.at(moment + 30))
    too_new = await complete(api, await challenge(api, ann), code=totp.at(moment + 60))

    assert codes(too_old) == ["INVALID_CODE"] and codes(too_new) == ["INVALID_CODE"]
    assert previous["errors"] == [] and following["errors"] == []


async def test_a_recovery_code_signs_in_once(api, clock):
    # given
    ann = await register(api, "ann@example.com", "Ann")
    factor = await turn_on(api, ann)
    spare = factor.recovery_codes[3]

    # when: typed without the hyphen, in capitals
    first = await complete(api, await challenge(api, ann), recoveryCode=spare.replace("-", "").upper())
    second = await complete(api, await challenge(api, ann), recoveryCode=spare)

    # then
    assert first["errors"] == [] and first["user"]["recoveryCodesLeft"] == 9
    assert codes(second) == ["INVALID_CODE"] and second["errors"][0]["field"] == "recoveryCode"


async def test_complete_sign_in_takes_one_factor(api, clock):
    ann = await register(api, "ann@example.com", "Ann")
    factor = await turn_on(api, ann)
    pending = await challenge(api, ann)

    neither = await complete(api, pending)
    both = await complete(api, pending, code=factor.code(), recoveryCode=factor.recovery_codes[0])

    assert codes(neither) == ["REQUIRED"] and codes(both) == ["REQUIRED"]


async def test_a_challenge_expires_and_works_once(api, clock):
    # given
    ann = await register(api, "ann@example.com", "Ann")
    factor = await turn_on(api, ann)
    pending = await challenge(api, ann)

    # when: five minutes later
    clock.shift(timedelta(minutes=5, seconds=1))
    late = await complete(api, pending, code=factor.code())

    # then
    assert codes(late) == ["INVALID_TOKEN"] and late["errors"][0]["field"] == "challenge"

    # when: completed, then used again
    pending = await challenge(api, ann)
    assert (await complete(api, pending, recoveryCode=factor.recovery_codes[0]))["errors"] == []
    again = await complete(api, pending, recoveryCode=factor.recovery_codes[1])

    # then
    assert codes(again) == ["INVALID_TOKEN"]
    assert codes(await complete(api, "ppc_not-a-real-challenge", code="123456")) == ["INVALID_TOKEN"]


async def test_a_challenge_dies_after_five_wrong_codes(database_url, clock):
    async for api in settings_api(database_url, login_max_failures=20):  # the address lock comes later
        # given
        ann = await register(api, "ann@example.com", "Ann")
        factor = await turn_on(api, ann)
        pending = await challenge(api, ann)
        clock.shift(timedelta(seconds=30))

        # when
        wrong = [codes(await complete(api, pending, code="000000")) for _ in range(5)]
        right_too_late = await complete(api, pending, code=factor.code())

        # then: the password is asked again
        assert wrong == [["INVALID_CODE"]] * 5
        assert codes(right_too_late) == ["INVALID_TOKEN"]


async def test_wrong_codes_count_towards_the_address_lock(database_url, clock):
    # given: three failures of one address from one client lock it
    async for api in settings_api(database_url, login_max_failures=3):
        ann = await register(api, "ann@example.com", "Ann")
        factor = await turn_on(api, ann)
        pending = await challenge(api, ann)  # counts until a code completes it
        clock.shift(timedelta(seconds=30))

        # when
        wrong = [codes(await complete(api, pending, code="000000")) for _ in range(2)]
        locked = await complete(api, pending, code=factor.code())
        password = await payload(api, LOGIN, {"email": ann.email, "password": PASSWORD})

        # then
        assert wrong == [["INVALID_CODE"]] * 2
        assert codes(locked) == ["TOO_MANY_ATTEMPTS"]
        assert codes(password) == ["TOO_MANY_ATTEMPTS"]


async def test_a_completed_sign_in_starts_the_address_counts_afresh(database_url, clock):
    async for api in settings_api(database_url, login_max_failures=3):
        ann = await register(api, "ann@example.com", "Ann")
        factor = await turn_on(api, ann)
        for _ in range(3):  # each would be the third failure if the earlier ones still counted
            await sign_in(api, ann, factor, clock)


# --- recovery codes, turning off ------------------------------------------------------------------------------


async def test_new_recovery_codes_replace_the_old_ones(api, clock):
    # given
    ann = await register(api, "ann@example.com", "Ann")
    factor = await turn_on(api, ann)
    clock.shift(timedelta(seconds=30))

    # when
    assert codes(await payload(api, REGENERATE, {"code": "000000"}, ann.token)) == ["INVALID_CODE"]
    regenerated = await payload(api, REGENERATE, {"code": factor.code()}, ann.token)

    # then
    assert regenerated["errors"] == [] and len(regenerated["recoveryCodes"]) == 10
    old = await complete(api, await challenge(api, ann), recoveryCode=factor.recovery_codes[0])
    new = await complete(api, await challenge(api, ann), recoveryCode=regenerated["recoveryCodes"][0])
    assert codes(old) == ["INVALID_CODE"] and new["errors"] == []


async def test_turning_off_takes_the_password_and_a_code(api, clock):
    # given
    ann = await register(api, "ann@example.com", "Ann")
    factor = await turn_on(api, ann)

    # when / then: each one wrong is refused
    wrong_password = await payload(api, DISABLE, {"password": "wrong-Passphrase-1", "code": "x"}, ann.token)
    wrong_code = await payload(api, DISABLE, {"password": PASSWORD, "code": "000000"}, ann.token)
    assert codes(wrong_password) == ["INVALID_CREDENTIALS"] and codes(wrong_code) == ["INVALID_CODE"]

    # when: a recovery code stands in for the app
    disabled = await payload(api, DISABLE, {"password": PASSWORD, "code": factor.recovery_codes[0]}, ann.token)

    # then: off; the password signs in alone; no session counts as proved; the owner is told
    assert disabled["errors"] == [] and disabled["user"] == {"twoFactorEnabled": False, "recoveryCodesLeft": None}
    answer = await payload(api, LOGIN, {"email": ann.email, "password": PASSWORD})
    assert answer["token"] and answer["secondFactorRequired"] is False
    assert not await SessionToken.filter(user_id=pk(ann.user_id), two_factor_at__isnull=False).exists()
    assert await User.filter(id=pk(ann.user_id), totp_secret__isnull=False).count() == 0
    assert [m["text"] for m in await mails("two_factor_changed", ann.email)][-1].count("turned off") == 1
    assert codes(await payload(api, DISABLE, {"password": PASSWORD, "code": "1"}, ann.token)) == [
        "TWO_FACTOR_NOT_ENABLED"
    ]


async def test_recovery_codes_left_is_the_viewers_own(api, clock):
    # given
    ann = await register(api, "ann@example.com", "Ann")
    await turn_on(api, ann)
    olga = await operator(api)

    # when
    theirs = (await api.data(USER, {"id": ann.user_id}, token=olga.token))["node"]
    own = (await api.data(USER, {"id": ann.user_id}, token=ann.token))["node"]

    # then
    assert theirs == {"twoFactorEnabled": True, "recoveryCodesLeft": None}
    assert own == {"twoFactorEnabled": True, "recoveryCodesLeft": 10}


# --- losing every factor: an operator's reset ------------------------------------------------------------


async def test_an_operator_resets_a_lost_second_factor(api, clock):
    # given
    ann = await register(api, "ann@example.com", "Ann")
    await turn_on(api, ann)
    olga = await operator(api)

    # when
    reset = await payload(api, RESET, {"userId": ann.user_id}, olga.token)

    # then: off, audited, the owner told; the password signs in alone
    assert reset["errors"] == [] and reset["user"]["twoFactorEnabled"] is False
    event = await AuditEvent.filter(action="user.two_factor_reset").first()
    assert event.actor_user_id == pk(olga.user_id) and event.target_id == str(pk(ann.user_id))
    assert len(await mails("two_factor_reset", ann.email)) == 1
    answer = await payload(api, LOGIN, {"email": ann.email, "password": PASSWORD})
    assert answer["token"] and not answer["secondFactorRequired"]
    assert codes(await payload(api, RESET, {"userId": ann.user_id}, olga.token)) == ["TWO_FACTOR_NOT_ENABLED"]


async def test_only_operators_who_manage_programs_reset_and_not_their_own(api, clock):
    # given
    ann = await register(api, "ann@example.com", "Ann")
    await turn_on(api, ann)
    olga = await operator(api)
    rita = await register(api, "rita@vendor.example", "Rita")
    await make_operator(api, rita, ["REVIEW_PARTNERS"])

    # when
    by_reviewer = await api.post(RESET, {"userId": ann.user_id}, token=rita.token)
    by_user = await api.post(RESET, {"userId": olga.user_id}, token=ann.token)
    own = await payload(api, RESET, {"userId": olga.user_id}, olga.token)

    # then
    assert by_reviewer["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    assert by_user["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    assert codes(own) == ["INVALID_VALUE"]
    assert (await api.data(VIEWER, token=ann.token))["viewer"]["twoFactorEnabled"] is True


# --- the vendor's requirement: operators -------------------------------------------------------------------


def missing(body: dict[str, Any]) -> tuple[str, dict[str, str] | None, str]:
    error = body["errors"][0]
    return error["extensions"]["code"], error["extensions"].get("missing"), error["message"]


async def test_without_the_requirement_an_operator_acts_without_a_second_factor(api, clock):
    olga = await operator(api)

    assert (await payload(api, CREATE_KEY, {}, olga.token))["errors"] == []


async def test_an_operator_without_a_second_factor_is_refused_where_it_is_required(operators_need_it, clock):
    # given
    api = operators_need_it
    olga = await operator(api)

    # when
    refused = await api.post(CREATE_KEY, token=olga.token)

    # then: FORBIDDEN, saying what is missing and the next step
    code, what, message = missing(refused)
    assert (code, what) == ("FORBIDDEN", {"kind": "SECOND_FACTOR"})
    assert message.startswith("Set up two-factor sign-in first")

    # when: set up in this session, which then counts as proved
    await turn_on(api, olga)

    # then
    assert (await payload(api, CREATE_KEY, {}, olga.token))["errors"] == []


async def test_an_operators_session_without_the_second_factor_is_refused(operators_need_it, clock):
    # given: a session from before two-factor sign-in was set up in another one
    api = operators_need_it
    olga = await operator(api)
    other = await register_session(api, olga)
    factor = await turn_on(api, olga)

    # when
    refused = await api.post(CREATE_KEY, token=other)
    signed_in = await sign_in(api, olga, factor, clock)

    # then
    code, what, message = missing(refused)
    assert (code, what) == ("FORBIDDEN", {"kind": "SECOND_FACTOR"})
    assert message.startswith("Sign in with your second factor")
    assert (await payload(api, CREATE_KEY, {}, signed_in.token))["errors"] == []


async def test_an_operator_without_the_second_factor_sees_as_no_operator(operators_need_it, clock):
    # given
    api = operators_need_it
    olga = await operator(api)
    ann = await register(api, "ann@example.com", "Ann")
    query = "query User($id: ID!) { node(id: $id) { id } }"

    # when
    body = await api.post(query, {"id": ann.user_id}, token=olga.token)

    # then
    assert body["errors"][0]["extensions"]["code"] == "NOT_FOUND"


async def test_the_operator_reset_also_needs_the_second_factor(operators_need_it, clock):
    api = operators_need_it
    ann = await register(api, "ann@example.com", "Ann")
    await turn_on(api, ann)
    olga = await operator(api)

    refused = await api.post(RESET, {"userId": ann.user_id}, token=olga.token)
    await turn_on(api, olga)
    allowed = await payload(api, RESET, {"userId": ann.user_id}, olga.token)

    assert missing(refused)[:2] == ("FORBIDDEN", {"kind": "SECOND_FACTOR"})
    assert allowed["errors"] == []


async def register_session(api: Api, person: Person) -> str:
    """Another session of `person`, signed in with the password alone (before a second factor existed)."""
    answer = await payload(api, LOGIN, {"email": person.email, "password": PASSWORD})
    assert answer["token"], answer
    return answer["token"]


# --- the vendor's requirement: management sessions -------------------------------------------------------


@dataclass
class Customer:
    staff: Person  # Northwind's administrator: ADMINISTER_CUSTOMERS
    id: str  # Contoso, which grants MANAGE_SETTINGS


async def customer_of_a_partner(api: Api) -> Customer:
    olga = await operator(api)
    northwind = await make_partner(api, olga)
    chris = await register(api, "chris@contoso.example", "Chris")
    contoso = await create_organization(api, chris, "Contoso")
    chosen = await api.data(SET_SERVICE_PARTNER, {"id": contoso["id"], "code": northwind.code}, token=chris.token)
    assert chosen["setServicePartner"]["errors"] == []
    granted = await api.data(
        SET_DELEGATED_PERMISSIONS,
        {"input": {"organizationId": contoso["id"], "permissions": ["MANAGE_SETTINGS"]}},
        token=chris.token,
    )
    assert granted["setDelegatedPermissions"]["errors"] == []
    return Customer(northwind.admin, contoso["id"])


async def test_without_the_requirement_staff_open_management_sessions_as_before(api, clock):
    customer = await customer_of_a_partner(api)

    started = await payload(api, START_SESSION, {"id": customer.id}, customer.staff.token)

    assert started["errors"] == []
    assert (await payload(api, RENAME, {"id": customer.id}, customer.staff.token))["errors"] == []


async def test_staff_open_management_sessions_only_with_a_second_factor(sessions_need_it, clock):
    # given
    api = sessions_need_it
    customer = await customer_of_a_partner(api)
    avery = customer.staff

    # when
    refused = await api.post(START_SESSION, {"id": customer.id}, token=avery.token)

    # then
    code, what, message = missing(refused)
    assert (code, what) == ("FORBIDDEN", {"kind": "SECOND_FACTOR"})
    assert message.startswith("Set up two-factor sign-in first")

    # when: set up, in this session
    await turn_on(api, avery)
    started = await payload(api, START_SESSION, {"id": customer.id}, avery.token)

    # then
    assert started["errors"] == []
    assert (await payload(api, RENAME, {"id": customer.id}, avery.token))["errors"] == []


async def test_staff_act_in_a_management_session_only_from_a_session_with_the_second_factor(sessions_need_it, clock):
    # given: a session opened with the second factor; another sign-in of the same person without it
    api = sessions_need_it
    customer = await customer_of_a_partner(api)
    avery = customer.staff
    without = await register_session(api, avery)
    await turn_on(api, avery)
    assert (await payload(api, START_SESSION, {"id": customer.id}, avery.token))["errors"] == []

    # when
    refused = await api.post(RENAME, {"id": customer.id}, token=without)

    # then
    code, what, message = missing(refused)
    assert (code, what) == ("FORBIDDEN", {"kind": "SECOND_FACTOR"})
    assert message.startswith("Sign in with your second factor")
    assert (await payload(api, RENAME, {"id": customer.id}, avery.token))["errors"] == []


async def test_operators_are_not_held_to_the_management_session_requirement(sessions_need_it, clock):
    api = sessions_need_it
    olga = await operator(api)

    assert (await payload(api, CREATE_KEY, {}, olga.token))["errors"] == []


async def test_an_unknown_requirement_is_refused_at_start():
    from partner_portal.settings import Settings

    with pytest.raises(ValidationError, match="management-sessions"):
        Settings(require_two_factor="operators,admins")

    assert Settings(require_two_factor="operators, management-sessions").require_two_factor == {
        "operators",
        "management-sessions",
    }
