"""GraphQL for the viewer's own sign-in sessions: the devices signed in, and ending one."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import strawberry
from strawberry.relay import GlobalID

from partner_portal.permissions.requirements import SIGNED_IN
from partner_portal.resolvers import sessions
from partner_portal.schema.common import (
    After,
    Connection,
    First,
    Info,
    Node,
    NodeID,
    Payload,
    connection,
    decode_id,
    node_type,
    run_mutation,
)
from partner_portal.schema.requires import Requires
from partner_portal.schema.rows import RowType, row_type


@row_type(
    sessions.SESSION_FIELDS,
    ended_at="revoked_at",
    two_factor=lambda row: row["two_factor_at"] is not None,
    label=lambda row: sessions.client_label(row["user_agent"]),
)
@strawberry.type(
    description="A signed-in device of the viewer: a session token given out by a sign-in. Only its own user sees it."
)
class SessionToken(Node, RowType):
    id: NodeID[int]
    created_at: datetime = strawberry.field(description="When the session began (the sign-in).")
    last_used_at: datetime | None = strawberry.field(
        description="When a request last came with the session (to the minute); null until the first "
        "request after the sign-in."
    )
    expires_at: datetime = strawberry.field(description="When the session ends by itself.")
    ended_at: datetime | None = strawberry.field(
        description="When the session was ended (signed out, or ended from another session); null while open."
    )
    user_agent: str | None = strawberry.field(
        description="The client's `User-Agent` at the sign-in (at most 300 characters, without control "
        "characters); null when it sent none."
    )
    label: str | None = strawberry.field(
        description='A short name for the client read from `userAgent` ("Firefox on Windows", "curl"); '
        "null without a `userAgent`."
    )
    client_address: str | None = strawberry.field(
        description="The IP address the sign-in came from, as the server saw it (behind a proxy: the proxy's "
        "unless it forwards the client's)."
    )
    two_factor: bool = strawberry.field(description="True when the session proved a second factor.")

    @strawberry.field(description="True for the session this request was made with.")
    def current(self, info: Info) -> bool:
        return info.context.actor.session_token_id == self.id


@node_type("SessionToken")
async def _fetch_session(context: Any, pk: int) -> SessionToken | None:
    row = await sessions.get_session(context.actor, pk)
    return SessionToken.from_row(row) if row else None


@strawberry.input(description="The session to end.")
class EndSessionInput:
    session_id: GlobalID = strawberry.field(description="The id of one of the viewer's sessions (`viewerSessions`).")


@strawberry.type(description="The ended session.")
class EndSessionPayload(Payload):
    session: SessionToken | None = strawberry.field(default=None, description="The session, now ended.")


@strawberry.type
class SessionsQuery:
    @strawberry.field(
        description="The viewer's open sessions (neither ended nor expired), the newest sign-in first; "
        "`lastUsedAt` tells which were used lately.",
        extensions=[Requires(SIGNED_IN)],
    )
    async def viewer_sessions(self, info: Info, first: First = None, after: After = None) -> Connection[SessionToken]:
        page = await sessions.list_sessions(info.context.actor, first=first, after=after)
        return connection(page, SessionToken.from_row)


@strawberry.type
class SessionsMutation:
    @strawberry.mutation(
        description="End one of the viewer's sessions, at once: its token is refused from then on. Ending "
        "the current one signs this device out (like `logout`); the rest of this operation still "
        "answers as the viewer.",
        extensions=[Requires(SIGNED_IN)],
    )
    async def end_session(self, info: Info, input: EndSessionInput) -> EndSessionPayload:
        change = sessions.end_session(info.context.actor, decode_id(input.session_id, "SessionToken"))
        return await run_mutation(EndSessionPayload, change, session=SessionToken.from_row)
