"""The viewer's own sign-in sessions: which devices are signed in, when each was last used, and
ending one. The client of a session (its User-Agent and address) is recorded when it is issued."""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from tortoise.transactions import in_transaction

from partner_portal.models.clock import now
from partner_portal.models.identity import SessionToken
from partner_portal.permissions import scoping
from partner_portal.permissions.actor import Actor
from partner_portal.permissions.errors import NotFound
from partner_portal.permissions.requirements import SIGNED_IN
from partner_portal.resolvers import audit
from partner_portal.resolvers.pagination import Page, paginate

if TYPE_CHECKING:  # the context imports the loaders, which import the identity resolvers, which import this
    from partner_portal.resolvers.context import RequestContext

SESSION_FIELDS = (
    "id",
    "created_at",
    "last_used_at",
    "expires_at",
    "revoked_at",
    "user_agent",
    "client_address",
    "two_factor_at",
)
MAX_USER_AGENT_LENGTH = 300  # `SessionToken.user_agent`
MAX_ADDRESS_LENGTH = 64  # `SessionToken.client_address`
MAX_PRODUCT_LENGTH = 40  # of a label made from a User-Agent no browser is recognized in


@dataclass(frozen=True, slots=True)
class SessionClient:
    """The device a session is issued to, as its user sees it in the list of sessions."""

    user_agent: str | None
    address: str | None


def _printable(text: str | None, limit: int) -> str | None:
    """`text` without control and other invisible characters (Unicode category C), cut to `limit`."""
    if text is None:
        return None
    kept = "".join(character for character in text if not unicodedata.category(character).startswith("C"))
    return kept.strip()[:limit].strip() or None


def session_client(context: RequestContext) -> SessionClient:
    """The client of the request, for `issue_session(…, client=…)`."""
    return SessionClient(
        user_agent=_printable(context.user_agent, MAX_USER_AGENT_LENGTH),
        address=_printable(context.client_address, MAX_ADDRESS_LENGTH),
    )


# What a User-Agent says, looked up in order: the first match wins (Edge and Opera also say
# "Chrome", Chrome also says "Safari"; Android also says "Linux", iPhones "Mac OS X").
_BROWSERS = (
    ("Edg/", "Edge"),
    ("EdgA/", "Edge"),
    ("EdgiOS/", "Edge"),
    ("OPR/", "Opera"),
    ("SamsungBrowser/", "Samsung Internet"),
    ("Firefox/", "Firefox"),
    ("FxiOS/", "Firefox"),
    ("CriOS/", "Chrome"),
    ("Chrome/", "Chrome"),
    ("Safari/", "Safari"),
)
_SYSTEMS = (
    ("iPhone", "iOS"),
    ("iPad", "iPadOS"),
    ("Android", "Android"),
    ("CrOS", "ChromeOS"),
    ("Windows", "Windows"),
    ("Macintosh", "macOS"),
    ("Mac OS X", "macOS"),
    ("Linux", "Linux"),
)


def client_label(user_agent: str | None) -> str | None:
    """A short name for a User-Agent ("Firefox on Windows", "curl"): the browser and system when
    it names a common one, else its first product token; None without a User-Agent."""
    if not user_agent:
        return None
    browser = next((name for marker, name in _BROWSERS if marker in user_agent), None)
    system = next((name for marker, name in _SYSTEMS if marker in user_agent), None)
    product = browser or user_agent.split("/", 1)[0].split(" ", 1)[0][:MAX_PRODUCT_LENGTH] or None
    return f"{product} on {system}" if product and system else product or system


async def list_sessions(actor: Actor, *, first: int | None, after: str | None) -> Page:
    """The viewer's sessions that are neither ended nor expired, the newest first."""
    await SIGNED_IN.enforce(actor)
    queryset = (await scoping.visible_sessions(actor)).filter(revoked_at=None, expires_at__gt=now())
    return await paginate(queryset, fields=SESSION_FIELDS, first=first, after=after, order=("-id",))


async def get_session(actor: Actor, session_id: int) -> dict[str, Any] | None:
    """One of the viewer's own sessions (ended and expired ones too); None for anyone else's."""
    return await (await scoping.visible_sessions(actor)).filter(id=session_id).first().values(*SESSION_FIELDS)


async def end_session(actor: Actor, session_id: int) -> dict[str, Any]:
    """End one of the viewer's sessions, this request's own included (the request itself still
    completes as the viewer); ending an ended one changes nothing. Another user's: NOT_FOUND."""
    user_id = await SIGNED_IN.enforce(actor)
    if await get_session(actor, session_id) is None:
        raise NotFound()
    async with in_transaction():
        if await SessionToken.filter(id=session_id, revoked_at=None).update(revoked_at=now()):
            await audit.record(actor, "user.session_end", "User", user_id, changes={"session": session_id})
    row = await get_session(actor, session_id)
    if row is None:  # the account was deleted meanwhile
        raise NotFound()
    return row
