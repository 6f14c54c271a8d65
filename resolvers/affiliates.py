"""Affiliate links: creating them, the click behind `GET /r/{code}`, the signed attribution
token, the AFFILIATE referral a signup with that token (or code) creates, and the report.

The token is `itsdangerous`-signed with SECRET_KEY: link code, click id and the signing time. The
redirect hands it over twice, as the `pp_affiliate` cookie (read by the server itself when the
frontend calls /graphql on the same origin) and as the `pp_affiliate` query parameter of the
landing address (read by a single-page frontend on another origin). A signup within
`AFFILIATE_WINDOW_DAYS` of the click creates the referral; the first referral of a customer wins
(one `Referral` row per customer). A partner never refers its own organization nor one that a
member of the partner belongs to.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from enum import StrEnum
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer
from tortoise import connections
from tortoise.exceptions import IntegrityError
from tortoise.expressions import Subquery
from tortoise.functions import Count
from tortoise.transactions import in_transaction

from partner_portal.models.affiliates import AffiliateClick, AffiliateLink, AffiliateSignup
from partner_portal.models.billing import Payment
from partner_portal.models.clock import now
from partner_portal.models.enums import CommissionType
from partner_portal.models.organizations import Organization
from partner_portal.models.referrals import Referral
from partner_portal.permissions import scoping
from partner_portal.permissions.actor import Actor
from partner_portal.permissions.errors import NotFound
from partner_portal.permissions.requirements import AFFILIATE_PORTAL, BILLING_WRITER, PARTNER_PORTAL
from partner_portal.resolvers import audit
from partner_portal.resolvers.commissions import own_organization
from partner_portal.resolvers.errors import BadArgument, Problem, UserErrorCode, UserInputError, fail
from partner_portal.resolvers.pagination import Page, paginate
from partner_portal.resolvers.partners import random_code
from partner_portal.resolvers.sql import placeholders
from partner_portal.settings import Settings

LINK_FIELDS = ("id", "partner_id", "code", "campaign", "landing_url", "active", "created_at")
CODE_PATTERN = re.compile(r"[a-z0-9][a-z0-9_-]{2,39}")
CODE_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"
TOKEN_SALT = "affiliate-click"
TOKEN_NAME = "pp_affiliate"  # the cookie and the landing address's query parameter
MAX_REPORT_DAYS = 366
MAX_LINKS_PER_PARTNER = 1000  # the affiliate report lists every link


# --- links ---------------------------------------------------------------------------------------------


def clean_code(raw: str | None) -> str | None:
    if raw is None or not raw.strip():
        return None
    code = raw.strip().lower()
    if not CODE_PATTERN.fullmatch(code):
        raise fail(
            "code",
            UserErrorCode.INVALID_VALUE,
            "Use 3 to 40 letters, digits, '-' or '_', starting with a letter or digit.",
        )
    return code


Origin = tuple[str, str, int | None]  # scheme, host, port (None: the scheme's default)


def landing_origins(settings: Settings) -> list[Origin]:
    """Where a landing may go, the first one where a path lands: https on every allowed host and,
    when its host is allowed, PUBLIC_URL's own scheme and port (`http://localhost:8000` in
    development; plain http only in development)."""
    hosts = [host.lower() for host in settings.affiliate_hosts]
    origins: list[Origin] = [("https", host, None) for host in hosts]
    public = urlsplit(settings.public_url)
    scheme, host = public.scheme, public.hostname or ""
    own: Origin = (scheme, host, public.port)
    safe_scheme = scheme == "https" or (scheme == "http" and settings.is_development)
    if host in hosts and safe_scheme and own not in origins:
        origins.insert(hosts.index(host), own)
    return origins


def _netloc(host: str, port: int | None) -> str:
    return host if port is None else f"{host}:{port}"


def clean_landing(settings: Settings, raw: str | None) -> str:
    """An address on one of `landing_origins`: a path ("/pricing?x=1") lands on the first one; a full
    URL must match one in scheme, host and port. Anything else (other hosts or ports, `//evil`,
    userinfo, backslashes, control characters) is refused: the redirect never leaves the vendor's hosts."""
    origins = landing_origins(settings)
    value = (raw or "/").strip()
    refused = fail(
        "landing_url",
        UserErrorCode.INVALID_VALUE,
        "Give a path such as /pricing, or an address on "
        + ", ".join(f"{scheme}://{_netloc(host, port)}" for scheme, host, port in origins)
        + ".",
    )
    if len(value) > 900 or "\\" in value or any(ord(ch) < 33 or ord(ch) == 127 for ch in value):
        raise refused
    if value.startswith("/") and not value.startswith("//"):
        scheme, host, port = origins[0]
        parts = urlsplit(f"{scheme}://{_netloc(host, port)}{value}")
    else:
        parts = urlsplit(value)
    try:
        port = parts.port
    except ValueError as error:
        raise refused from error
    if parts.username or parts.password or (parts.scheme, parts.hostname or "", port) not in origins:
        raise refused
    return urlunsplit(
        (parts.scheme, _netloc(parts.hostname or "", port), parts.path or "/", parts.query, parts.fragment)
    )


async def create_link(
    actor: Actor,
    settings: Settings,
    *,
    partner_id: int | None,
    code: str | None,
    campaign: str | None,
    landing_url: str | None,
) -> dict[str, Any]:
    """MANAGE_PARTNER_PORTAL holders of a partner in the AFFILIATE program."""
    membership, _ = await AFFILIATE_PORTAL.enforce(actor, partner_id)
    chosen = clean_code(code)
    campaign = (campaign or "").strip() or None
    if campaign is not None and len(campaign) > 100:
        raise fail("campaign", UserErrorCode.TOO_LONG, "At most 100 characters.")
    landing = clean_landing(settings, landing_url)
    if await AffiliateLink.filter(partner_id=membership.organization_id).count() >= MAX_LINKS_PER_PARTNER:
        raise fail(
            None,
            UserErrorCode.LIMIT_REACHED,
            f"A partner has at most {MAX_LINKS_PER_PARTNER} links: disable and reuse one instead.",
        )
    for _ in range(5):
        link_code = chosen or random_code(8, CODE_ALPHABET)
        try:
            async with in_transaction():
                link = await AffiliateLink.create(
                    partner_id=membership.organization_id,
                    code=link_code,
                    campaign=campaign,
                    landing_url=landing,
                    created_at=now(),
                )
                await audit.record(
                    actor,
                    "affiliate_link.create",
                    "AffiliateLink",
                    link.id,
                    organization_id=membership.organization_id,
                    changes={"code": link_code, "campaign": campaign, "landing_url": landing},
                )
        except IntegrityError:
            if chosen is not None:
                raise fail(
                    "code", UserErrorCode.LINK_CODE_TAKEN, "Another link uses this code: choose another."
                ) from None
            continue
        return {field: getattr(link, field) for field in LINK_FIELDS}
    raise RuntimeError("could not draw a free link code")


async def _own_link(actor: Actor, link_id: int) -> dict[str, Any]:
    """A link of a partner the actor manages (MANAGE_PARTNER_PORTAL); NOT_FOUND otherwise."""
    row = await AffiliateLink.filter(id=link_id).first().values(*LINK_FIELDS)
    if row is None:
        raise NotFound()
    await PARTNER_PORTAL.enforce(actor, row["partner_id"])
    return row


async def get_link(actor: Actor, link_id: int) -> dict[str, Any] | None:
    """For `node(id:)`: a link the actor sees (`scoping.visible_affiliate_links`)."""
    return await (await scoping.visible_affiliate_links(actor)).filter(id=link_id).first().values(*LINK_FIELDS)


async def update_link(
    actor: Actor, settings: Settings, link_id: int, *, campaign: Any, landing_url: Any, active: bool | None, unset: Any
) -> dict[str, Any]:
    row = await _own_link(actor, link_id)
    values: dict[str, Any] = {}
    if campaign is not unset:
        campaign = (campaign or "").strip() or None
        if campaign is not None and len(campaign) > 100:
            raise fail("campaign", UserErrorCode.TOO_LONG, "At most 100 characters.")
        values["campaign"] = campaign
    if landing_url is not unset:
        values["landing_url"] = clean_landing(settings, landing_url)
    if active is not None:
        values["active"] = active
    changes = audit.diff({k: row[k] for k in values}, values)
    if changes:
        async with in_transaction():
            await AffiliateLink.filter(id=link_id).update(**values)
            await audit.record(
                actor,
                "affiliate_link.update",
                "AffiliateLink",
                link_id,
                organization_id=row["partner_id"],
                changes=changes,
            )
    return {**row, **values}


async def list_links(actor: Actor, *, partner_id: int | None, first: int | None, after: str | None) -> Page:
    membership, _ = await PARTNER_PORTAL.enforce(actor, partner_id)
    links = (await scoping.visible_affiliate_links(actor)).filter(partner_id=membership.organization_id)
    return await paginate(links, fields=LINK_FIELDS, first=first, after=after, order=("-id",))


# --- the click and its token ------------------------------------------------------------------------------


def _serializer(settings: Settings) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(settings.secret_key, salt=TOKEN_SALT)


def hash_address(settings: Settings, address: str | None) -> str:
    """HMAC-SHA256 of the client address with SECRET_KEY: clicks can be told apart, never traced back."""
    return hmac.new(settings.secret_key.encode(), (address or "").encode(), hashlib.sha256).hexdigest()


def link_url(settings: Settings, code: str) -> str:
    """The address a partner shares: `PUBLIC_URL/r/{code}` (records the click, then redirects)."""
    return f"{settings.public_url.rstrip('/')}/r/{code}"


def default_landing(settings: Settings) -> str:
    return settings.affiliate_default_url or settings.public_url


@dataclass(frozen=True, slots=True)
class Redirect:
    url: str
    token: str | None  # the cookie's value (also in `url`); None for unknown or disabled codes


def with_token(landing: str, token: str) -> str:
    """The landing address with `pp_affiliate=<token>` as its last query parameter (one the stored
    address may hold is dropped); the rest of the address stays as it was saved."""
    head, hash_mark, fragment = landing.partition("#")
    path, _, query = head.partition("?")
    kept = [part for part in query.split("&") if part and part.partition("=")[0] != TOKEN_NAME]
    query = "&".join([*kept, f"{TOKEN_NAME}={token}"])  # the token is URL-safe base64 and dots
    return f"{path}?{query}{hash_mark}{fragment}"


async def record_click(
    settings: Settings, code: str, *, address: str | None, user_agent: str | None, referrer: str | None
) -> Redirect:
    """A click on an active link: stored (address hashed) and signed into the cookie's token."""
    link = (
        await AffiliateLink.filter(code=code.strip().lower()[:40], active=True)
        .first()
        .values("id", "code", "landing_url")
    )
    if link is None:
        return Redirect(default_landing(settings), None)
    moment = now()
    click = await AffiliateClick.create(
        link_id=link["id"],
        clicked_at=moment,
        day=moment.date(),
        ip_hash=hash_address(settings, address),
        user_agent=(user_agent or None) and user_agent[:500],
        referrer=(referrer or None) and referrer[:1000],
    )
    token = _serializer(settings).dumps({"l": link["code"], "c": click.id, "t": int(moment.timestamp())})
    return Redirect(with_token(link["landing_url"], token), token)


def token_in_cookie(request: object | None) -> str | None:
    """The `pp_affiliate` cookie the request carries (a browser on the redirect's origin), if any."""
    cookies = getattr(request, "cookies", None) or {}
    return cookies.get(TOKEN_NAME) or None


# --- the referral -----------------------------------------------------------------------------------------


class NotAttributed(StrEnum):
    """Why a signup's token created no referral."""

    INVALID_TOKEN = "INVALID_TOKEN"  # not signed by this server: malformed, cut or changed
    EXPIRED = "EXPIRED"  # the click is older than AFFILIATE_WINDOW_DAYS
    LINK_INACTIVE = "LINK_INACTIVE"  # the link was disabled since the click
    SELF_REFERRAL = "SELF_REFERRAL"  # the partner's own organization or one of its members'


class AttributionRefused(UserInputError):
    """A user error of attribution that also says why, for a signup that stands unattributed."""

    def __init__(self, reason: NotAttributed, field: str, code: UserErrorCode, message: str) -> None:
        super().__init__(Problem(field, code, message))
        self.reason = reason


class TokenSource(StrEnum):
    """Where a signup's token came from."""

    INPUT = "INPUT"  # the mutation's `affiliateToken`
    COOKIE = "COOKIE"  # the request's `pp_affiliate` cookie


@dataclass(frozen=True, slots=True)
class SignupAttribution:
    """What a signup's token did: a referral (reason None) or why not."""

    source: TokenSource
    reason: NotAttributed | None


def read_token(settings: Settings, token: str) -> tuple[str, int, datetime]:
    """(link code, click id, click time) of a token signed by us; INVALID_TOKEN otherwise. The window
    is checked against the click time with the portal clock (frozen in tests)."""
    try:
        data = _serializer(settings).loads(token)
        clicked = datetime.fromtimestamp(int(data["t"]), tz=now().tzinfo)
        return str(data["l"]), int(data["c"]), clicked
    except (BadSignature, SignatureExpired, KeyError, TypeError, ValueError) as error:
        raise AttributionRefused(
            NotAttributed.INVALID_TOKEN,
            "affiliate_token",
            UserErrorCode.INVALID_TOKEN,
            "The affiliate token is malformed.",
        ) from error


async def _resolve(settings: Settings, token: str | None, code: str | None) -> tuple[dict[str, Any], int | None]:
    """The link (and the click) a signup names: a token within the window, or a plain active link code."""
    if token:
        link_code, click_id, clicked_at = read_token(settings, token)
        if now() - clicked_at > timedelta(days=settings.affiliate_window_days):
            raise AttributionRefused(
                NotAttributed.EXPIRED,
                "affiliate_token",
                UserErrorCode.ATTRIBUTION_EXPIRED,
                f"The click is older than {settings.affiliate_window_days} days.",
            )
        link = await AffiliateLink.filter(code=link_code, active=True).first().values("id", "partner_id", "code")
        if link is None or not await AffiliateClick.filter(id=click_id, link_id=link["id"]).exists():
            raise AttributionRefused(
                NotAttributed.LINK_INACTIVE,
                "affiliate_token",
                UserErrorCode.INVALID_TOKEN,
                "The affiliate link is unknown or disabled.",
            )
        return link, click_id
    if code:
        link = (
            await AffiliateLink.filter(code=code.strip().lower()[:40], active=True)
            .first()
            .values("id", "partner_id", "code")
        )
        if link is None:
            raise fail("code", UserErrorCode.INVALID_VALUE, "No active affiliate link has this code.")
        return link, None
    raise fail("affiliate_token", UserErrorCode.REQUIRED, "Give an affiliate token or a link code.")


async def _refer(customer_id: int, link: dict[str, Any], click_id: int | None) -> None:
    """Write the referral and its signup row (inside the caller's transaction)."""
    partner_id = link["partner_id"]
    if await own_organization(partner_id, customer_id):
        raise AttributionRefused(
            NotAttributed.SELF_REFERRAL,
            "organization_id",
            UserErrorCode.SELF_REFERRAL,
            "A partner cannot refer its own organization or an organization of its members.",
        )
    if await Referral.filter(customer_id=customer_id).exists():
        raise fail(
            "organization_id",
            UserErrorCode.ALREADY_REFERRED,
            "The organization was referred already: the first referral counts.",
        )
    moment = now()
    await Referral.create(
        customer_id=customer_id, partner_id=partner_id, type=CommissionType.AFFILIATE, created_at=moment
    )
    await AffiliateSignup.create(
        customer_id=customer_id,
        partner_id=partner_id,
        link_id=link["id"],
        click_id=click_id,
        day=moment.date(),
        created_at=moment,
    )


async def refer_new_organization(
    settings: Settings, organization_id: int, token: str | None, cookie: str | None = None
) -> SignupAttribution | None:
    """Called by createOrganization inside its transaction, with its `affiliateToken` or else the
    request's cookie; None when there is neither. A bad, expired or self-referring token never fails
    the registration: the organization is simply not attributed, and the answer says why."""
    source = TokenSource.INPUT if token else TokenSource.COOKIE
    chosen = token or cookie
    if not chosen:
        return None
    try:
        link, click_id = await _resolve(settings, chosen, None)
        await _refer(organization_id, link, click_id)
    except AttributionRefused as refused:  # the registration stands, unattributed
        return SignupAttribution(source, refused.reason)
    return SignupAttribution(source, None)


async def attribute_signup(
    actor: Actor, settings: Settings, *, organization_id: int, token: str | None, code: str | None
) -> dict[str, Any]:
    """Integrators (`billing:write`): attribute an organization to a link after the fact."""
    await BILLING_WRITER.enforce(actor)
    if not await Organization.filter(id=organization_id).exists():
        raise NotFound()
    link, click_id = await _resolve(settings, token, code)
    try:
        async with in_transaction():
            await _refer(organization_id, link, click_id)
            await audit.record(
                actor,
                "referral.create",
                "Organization",
                organization_id,
                organization_id=organization_id,
                changes={"type": CommissionType.AFFILIATE.value, "link": link["code"]},
            )
    except IntegrityError as error:  # a concurrent first referral won
        raise fail(
            "organization_id",
            UserErrorCode.ALREADY_REFERRED,
            "The organization was referred already: the first referral counts.",
        ) from error
    return {"organization_id": organization_id, "partner_id": link["partner_id"], "link_code": link["code"]}


# --- the report ---------------------------------------------------------------------------------------------


@dataclass(slots=True)
class Figures:
    clicks: int = 0
    signups: int = 0
    paying_customers: int = 0
    commission: int = 0  # minor units of the partner's payout currency


@dataclass(slots=True)
class Report:
    currency: str
    links: list[tuple[dict[str, Any], Figures]]
    total: Figures
    by_day: list[tuple[date, Figures]]


async def _commission_sums(
    partner_id: int, currency: str, by: str, start: date | None = None, end: date | None = None
) -> dict[Any, int]:
    """Commission of the partner's AFFILIATE lines (reversed ones excluded, as on the dashboard), summed
    in SQL per link (`by="link"`) or per UTC day of the line (`by="day"`)."""
    client = connections.get("default")
    dialect = client.capabilities.dialect
    day = "date(c.created_at)" if dialect != "postgres" else "(c.created_at AT TIME ZONE 'UTC')::date"
    key = "s.link_id" if by == "link" else day
    sql = (
        f"SELECT {key} AS k, SUM(c.amount) AS total FROM commissions c "
        "JOIN affiliate_signups s ON s.customer_id = c.customer_id AND s.partner_id = c.partner_id "
        "WHERE c.partner_id = %s AND c.type = %s AND c.status <> %s AND c.currency = %s"
    )
    values: list[Any] = [partner_id, CommissionType.AFFILIATE.value, "REVERSED", currency]
    if start is not None:
        sql += f" AND {day} >= %s AND {day} <= %s"
        values += [start, end] if dialect == "postgres" else [start.isoformat(), end.isoformat()]
    sql += f" GROUP BY {key}"
    rows = await client.execute_query_dict(placeholders(sql, dialect), values)
    result: dict[Any, int] = {}
    for row in rows:
        k = row["k"]
        if by == "day" and isinstance(k, str):
            k = date.fromisoformat(k)
        result[k] = int(row["total"] or 0)
    return result


def _grouped(rows: list[dict[str, Any]], key: str) -> dict[Any, int]:
    return {row[key]: row["n"] for row in rows}


async def report(actor: Actor, *, partner_id: int | None, start: date, end: date) -> Report:
    """Per link and in total (all time), and by day from `start` to `end` (inclusive, UTC days):
    clicks, signups, paying customers (signups with a payment), AFFILIATE commission. A fixed
    number of grouped SQL queries, whatever the number of links, clicks or days."""
    membership, profile = await PARTNER_PORTAL.enforce(actor, partner_id)
    if end < start or (end - start).days >= MAX_REPORT_DAYS:
        raise BadArgument(f"Give a range of 1 to {MAX_REPORT_DAYS} days, `from` before `until`.")
    partner = membership.organization_id
    currency = profile["payout_currency"]
    paying = Subquery(Payment.all().values("organization_id"))
    clicks = AffiliateClick.filter(link__partner_id=partner)
    signups = AffiliateSignup.filter(partner_id=partner)

    links = await AffiliateLink.filter(partner_id=partner).order_by("-id").values(*LINK_FIELDS)
    per_link = [
        _grouped(await clicks.annotate(n=Count("id")).group_by("link_id").values("link_id", "n"), "link_id"),
        _grouped(await signups.annotate(n=Count("id")).group_by("link_id").values("link_id", "n"), "link_id"),
        _grouped(
            await signups.filter(customer_id__in=paying)
            .annotate(n=Count("id"))
            .group_by("link_id")
            .values("link_id", "n"),
            "link_id",
        ),
        await _commission_sums(partner, currency, "link"),
    ]
    per_day = [
        _grouped(
            await clicks.filter(day__gte=start, day__lte=end)
            .annotate(n=Count("id"))
            .group_by("day")
            .values("day", "n"),
            "day",
        ),
        _grouped(
            await signups.filter(day__gte=start, day__lte=end)
            .annotate(n=Count("id"))
            .group_by("day")
            .values("day", "n"),
            "day",
        ),
        _grouped(
            await signups.filter(day__gte=start, day__lte=end, customer_id__in=paying)
            .annotate(n=Count("id"))
            .group_by("day")
            .values("day", "n"),
            "day",
        ),
        await _commission_sums(partner, currency, "day", start, end),
    ]

    def figures(sources: list[dict[Any, int]], key: Any) -> Figures:
        return Figures(*(source.get(key, 0) for source in sources))

    link_rows = [(link, figures(per_link, link["id"])) for link in links]
    total = Figures(*(sum(source.values()) for source in per_link))
    days = [start + timedelta(days=i) for i in range((end - start).days + 1)]
    return Report(currency, link_rows, total, [(day, figures(per_day, day)) for day in days])
