"""Customer invitations through the API: a partner invites by email, the mailed single-use link is
read from the outbox (as an operator), and the invitee accepts it."""

from __future__ import annotations

import re

from tests.conftest import PASSWORD, Api
from tests.documents import ACCEPT_INVITATION, INVITE_CUSTOMER, OUTBOX
from tests.support import Person


async def invite(
    api: Api, who: Person, email: str = "chris@contoso.example", organization_name: str = "Contoso Ltd", **extra
) -> dict:
    """inviteCustomer's payload (errors included)."""
    data = await api.data(
        INVITE_CUSTOMER, {"input": {"email": email, "organizationName": organization_name, **extra}}, token=who.token
    )
    return data["inviteCustomer"]


async def invited(api: Api, who: Person, email: str = "chris@contoso.example", **extra) -> dict:
    """An invitation that must succeed."""
    payload = await invite(api, who, email, **extra)
    assert payload["errors"] == [], payload["errors"]
    return payload["invitation"]


async def outbox(api: Api, reviewer: Person) -> list[dict]:
    """Every queued message, newest first."""
    data = await api.data(OUTBOX, token=reviewer.token)
    return [edge["node"] for edge in data["outboxMessages"]["edges"]]


def link_token(api: Api, body: str) -> str | None:
    """The token of the acceptance link `PUBLIC_URL/invitations/accept?token=ppi_…` in a mail body."""
    base = re.escape(api.settings.public_url.rstrip("/"))
    found = re.search(base + r"/invitations/accept\?token=(ppi_[A-Za-z0-9_-]+)", body)
    return found.group(1) if found else None


async def newest_link(api: Api, reviewer: Person, email: str) -> str:
    """The token of the newest invitation mail to `email`."""
    for message in await outbox(api, reviewer):
        if message["recipient"] == email and (token := link_token(api, message["textBody"])):
            return token
    raise AssertionError(f"no invitation mail to {email}")


async def accept(
    api: Api,
    token: str,
    *,
    name: str | None = "Chris Contoso",
    password: str | None = PASSWORD,
    signed_in: Person | None = None,
    **extra,
) -> dict:
    """acceptInvitation's payload (errors included); signed in as `signed_in` if given."""
    variables = {"input": {"token": token, "name": name, "password": password, **extra}}
    return (await api.data(ACCEPT_INVITATION, variables, token=signed_in.token if signed_in else None))[
        "acceptInvitation"
    ]
