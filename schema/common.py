"""Shared GraphQL building blocks: context access, global ids, connections, user errors."""

from __future__ import annotations

import enum
import inspect
from collections.abc import Awaitable, Callable, Mapping
from typing import Annotated, Any, Generic, TypeVar

import strawberry
from strawberry import relay
from strawberry.relay import GlobalID, GlobalIDValueError
from strawberry.relay import NodeID as NodeID  # for the schema modules (an alias assignment is no generic type to mypy)

from partner_portal.permissions.errors import NotFound
from partner_portal.resolvers.context import RequestContext
from partner_portal.resolvers.errors import BadArgument, UserErrorCode, UserInputError
from partner_portal.resolvers.keys import primary_key_in
from partner_portal.resolvers.pagination import Page

Info = strawberry.Info[RequestContext, None]
NodeT = TypeVar("NodeT")
E = TypeVar("E", bound=enum.Enum)


def describe_enum(cls: type[E], description: str, values: Mapping[str, str]) -> type[E]:
    """Expose a domain enum in GraphQL with a description for the type and each value."""
    missing = {member.name for member in cls} - set(values)
    if missing:
        raise ValueError(f"{cls.__name__}: describe {sorted(missing)}")
    strawberry.enum(cls, description=description)
    for value in cls.__strawberry_definition__.values:  # type: ignore[attr-defined]
        value.description = values[value.name]
    return cls


describe_enum(
    UserErrorCode,
    "Why a mutation's input or the state it met did not allow the change.",
    {
        "INVALID_VALUE": "The value is not acceptable for this field.",
        "REQUIRED": "The field must not be empty.",
        "TOO_LONG": "The value is longer than allowed.",
        "INVALID_EMAIL": "The email address is not valid.",
        "EMAIL_TAKEN": "An account with this email address exists already.",
        "PASSWORD_TOO_SHORT": "The password is shorter than allowed.",
        "PASSWORD_TOO_COMMON": "The password is too easy to guess.",
        "INVALID_CREDENTIALS": "The email address or the password is wrong.",
        "TOO_MANY_ATTEMPTS": "Too many failed sign-ins; the address is locked for a while.",
        "INVALID_CODE": "The two-factor or recovery code is wrong, or was used already.",
        "TWO_FACTOR_ENABLED": "Two-factor sign-in is on already: turn it off before setting it up again.",
        "TWO_FACTOR_NOT_ENABLED": "Two-factor sign-in is not on (or its set-up was not begun).",
        "USER_NOT_FOUND": "No account uses this email address.",
        "ALREADY_MEMBER": "The person is a member of the organization already.",
        "LIMIT_REACHED": "The most allowed exist already (organizations of a user, affiliate links of a partner).",
        "LAST_ADMINISTRATOR": "The change would leave the organization without an administrator.",
        "OPERATOR_ACCOUNT": "An operator account cannot be deleted while it holds the operator role.",
        "EMPTY_SCOPES": "An API key needs at least one scope.",
        "APPLICATION_PENDING": "The organization has an application under review already.",
        "ALREADY_PARTNER": "The organization is a partner already.",
        "APPLICATION_DECIDED": "The application was approved or rejected already.",
        "ALREADY_INVITED": "An open invitation for this address exists: resend it instead.",
        "INVALID_TOKEN": "The link is malformed or unknown.",
        "TOKEN_EXPIRED": "The link has expired: ask for a new one.",
        "TOKEN_USED": "The link was used already: it works once.",
        "ALREADY_VERIFIED": "The email address is verified already, and no change of it waits for its link.",
        "INVITATION_EXPIRED": "The invitation has expired: ask the partner to resend it.",
        "INVITATION_REVOKED": "The partner has withdrawn the invitation.",
        "INVITATION_USED": "The invitation was accepted already.",
        "INVITATION_CLOSED": "The invitation was accepted or revoked and cannot change.",
        "PARTNER_NOT_FOUND": "No service partner has this code.",
        "NO_SERVICE_PARTNER": "The organization has no service partner.",
        "NOT_A_CUSTOMER": "The organization is not a current customer of your partner organization.",
        "SESSION_ENDED": "The management session has ended.",
        "CONFLICT": "This external id or idempotency key was used before with different content.",
        "NO_EXCHANGE_RATE": "No exchange rate covers this currency and date: an operator must add one.",
        "CURRENCY_MISMATCH": "The currency differs from the one of the payment it refers to.",
        "BELOW_THRESHOLD": "The payable balance is below the payout threshold.",
        "NO_PAYOUT_SETTINGS": "Set how you want to be paid first.",
        "PAYOUT_DECIDED": "The payout is in a state that does not allow this change.",
        "NOTHING_TO_EXPORT": "No approved payout matches the export.",
        "LINK_CODE_TAKEN": "Another affiliate link uses this code.",
        "SELF_REFERRAL": "A partner cannot refer, invite or serve its own organization or an organization of its own "
        "members.",
        "ALREADY_REFERRED": "The organization was referred already: the first referral counts.",
        "ATTRIBUTION_EXPIRED": "The affiliate click is older than the attribution window.",
    },
)


@strawberry.type(description="An expected failure of a mutation, tied to an input field where there is one.")
class UserError:
    field: str | None = strawberry.field(description="The input field at fault (camelCase), if any.")
    code: UserErrorCode = strawberry.field(description="A stable code a client can act on.")
    message: str = strawberry.field(description="A human-readable explanation.")


@strawberry.type(description="What a mutation returns: the changed object, or the errors that kept it from changing.")
class Payload:
    """The base of every mutation's payload, which adds the changed object(s) as fields defaulting to null."""

    errors: list[UserError] = strawberry.field(
        description="Why the change was not made, each problem with the input field at fault (if any), a code "
        "and a message; empty when it was made."
    )


def user_errors(error: UserInputError) -> list[UserError]:
    return [UserError(field=_camel(p.field), code=p.code, message=p.message) for p in error.problems]


def _camel(field: str | None) -> str | None:
    if field is None:
        return None
    head, *rest = field.split("_")
    return head + "".join(part.title() for part in rest)


async def run_mutation(
    payload: Callable[..., Any],
    change: Awaitable[Any],
    build: Callable[[Any], dict | Awaitable[dict]] | None = None,
    **convert: Callable[[Any], Any],
) -> Any:
    """Run a resolver; on `UserInputError` return the payload with `errors` and nothing else.

    The payload's fields are `build(result)` (it may be async) or, for each keyword, what its function makes
    of the result: `run_mutation(PayoutPayload, change, payout=Payout.from_row)`."""
    try:
        result = await change
    except UserInputError as error:
        return payload(errors=user_errors(error))
    fields = build(result) if build is not None else {name: make(result) for name, make in convert.items()}
    if inspect.isawaitable(fields):
        fields = await fields
    return payload(errors=[], **fields)


# --- global ids -------------------------------------------------------------------------


def global_id(type_name: str, pk: int | str) -> GlobalID:
    return GlobalID(type_name, str(pk))


INVALID_ID = "The id is not valid: pass the `id` of an object of this API."


def parse_global_id(value: GlobalID | str) -> GlobalID:
    """A global id (base64 of `Type:number`); anything else is BAD_USER_INPUT."""
    if isinstance(value, GlobalID):
        return value
    try:
        return GlobalID.from_id(value)
    except GlobalIDValueError as error:
        raise BadArgument(INVALID_ID) from error


def primary_key(gid: GlobalID) -> int:
    """The primary key in a global id: BAD_USER_INPUT for a type without a table, a number in
    another form than the API writes, or one beyond what that type's table can hold (no query
    asks about it: PostgreSQL would fail on a number too large for the column)."""
    pk = primary_key_in(gid.type_name, gid.node_id)
    if pk is None:
        raise BadArgument(INVALID_ID)
    return pk


def decode_id(value: GlobalID | str, expected_type: str) -> int:
    """The primary key behind a global id of the expected type. A malformed id or one of another
    type is BAD_USER_INPUT; a well-formed id of nothing the actor may see is the resolver's NOT_FOUND."""
    gid = parse_global_id(value)
    if gid.type_name != expected_type:
        raise BadArgument(f"The id is not the id of a {expected_type}.")
    return primary_key(gid)


NodeFetcher = Callable[[RequestContext, int], Awaitable[Any]]
NODE_FETCHERS: dict[str, NodeFetcher] = {}


def node_type(type_name: str) -> Callable[[NodeFetcher], NodeFetcher]:
    """Register how `node(id:)` fetches a type (through the actor's scope, None when hidden)."""

    def register(fetch: NodeFetcher) -> NodeFetcher:
        NODE_FETCHERS[type_name] = fetch
        return fetch

    return register


async def fetch_node(context: RequestContext, value: GlobalID | str) -> Any:
    """`node(id:)`: BAD_USER_INPUT for an id that is malformed or of a type that is no `Node`,
    NOT_FOUND for one the actor may not see or that does not exist (the two look alike)."""
    gid = parse_global_id(value)
    fetch = NODE_FETCHERS.get(gid.type_name)
    if fetch is None:
        raise BadArgument("The id is not the id of an object `node` can fetch.")
    node = await fetch(context, primary_key(gid))
    if node is None:
        raise NotFound()
    return node


# --- connections ----------------------------------------------------------------------------


@strawberry.type(description="Where a page of a connection stands.")
class PageInfo:
    has_next_page: bool = strawberry.field(description="More items follow the last edge.")
    has_previous_page: bool = strawberry.field(description="The page started after a cursor.")
    start_cursor: str | None = strawberry.field(description="The cursor of the first edge.")
    end_cursor: str | None = strawberry.field(description="The cursor of the last edge; pass it as `after`.")


@strawberry.type(description="One item of a connection and its cursor.")
class Edge(Generic[NodeT]):
    cursor: str = strawberry.field(description="Pass as `after` to continue after this item.")
    node: NodeT = strawberry.field(description="The item.")


@strawberry.type(description="A page of items, at most 100 at a time, with cursors to continue.")
class Connection(Generic[NodeT]):
    edges: list[Edge[NodeT]] = strawberry.field(description="The items of this page.")
    page_info: PageInfo = strawberry.field(description="Where this page stands.")
    _page: strawberry.Private[Page]

    @strawberry.field(description="How many items the whole connection holds (one more query).")
    async def total_count(self) -> int:
        return await self._page.total_count()


def connection(page: Page, convert: Callable[[dict[str, Any]], NodeT]) -> Connection[NodeT]:
    edges = [Edge(cursor=c, node=convert(row)) for row, c in zip(page.rows, page.cursors, strict=True)]
    return Connection(
        edges=edges,
        page_info=PageInfo(
            has_next_page=page.has_next_page,
            has_previous_page=page.has_previous_page,
            start_cursor=page.cursors[0] if page.cursors else None,
            end_cursor=page.cursors[-1] if page.cursors else None,
        ),
        _page=page,
    )


First = Annotated[int | None, strawberry.argument(description="How many items to return (0 to 100, default 20).")]
After = Annotated[str | None, strawberry.argument(description="Continue after this cursor (a `pageInfo.endCursor`).")]
Node = relay.Node
