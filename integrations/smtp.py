"""Sending mail through an SMTP server with aiosmtplib.

`SMTP_URL` forms:

- `smtp://host[:port]` — plain SMTP (port 25 unless given), upgraded with STARTTLS
  when the server offers it;
- `smtp://user:password@host:587` — the same, then authenticates (percent-encode
  special characters in user and password);
- `smtps://user:password@host[:465]` — implicit TLS from the first byte.

Certificates are verified. A `SmtpSender` keeps one connection for a batch of
mails and reconnects when the server dropped it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from email.message import EmailMessage
from email.utils import format_datetime, parseaddr
from types import TracebackType
from urllib.parse import unquote, urlsplit

import aiosmtplib

DEFAULT_TIMEOUT_SECONDS = 30.0


class InvalidSmtpUrl(ValueError):
    """SMTP_URL is not smtp://… or smtps://…"""


@dataclass(frozen=True, slots=True)
class SmtpServer:
    hostname: str
    port: int
    username: str | None
    password: str | None
    implicit_tls: bool

    @classmethod
    def from_url(cls, url: str) -> SmtpServer:
        parts = urlsplit(url)
        if parts.scheme not in ("smtp", "smtps") or not parts.hostname:
            raise InvalidSmtpUrl("SMTP_URL must look like smtp://[user:password@]host[:port] or smtps://…")
        implicit_tls = parts.scheme == "smtps"
        try:
            port = parts.port or (465 if implicit_tls else 25)
        except ValueError as error:
            raise InvalidSmtpUrl(f"SMTP_URL has an invalid port: {error}") from error
        return cls(
            hostname=parts.hostname,
            port=port,
            username=unquote(parts.username) if parts.username else None,
            password=unquote(parts.password) if parts.password is not None else None,
            implicit_tls=implicit_tls,
        )

    def __repr__(self) -> str:  # never show the password
        scheme = "smtps" if self.implicit_tls else "smtp"
        user = f"{self.username}@" if self.username else ""
        return f"SmtpServer({scheme}://{user}{self.hostname}:{self.port})"


def domain_of(address: str) -> str:
    """The domain of an address such as `Partner Portal <partners@example.com>`."""
    _, email = parseaddr(address)
    return email.rpartition("@")[2] or "localhost"


def build_message(
    *,
    sender: str,
    to: str,
    subject: str,
    text: str,
    html: str,
    message_id: str,
    date: datetime,
    language: str | None = None,
) -> EmailMessage:
    """A multipart/alternative mail: the plain text first, the HTML second (preferred)."""
    message = EmailMessage()
    message["From"] = sender
    message["To"] = to
    message["Subject"] = subject
    message["Date"] = format_datetime(date)
    message["Message-ID"] = message_id
    message["Auto-Submitted"] = "auto-generated"
    message.set_content(text)
    message.add_alternative(html, subtype="html")
    if language:  # after the content: set_content drops Content-* headers
        message["Content-Language"] = language
    return message


class SmtpUnavailable(ConnectionError):
    """Connecting (or signing in) to the SMTP server failed earlier with this sender."""


class SmtpSender:
    """Sends mails over one connection, opened on the first mail (`async with SmtpSender(...)`).

    When connecting or signing in fails, the remaining mails of the batch fail at once
    with `SmtpUnavailable` instead of each waiting for the same timeout.
    """

    def __init__(self, server: SmtpServer, *, timeout: float = DEFAULT_TIMEOUT_SECONDS) -> None:
        self.server = server
        self.timeout = timeout
        self._client: aiosmtplib.SMTP | None = None
        self._unavailable: str | None = None

    async def __aenter__(self) -> SmtpSender:
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None
    ) -> None:
        await self.close()

    async def _connected(self) -> aiosmtplib.SMTP:
        if self._client is not None and self._client.is_connected:
            return self._client
        if self._unavailable is not None:
            raise SmtpUnavailable(self._unavailable)
        client = aiosmtplib.SMTP(
            hostname=self.server.hostname,
            port=self.server.port,
            username=self.server.username,
            password=self.server.password,
            use_tls=self.server.implicit_tls,
            start_tls=False if self.server.implicit_tls else None,  # None: STARTTLS when offered
            timeout=self.timeout,
        )
        try:
            await client.connect()
        except (aiosmtplib.SMTPException, OSError) as error:
            self._unavailable = f"{type(error).__name__}: {error}"
            raise
        self._client = client
        return client

    async def send(self, message: EmailMessage) -> None:
        """Send one mail; raises aiosmtplib's errors (or OSError) when it was not accepted."""
        client = await self._connected()
        try:
            await client.send_message(message)
        except BaseException:
            # Whatever state the session is in now, the next mail starts on a fresh connection.
            self._client = None
            client.close()
            raise

    async def close(self) -> None:
        client, self._client = self._client, None
        if client is not None and client.is_connected:
            try:
                await client.quit()
            except (aiosmtplib.SMTPException, OSError):
                client.close()
