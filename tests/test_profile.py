"""`updateProfile`: the signed-in person changes their display name (issue 17, the account page).
Through GraphQL on the real app."""

from __future__ import annotations

from partner_portal.models.audit import AuditEvent
from tests.support import pk, register

UPDATE_PROFILE = """
mutation Update($input: UpdateProfileInput!) {
  updateProfile(input: $input) { user { id name email } errors { field code } }
}"""
VIEWER = "{ viewer { name } }"


async def test_the_viewer_changes_their_name_and_it_is_audited(api):
    ada = await register(api, "ada@partner.example", "Ada Lovelace")

    changed = (await api.data(UPDATE_PROFILE, {"input": {"name": "  Ada   King "}}, token=ada.token))["updateProfile"]
    again = (await api.data(UPDATE_PROFILE, {"input": {"name": "Ada King"}}, token=ada.token))["updateProfile"]

    assert changed == {"user": {"id": changed["user"]["id"], "name": "Ada King", "email": ada.email}, "errors": []}
    assert again["errors"] == []
    assert (await api.data(VIEWER, token=ada.token))["viewer"]["name"] == "Ada King"
    events = await AuditEvent.filter(action="user.update_profile", target_id=str(pk(changed["user"]["id"]))).values(
        "changes"
    )
    assert events == [{"changes": {"name": {"from": "Ada Lovelace", "to": "Ada King"}}}]  # unchanged: no event


async def test_an_empty_or_too_long_name_is_refused_and_changes_nothing(api):
    ada = await register(api, "ada@partner.example", "Ada Lovelace")

    empty = (await api.data(UPDATE_PROFILE, {"input": {"name": "   "}}, token=ada.token))["updateProfile"]
    long = (await api.data(UPDATE_PROFILE, {"input": {"name": "x" * 201}}, token=ada.token))["updateProfile"]

    assert empty == {"user": None, "errors": [{"field": "name", "code": "REQUIRED"}]}
    assert long == {"user": None, "errors": [{"field": "name", "code": "TOO_LONG"}]}
    assert (await api.data(VIEWER, token=ada.token))["viewer"]["name"] == "Ada Lovelace"


async def test_anonymous_callers_may_not_change_a_profile(api):
    assert await api.error_code(UPDATE_PROFILE, {"input": {"name": "Mallory"}}) == "UNAUTHENTICATED"
