"""Sending webhooks over HTTP: the address guard (against SSRF), the signature, one POST.

The guard runs when a subscription is saved and again right before every attempt (DNS
answers change). It resolves the host and refuses the URL when *any* address it resolves
to is loopback, private, link-local, shared (100.64/10), multicast, reserved or
unspecified, or stands for or carries such an IPv4 address (IPv4-mapped or -compatible, NAT64,
6to4, Teredo: `judged_addresses`) — unless private networks are allowed (development, tests),
which still refuses multicast and unspecified addresses. The POST then connects to the very address
that was checked (the URL's host is replaced by it; `Host` and, for https, TLS SNI and
certificate verification keep the name), so a DNS answer that changes between the check
and the connection (DNS rebinding) cannot redirect it. Certificates are verified against the
public authorities (certifi) and any set in `WEBHOOK_CA_FILE`. Redirects are not followed,
proxies from the environment are not used, and the response body is never read.

Signature (Stripe style): `X-Portal-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256>`
over `f"{t}.".encode() + body`, keyed with the subscription's secret (UTF-8 bytes).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import ipaddress
import socket
import ssl
import time
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from urllib.parse import SplitResult, urlsplit

import certifi
import httpx

SIGNATURE_HEADER = "X-Portal-Signature"
USER_AGENT = "partner-portal-webhooks/1"
MAX_URL_LENGTH = 2000

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class RefusedDestination(ValueError):
    """The URL, or an address its host resolves to, may not receive webhooks."""


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """The signature header's value for a body sent at `timestamp` (unix seconds)."""
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


def check_url(url: str, *, allow_http: bool) -> SplitResult:
    """The URL's parts, or RefusedDestination: https (http only when allowed), a host, no user-info."""
    if len(url) > MAX_URL_LENGTH:
        raise RefusedDestination(f"The URL is longer than {MAX_URL_LENGTH} characters.")
    if any(ch.isspace() or ord(ch) < 32 or ch == "\\" for ch in url):
        raise RefusedDestination("The URL contains spaces, control characters or backslashes.")
    parts = urlsplit(url)
    allowed = ("https", "http") if allow_http else ("https",)
    if parts.scheme not in allowed:
        raise RefusedDestination("Only https URLs receive webhooks." if not allow_http else "Use an http or https URL.")
    if not parts.hostname:
        raise RefusedDestination("The URL has no host.")
    if parts.username is not None or parts.password is not None:
        raise RefusedDestination("The URL must not contain a user name or password.")
    if parts.fragment:
        raise RefusedDestination("The URL must not contain a fragment (#…).")
    try:
        parts.port  # noqa: B018 — raises on a malformed port
    except ValueError as error:
        raise RefusedDestination("The URL's port is not valid.") from error
    return parts


NAT64 = ipaddress.IPv6Network("64:ff9b::/96")  # the well-known prefix: the last 32 bits are the IPv4 address


def judged_addresses(address: IPAddress) -> list[IPAddress]:
    """The addresses whose kind decides whether `address` may receive webhooks. An IPv6 address
    that stands for an IPv4 one (IPv4-mapped `::ffff:a.b.c.d`, IPv4-compatible `::a.b.c.d`, NAT64
    `64:ff9b::a.b.c.d`) counts as that IPv4 address; a tunnel address counts as itself and the IPv4
    addresses it carries (6to4 `2002::/16`, Teredo `2001::/32`: its server and client)."""
    if isinstance(address, ipaddress.IPv4Address):
        return [address]
    if address.ipv4_mapped is not None:
        return [address.ipv4_mapped]
    if address in NAT64 or (int(address) >> 32 == 0 and int(address) > 1):  # :: and ::1 are themselves
        return [ipaddress.IPv4Address(int(address) & 0xFFFF_FFFF)]
    carried = [address.sixtofour] if address.sixtofour is not None else list(address.teredo or ())
    return [address, *carried]


def _kind(address: IPAddress, *, allow_private: bool) -> str | None:
    if address.is_unspecified or address.is_multicast:
        return "an unspecified or multicast address"
    if allow_private:
        return None
    if address.is_loopback:
        return "a loopback address"
    if address.is_link_local:
        return "a link-local address"
    if address.is_private or address.is_reserved or not address.is_global:
        return "a private or reserved address"
    return None


def refusal(address: IPAddress, *, allow_private: bool) -> str | None:
    """What kind of address it is when it may not receive webhooks (e.g. a loopback address), else None."""
    for judged in judged_addresses(address):
        kind = _kind(judged, allow_private=allow_private)
        if kind:
            return kind if judged == address else f"{kind} ({judged} inside)"
    return None


async def resolve(host: str, port: int, *, allow_private: bool) -> IPAddress:
    """The checked address to connect to: every address the host resolves to must pass."""
    literal = True
    try:
        addresses: list[IPAddress] = [ipaddress.ip_address(host)]
    except ValueError:
        literal = False
        try:
            infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except OSError as error:
            raise RefusedDestination(f"The host {host} could not be resolved.") from error
        addresses = list(dict.fromkeys(ipaddress.ip_address(str(info[4][0]).split("%", 1)[0]) for info in infos))
        if not addresses:
            raise RefusedDestination(f"The host {host} could not be resolved.") from None
    for address in addresses:
        reason = refusal(address, allow_private=allow_private)
        if reason:
            where = f"{address} is" if literal else f"{host} resolves to {address},"
            raise RefusedDestination(f"{where} {reason}.")
    return addresses[0]


async def check_destination(url: str, *, allow_http: bool, allow_private: bool) -> tuple[SplitResult, IPAddress]:
    parts = check_url(url, allow_http=allow_http)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    return parts, await resolve(parts.hostname or "", port, allow_private=allow_private)


@dataclass(frozen=True, slots=True)
class Attempt:
    """The outcome of one POST: the HTTP status (None when there was no answer), how long it took, why it failed."""

    http_status: int | None
    duration_ms: int
    error: str | None

    @property
    def delivered(self) -> bool:
        return self.http_status is not None and 200 <= self.http_status < 300


def trusted_authorities(extra_ca_file: Path | None) -> ssl.SSLContext:
    """TLS verification of receivers: certifi's public authorities, and those of `extra_ca_file`."""
    context = ssl.create_default_context(cafile=certifi.where())
    if extra_ca_file is not None:
        context.load_verify_locations(cafile=extra_ca_file)
    return context


class WebhookSender:
    """POSTs signed webhook bodies; one HTTP client (made on first use) for a worker round."""

    def __init__(
        self, *, allow_http: bool, allow_private: bool, timeout: float, extra_ca_file: Path | None = None
    ) -> None:
        self.allow_http = allow_http
        self.allow_private = allow_private
        self.timeout = timeout
        self.extra_ca_file = extra_ca_file
        self._client: httpx.AsyncClient | None = None

    async def __aenter__(self) -> WebhookSender:
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None
    ) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    def _http(self) -> httpx.AsyncClient:
        if self._client is None:
            self._client = httpx.AsyncClient(
                follow_redirects=False,
                trust_env=False,
                timeout=httpx.Timeout(self.timeout),
                headers={"User-Agent": USER_AGENT},
                verify=trusted_authorities(self.extra_ca_file),
            )
        return self._client

    async def post(self, url: str, body: bytes, headers: dict[str, str]) -> Attempt:
        started = time.perf_counter()

        def elapsed() -> int:
            return round((time.perf_counter() - started) * 1000)

        try:
            parts, address = await check_destination(url, allow_http=self.allow_http, allow_private=self.allow_private)
        except RefusedDestination as error:
            return Attempt(None, elapsed(), f"Refused: {error}")
        host = f"[{address}]" if address.version == 6 else str(address)
        pinned = parts._replace(netloc=f"{host}:{parts.port}" if parts.port else host).geturl()
        extensions = {"sni_hostname": parts.hostname} if parts.scheme == "https" else {}
        try:
            async with self._http().stream(
                "POST",
                pinned,
                content=body,
                extensions=extensions,
                headers={**headers, "Host": parts.netloc, "Content-Type": "application/json"},
            ) as response:
                status = response.status_code
        except httpx.TimeoutException:
            return Attempt(None, elapsed(), f"No answer within {self.timeout:g} s.")
        except httpx.HTTPError as error:
            return Attempt(None, elapsed(), f"{type(error).__name__}: {error}"[:500])
        if 200 <= status < 300:
            return Attempt(status, elapsed(), None)
        note = " (redirects are not followed)" if 300 <= status < 400 else ""
        return Attempt(status, elapsed(), f"HTTP {status}{note}")
