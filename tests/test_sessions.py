"""My sessions: the viewer's signed-in devices (when each began and was last used, its client), and
ending one of them; nobody else sees or ends them."""

from __future__ import annotations

from datetime import timedelta

import pytest
from strawberry.relay import GlobalID

from partner_portal.resolvers.sessions import client_label
from tests.conftest import PASSWORD
from tests.documents import LOGIN
from tests.support import make_operator, register

FIREFOX = "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:133.0) Gecko/20100101 Firefox/133.0"
SAFARI_ON_IPHONE = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/17.5 Mobile/15E148 Safari/604.1"
)
CURL = "curl/8.5.0"
SESSIONS = """query Sessions($first: Int, $after: String) {
  viewerSessions(first: $first, after: $after) {
    totalCount
    edges { node { id createdAt lastUsedAt expiresAt endedAt userAgent label clientAddress current twoFactor } }
    pageInfo { hasNextPage endCursor }
  }
}"""
END_SESSION = """mutation End($id: ID!) {
  endSession(input: {sessionId: $id}) { session { id endedAt current } errors { field code } }
}"""
NODE = "query Node($id: ID!) { node(id: $id) { __typename id ... on SessionToken { userAgent } } }"
AUDIT = "{ auditEvents(first: 5) { edges { node { action } } } }"


async def _sign_in(api, email: str, user_agent: str | bytes) -> str:
    data = await api.data(LOGIN, {"input": {"email": email, "password": PASSWORD}}, headers={"user-agent": user_agent})
    assert data["login"]["errors"] == [], data["login"]["errors"]
    return data["login"]["token"]


async def _sessions(api, token: str, **variables) -> dict:
    return (await api.data(SESSIONS, variables, token=token))["viewerSessions"]


def _by_agent(listed: dict) -> dict[str, dict]:
    return {edge["node"]["userAgent"]: edge["node"] for edge in listed["edges"]}


async def test_each_sign_in_is_listed_with_its_client(api, clock):
    # given: a registration (a session too) and two sign-ins from other devices
    await api.data(
        'mutation { register(input: {email: "pia@example.com", password: "%s", name: "Pia"}) { token } }' % PASSWORD,
        headers={"user-agent": SAFARI_ON_IPHONE},
    )
    clock.shift(timedelta(minutes=5))
    on_firefox = await _sign_in(api, "pia@example.com", FIREFOX)
    clock.shift(timedelta(minutes=5))
    await _sign_in(api, "pia@example.com", CURL)

    # when
    listed = await _sessions(api, on_firefox)

    # then: the newest sign-in first, each with its client; this request's session is the current one
    assert listed["totalCount"] == 3
    assert [edge["node"]["userAgent"] for edge in listed["edges"]] == [CURL, FIREFOX, SAFARI_ON_IPHONE]
    sessions = _by_agent(listed)
    assert {agent: node["label"] for agent, node in sessions.items()} == {
        CURL: "curl",
        FIREFOX: "Firefox on Windows",
        SAFARI_ON_IPHONE: "Safari on iOS",
    }
    assert [agent for agent, node in sessions.items() if node["current"]] == [FIREFOX]
    firefox = sessions[FIREFOX]
    assert firefox["createdAt"].startswith("2026-03-02T09:05:00")
    assert firefox["expiresAt"].startswith("2026-03-16T09:05:00")
    assert firefox["clientAddress"] == "127.0.0.1"
    assert firefox["endedAt"] is None
    assert firefox["twoFactor"] is False


async def test_a_user_agent_is_kept_without_control_characters_and_cut_to_300_characters(api):
    # given
    await register(api, "pia@example.com")
    tricky = b"Evil\x7f\x85Agent\t/" + b"x" * 400  # DEL, NEL (read as Latin-1) and a tab

    # when
    token = await _sign_in(api, "pia@example.com", tricky)

    # then
    kept = next(edge["node"] for edge in (await _sessions(api, token))["edges"] if edge["node"]["current"])
    assert kept["userAgent"] == ("EvilAgent/" + "x" * 400)[:300]
    assert kept["label"] == "EvilAgent"


async def test_last_use_moves_with_the_requests_of_a_session(api, clock):
    # given
    await register(api, "pia@example.com")
    on_firefox = await _sign_in(api, "pia@example.com", FIREFOX)
    with_curl = await _sign_in(api, "pia@example.com", CURL)
    assert _by_agent(await _sessions(api, with_curl))[FIREFOX]["lastUsedAt"] is None  # not used since its sign-in

    # when: Firefox is used two hours later, curl three hours later
    clock.shift(timedelta(hours=2))
    await _sessions(api, on_firefox)
    clock.shift(timedelta(hours=1))
    listed = _by_agent(await _sessions(api, with_curl))

    # then
    assert listed[FIREFOX]["lastUsedAt"].startswith("2026-03-02T11:00:00")
    assert listed[CURL]["lastUsedAt"].startswith("2026-03-02T12:00:00")


async def test_ending_a_session_refuses_its_token_and_leaves_the_others(api, clock):
    # given
    await register(api, "pia@example.com")
    on_firefox = await _sign_in(api, "pia@example.com", FIREFOX)
    with_curl = await _sign_in(api, "pia@example.com", CURL)
    firefox_id = _by_agent(await _sessions(api, with_curl))[FIREFOX]["id"]

    # when
    ended = (await api.data(END_SESSION, {"id": firefox_id}, token=with_curl))["endSession"]

    # then
    assert ended["errors"] == []
    assert ended["session"]["id"] == firefox_id
    assert ended["session"]["endedAt"].startswith("2026-03-02T09:00:00")
    assert await api.error_code(SESSIONS, token=on_firefox) == "UNAUTHENTICATED"
    assert FIREFOX not in _by_agent(await _sessions(api, with_curl))
    olivia = await register(api, "olivia@vendor.example")  # operators read the whole audit log
    await make_operator(api, olivia)
    events = (await api.data(AUDIT, token=olivia.token))["auditEvents"]["edges"]
    assert "user.session_end" in [edge["node"]["action"] for edge in events]


async def test_ending_an_ended_session_changes_nothing(api, clock):
    # given
    await register(api, "pia@example.com")
    await _sign_in(api, "pia@example.com", FIREFOX)
    with_curl = await _sign_in(api, "pia@example.com", CURL)
    firefox_id = _by_agent(await _sessions(api, with_curl))[FIREFOX]["id"]
    first = (await api.data(END_SESSION, {"id": firefox_id}, token=with_curl))["endSession"]

    # when
    clock.shift(timedelta(hours=1))
    again = (await api.data(END_SESSION, {"id": firefox_id}, token=with_curl))["endSession"]

    # then
    assert again == first


async def test_ending_the_current_session_signs_this_device_out(api):
    # given
    await register(api, "pia@example.com")
    on_firefox = await _sign_in(api, "pia@example.com", FIREFOX)
    current_id = next(e["node"]["id"] for e in (await _sessions(api, on_firefox))["edges"] if e["node"]["current"])

    # when
    ended = (await api.data(END_SESSION, {"id": current_id}, token=on_firefox))["endSession"]

    # then: the operation still answered as the viewer; the next request is signed out
    assert ended["errors"] == []
    assert ended["session"]["current"] is True
    assert await api.error_code(SESSIONS, token=on_firefox) == "UNAUTHENTICATED"


async def test_ended_and_expired_sessions_are_not_listed(api, clock):
    # given: a session from the registration (expires after 14 days), one ended, one new
    pia = await register(api, "pia@example.com")
    ended = await _sign_in(api, "pia@example.com", CURL)
    await api.data("mutation { logout { errors { code } } }", token=ended)
    clock.shift(timedelta(days=13))
    on_firefox = await _sign_in(api, "pia@example.com", FIREFOX)
    assert (await _sessions(api, on_firefox))["totalCount"] == 2

    # when
    clock.shift(timedelta(days=2))
    listed = await _sessions(api, on_firefox)

    # then
    assert list(_by_agent(listed)) == [FIREFOX]
    assert await api.error_code(SESSIONS, token=pia.token) == "UNAUTHENTICATED"


async def test_the_sessions_come_in_pages(api, clock):
    # given
    await register(api, "pia@example.com")
    tokens = []
    for n in range(3):
        clock.shift(timedelta(minutes=1))
        tokens.append(await _sign_in(api, "pia@example.com", f"client{n}/1.0"))

    # when
    first = await _sessions(api, tokens[0], first=2)
    rest = await _sessions(api, tokens[0], first=2, after=first["pageInfo"]["endCursor"])

    # then
    assert [e["node"]["userAgent"] for e in first["edges"]] == ["client2/1.0", "client1/1.0"]
    assert first["pageInfo"]["hasNextPage"] is True
    assert [e["node"]["userAgent"] for e in rest["edges"]][:1] == ["client0/1.0"]  # and the registration's
    assert len(rest["edges"]) == 2
    assert rest["pageInfo"]["hasNextPage"] is False


async def test_another_users_session_is_not_found_for_anyone_else(api):
    # given: Pia's session; Max, and an operator with every permission
    await register(api, "pia@example.com")
    on_firefox = await _sign_in(api, "pia@example.com", FIREFOX)
    firefox_id = _by_agent(await _sessions(api, on_firefox))[FIREFOX]["id"]
    max_ = await register(api, "max@example.com")
    olivia = await register(api, "olivia@vendor.example")
    await make_operator(api, olivia)

    for other in (max_, olivia):
        # when
        ended = await api.post(END_SESSION, {"id": firefox_id}, token=other.token)
        fetched = await api.post(NODE, {"id": firefox_id}, token=other.token)

        # then: the same answer as for no session at all
        assert ended["errors"][0]["extensions"]["code"] == "NOT_FOUND"
        assert fetched["errors"][0]["extensions"]["code"] == "NOT_FOUND"
        assert firefox_id not in str(await _sessions(api, other.token))
    assert (
        await api.error_code(END_SESSION, {"id": str(GlobalID("SessionToken", "999999"))}, token=max_.token)
        == "NOT_FOUND"
    )
    # the owner still has it, and fetches it by id
    assert FIREFOX in _by_agent(await _sessions(api, on_firefox))
    node = (await api.data(NODE, {"id": firefox_id}, token=on_firefox))["node"]
    assert node == {"__typename": "SessionToken", "id": firefox_id, "userAgent": FIREFOX}


async def test_anonymous_callers_and_api_keys_have_no_sessions(api):
    # given
    pia = await register(api, "pia@example.com")
    session_id = next(e["node"]["id"] for e in (await _sessions(api, pia.token))["edges"])
    olivia = await register(api, "olivia@vendor.example")
    await make_operator(api, olivia)
    created = await api.data(
        'mutation { createApiKey(input: {name: "BI", scopes: [REPORTS_READ]}) { secret } }', token=olivia.token
    )
    key = created["createApiKey"]["secret"]

    for credentials in ({}, {"api_key": key}):
        # when / then
        assert await api.error_code(SESSIONS, **credentials) == "UNAUTHENTICATED"
        assert await api.error_code(END_SESSION, {"id": session_id}, **credentials) == "UNAUTHENTICATED"
    assert session_id in str(await _sessions(api, pia.token))


async def test_a_session_id_of_another_type_is_refused(api):
    # given
    pia = await register(api, "pia@example.com")

    # when
    code = await api.error_code(END_SESSION, {"id": pia.user_id}, token=pia.token)

    # then
    assert code == "BAD_USER_INPUT"


@pytest.mark.parametrize(
    ("user_agent", "label"),
    [
        (FIREFOX, "Firefox on Windows"),
        (SAFARI_ON_IPHONE, "Safari on iOS"),
        (
            "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) "
            "Chrome/131.0.0.0 Safari/537.36",
            "Chrome on macOS",
        ),
        (
            "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
            "Chrome/131.0.0.0 Safari/537.36 Edg/131.0.0.0",
            "Edge on Windows",
        ),
        (
            "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
            "Chrome/131.0.0.0 Mobile Safari/537.36",
            "Chrome on Android",
        ),
        ("Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0", "Firefox on Linux"),
        (CURL, "curl"),
        ("python-httpx/0.28.1", "python-httpx"),
        ("/1.0 (Windows NT 10.0)", "Windows"),
        (None, None),
    ],
)
def test_a_client_gets_a_short_label(user_agent, label):
    assert client_label(user_agent) == label
