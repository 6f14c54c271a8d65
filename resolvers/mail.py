"""Outgoing mail: render a template now, queue it in the outbox of the caller's transaction.

`queue_mail(to=, template=, language=, context=)` is the one way any capability
sends mail. Call it *inside* the `in_transaction()` block of the change the mail
is about: the outbox row is written by that transaction, so a change that rolls
back sends nothing. The worker in `resolvers/outbox.py` delivers it later.

Templates live in `integrations/mail_templates/`, one folder per language:

    integrations/mail_templates/
        base.html                  the HTML frame every HTML mail extends (via _layout.html)
        en/_layout.html            the frame in English (footer), extends base.html
        en/_footer.txt             the plain-text footer in English
        en/labels.json             display names of stored values (programs, permissions)
        en/{name}.subject          the subject line (one line; whitespace is collapsed)
        en/{name}.txt              the plain-text body
        en/{name}.html             the HTML body: {% extends "en/_layout.html" %}, block content
        de/...                     the same files in German

Rules of the templates:

- Every name in `TEMPLATES` exists in every language in `LANGUAGES`, with all three
  parts (tests/test_mail_templates.py checks it). A new language is a new folder
  plus an entry in `LANGUAGES`.
- `.html` files are autoescaped, `.subject` and `.txt` files are not.
- Undefined variables are errors (`StrictUndefined`): a caller passes every key a
  template documents, even when empty (`note=""`, `expires_at=None`).
- Available besides the caller's context: `language` (the chosen one), `subject`
  (in `.txt` and `.html`), and the filters `date`, `datetime` (a datetime in the
  mail's language, UTC), `label` (a stored value such as `AFFILIATE` or
  `MANAGE_MEMBERS` by its display name from labels.json) and `join_words`
  (`a, b and c` / `a, b und c`).

The recipient's language is chosen by the caller (the user's or the organization's
`language`); a region (`de-AT`) counts as its language, anything unknown is English.

Names others chose (organizations, people) are shown as text, never as a link: `render_mail`
defangs the web addresses in the values of `NAME_KEYS` (`evil.example` → `evil[.]example`),
so mail clients do not turn them into links; `.html` escapes them besides.

Mail whose text someone else chose is rated (`MailLimits`, in the shared `limits` storage):
invitations per sending organization and per recipient, service partner and grant notices per
organization, and the same notice to the same address at most once per debounce window.
"""

from __future__ import annotations

import hashlib
import json
import re
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined, pass_context, select_autoescape
from jinja2.runtime import Context
from limits import RateLimitItem, RateLimitItemPerMinute, parse
from limits.aio.storage import Storage
from limits.aio.strategies import MovingWindowRateLimiter

from partner_portal import integrations
from partner_portal.models.clock import now
from partner_portal.models.outbox import OutboxKind, OutboxMessage, OutboxStatus
from partner_portal.permissions.errors import Throttled
from partner_portal.settings import Settings

TEMPLATE_DIR = Path(integrations.__file__).parent / "mail_templates"
LANGUAGES = ("en", "de")
DEFAULT_LANGUAGE = "en"
TEMPLATES = (
    "invitation",
    "application_approved",
    "application_rejected",
    "grant_changed",
    "service_partner_changed",
    "payout_changed",
    "membership_invitation",
    "account_locked",
    "registration_confirm",
    "registration_exists",
    "email_verification",
    "email_changed",
    "password_reset",
    "two_factor_changed",
    "two_factor_reset",
)
PARTS = ("subject", "txt", "html")
# Context keys whose value picks a variant of a template: anything else is a caller's mistake.
CHOICES = {"audience": ("customer", "partner"), "change": ("linked", "unlinked")}
# Context keys holding names others chose: shown defanged, never as a link.
NAME_KEYS = ("organization_name", "customer_name", "partner_name", "inviter_name")
# A word with a dot between letters or digits and a top-level domain, or a scheme: what mail
# clients turn into a link.
_LINK_LIKE = re.compile(r"(?i)\b[a-z][a-z0-9+.-]*://|(?<=[a-z0-9-])\.(?=[a-z]{2,}\b)")

_MONTHS = {
    "en": (
        "January",
        "February",
        "March",
        "April",
        "May",
        "June",
        "July",
        "August",
        "September",
        "October",
        "November",
        "December",
    ),
    "de": (
        "Januar",
        "Februar",
        "März",
        "April",
        "Mai",
        "Juni",
        "Juli",
        "August",
        "September",
        "Oktober",
        "November",
        "Dezember",
    ),
}
_AND = {"en": "and", "de": "und"}


class UnknownTemplate(ValueError):
    """A programming error: no mail template has this name."""


@dataclass(frozen=True, slots=True)
class RenderedMail:
    template: str
    language: str
    subject: str
    text: str
    html: str


def choose_language(language: str | None) -> str:
    """`de`, `DE`, `de-AT`, `de_CH` → `de`; None or a language without templates → English."""
    if not language:
        return DEFAULT_LANGUAGE
    primary = re.split(r"[-_]", language.strip().lower(), maxsplit=1)[0]
    return primary if primary in LANGUAGES else DEFAULT_LANGUAGE


# --- filters -------------------------------------------------------------------------------


def _language_of(context: Context) -> str:
    return context.get("language", DEFAULT_LANGUAGE)


def format_date(value: date | datetime | None, language: str) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        value = value.astimezone(UTC) if value.tzinfo else value
    month = _MONTHS[language][value.month - 1]
    if language == "de":
        return f"{value.day}. {month} {value.year}"
    return f"{month} {value.day}, {value.year}"


def format_datetime(value: datetime | None, language: str) -> str:
    if value is None:
        return ""
    moment = value.astimezone(UTC) if value.tzinfo else value
    clock = f"{moment.hour:02d}:{moment.minute:02d}"
    if language == "de":
        return f"{format_date(moment, language)}, {clock} Uhr (UTC)"
    return f"{format_date(moment, language)}, {clock} UTC"


def join_words(values: Iterable[Any], language: str) -> str:
    words = [str(v) for v in values]
    if len(words) <= 1:
        return "".join(words)
    return f"{', '.join(words[:-1])} {_AND[language]} {words[-1]}"


@lru_cache(maxsize=len(LANGUAGES))
def labels(language: str) -> Mapping[str, str]:
    return json.loads((TEMPLATE_DIR / language / "labels.json").read_text(encoding="utf-8"))


def label(value: Any, language: str) -> str:
    """The display name of a stored value; unknown values as readable words."""
    key = str(getattr(value, "value", value))
    return labels(language).get(key) or key.replace("_", " ").capitalize()


@pass_context
def _date_filter(context: Context, value: date | datetime | None) -> str:
    return format_date(value, _language_of(context))


@pass_context
def _datetime_filter(context: Context, value: datetime | None) -> str:
    return format_datetime(value, _language_of(context))


@pass_context
def _label_filter(context: Context, value: Any) -> str:
    return label(value, _language_of(context))


@pass_context
def _join_words_filter(context: Context, values: Iterable[Any]) -> str:
    return join_words(values, _language_of(context))


@lru_cache(maxsize=1)
def environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(TEMPLATE_DIR),
        autoescape=select_autoescape(enabled_extensions=("html",), default_for_string=False, default=False),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(date=_date_filter, datetime=_datetime_filter, label=_label_filter, join_words=_join_words_filter)
    return env


# --- rendering -------------------------------------------------------------------------------


def _tidy_text(text: str) -> str:
    """No trailing spaces, at most one empty line in a row, one final newline."""
    lines = [line.rstrip() for line in text.strip().splitlines()]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)) + "\n"


def defang(name: str) -> str:
    """A name as text no mail client links: `https://evil.example` → `https[:]//evil[.]example`."""
    return _LINK_LIKE.sub(
        lambda found: found.group().replace("://", "[:]//") if "://" in found.group() else "[.]", name
    )


def render_mail(template: str, language: str | None, context: Mapping[str, Any]) -> RenderedMail:
    """Subject, plain text and HTML of a template in the chosen language."""
    if template not in TEMPLATES:
        raise UnknownTemplate(f"No mail template {template!r}; known: {', '.join(TEMPLATES)}.")
    for key, allowed in CHOICES.items():
        if key in context and context[key] not in allowed:
            raise ValueError(f"{key} must be one of {', '.join(allowed)}, not {context[key]!r}.")
    chosen = choose_language(language)
    env = environment()
    names = {key: defang(context[key]) for key in NAME_KEYS if isinstance(context.get(key), str)}
    values = {**context, **names, "language": chosen}
    subject = " ".join(env.get_template(f"{chosen}/{template}.subject").render(values).split())
    values["subject"] = subject
    text = _tidy_text(env.get_template(f"{chosen}/{template}.txt").render(values))
    html = env.get_template(f"{chosen}/{template}.html").render(values).strip() + "\n"
    return RenderedMail(template=template, language=chosen, subject=subject, text=text, html=html)


def _check_recipient(to: str) -> str:
    address = to.strip()
    if not address or "@" not in address or any(c in address for c in "\r\n,;<>"):
        raise ValueError(f"Not a single email address: {to!r}")
    return address


async def queue_mail(*, to: str, template: str, language: str | None, context: dict) -> None:
    """Render a mail now and write it to the outbox; call inside the change's `in_transaction()`."""
    mail = render_mail(template, language, context)
    moment = now()
    await OutboxMessage.create(
        kind=OutboxKind.EMAIL,
        payload={
            "to": _check_recipient(to),
            "subject": mail.subject,
            "text": mail.text,
            "html": mail.html,
            "template": mail.template,
            "language": mail.language,
        },
        status=OutboxStatus.PENDING,
        attempts=0,
        next_attempt_at=moment,
        created_at=moment,
    )


# --- rates -----------------------------------------------------------------------------------


def _address_key(address: str) -> str:
    """A recipient as a limits key: hashed, so the shared storage holds no addresses."""
    return hashlib.sha256(address.strip().lower().encode()).hexdigest()[:32]


class MailLimits:
    """One per app, in the shared `limits` storage (`resolvers/throttle.py`): how much mail with
    text others chose an organization may cause. None in its place (the CLI, the demo) means
    no limit."""

    def __init__(self, settings: Settings, storage: Storage) -> None:
        self.limiter = MovingWindowRateLimiter(storage)
        self.invitations = parse(settings.mail_invitation_rate)
        self.per_recipient = parse(settings.mail_recipient_rate)
        self.notices = parse(settings.mail_notice_rate)
        self.debounce = RateLimitItemPerMinute(1, settings.mail_debounce_minutes)
        self.password_resets = parse(settings.mail_password_reset_rate)
        self.verifications = parse(settings.mail_verification_rate)

    async def take_invitation(self, organization_id: int, recipient: str) -> None:
        """Count one invitation mail from the organization to the address, or THROTTLED."""
        counted: list[tuple[RateLimitItem, str, str]] = [
            (self.invitations, "mail-invitations", f"organization:{organization_id}"),
            (self.per_recipient, "mail-recipient", _address_key(recipient)),
        ]
        for item, *identifiers in counted:
            if not await self.limiter.test(item, *identifiers):
                stats = await self.limiter.get_window_stats(item, *identifiers)
                wait = max(1, int(stats.reset_time - time.time()) + 1)
                raise Throttled(f"Too many invitations; try again in {wait} seconds.")
        for item, *identifiers in counted:
            await self.limiter.hit(item, *identifiers)

    async def allow_password_reset(self, recipient: str) -> bool:
        """Count one password reset asked for the address, whether or not it has an account: whether
        a link may be mailed to it, so that anyone asking cannot flood its owner's mailbox."""
        return await self.limiter.hit(self.password_resets, "mail-password-reset", _address_key(recipient))

    async def take_verification(self, user_id: int, recipient: str) -> None:
        """Count one verification mail an account asks for, per account and per address, or THROTTLED."""
        counted = [
            ("mail-verification-account", str(user_id)),
            ("mail-verification-recipient", _address_key(recipient)),
        ]
        for identifiers in counted:
            if not await self.limiter.test(self.verifications, *identifiers):
                stats = await self.limiter.get_window_stats(self.verifications, *identifiers)
                wait = max(1, int(stats.reset_time - time.time()) + 1)
                raise Throttled(f"Too many verification mails; try again in {wait} seconds.")
        for identifiers in counted:
            await self.limiter.hit(self.verifications, *identifiers)

    async def allow_notice(self, organization_id: int, recipient: str, template: str, context: dict) -> bool:
        """Whether a notice caused by the organization goes out: not when the same notice went to
        the address within the debounce window, nor past the organization's notice rate."""
        notice = hashlib.sha256(json.dumps([template, context], sort_keys=True, default=str).encode()).hexdigest()
        debounced = ("mail-debounce", _address_key(recipient), notice[:32])
        if not await self.limiter.test(self.debounce, *debounced):
            return False
        if not await self.limiter.hit(self.notices, "mail-notices", f"organization:{organization_id}"):
            return False
        return await self.limiter.hit(self.debounce, *debounced)
