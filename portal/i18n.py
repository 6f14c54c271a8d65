"""The portal's languages: every string of its templates is in a babel message catalog
(`locale/<language>/LC_MESSAGES/messages.po`, English being the message ids themselves).
The language comes from the `pp_lang` cookie (the switch in the page's footer), else the browser's
Accept-Language, else English."""

from __future__ import annotations

import io
from functools import cache
from gettext import NullTranslations
from pathlib import Path

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import Translations

LANGUAGES = ("en", "de")
DEFAULT_LANGUAGE = "en"
LANGUAGE_COOKIE = "pp_lang"
LOCALE_FOLDER = Path(__file__).parent / "locale"


def N_(message: str) -> str:  # noqa: N802 — gettext's name for "a message, translated later"
    """Marks a message for the catalog where it is defined; `text` translates it where it is shown."""
    return message


@cache
def translations(language: str) -> NullTranslations:
    """The language's catalog, compiled in memory from its `.po` file (no build step)."""
    po = LOCALE_FOLDER / language / "LC_MESSAGES" / "messages.po"
    if not po.exists():
        return NullTranslations()
    with po.open("rb") as source:
        catalog = read_po(source, locale=language)
    compiled = io.BytesIO()
    write_mo(compiled, catalog)
    compiled.seek(0)
    return Translations(fp=compiled)


def _accepted(header: str) -> list[str]:
    """The primary language tags of an Accept-Language header, most wanted first."""
    ranked: list[tuple[float, int, str]] = []
    for position, part in enumerate(header.split(",")[:20]):
        tag, _, params = part.strip().partition(";")
        quality = 1.0
        if params.strip().startswith("q="):
            try:
                quality = float(params.strip()[2:])
            except ValueError:
                continue
        if tag:
            ranked.append((-quality, position, tag.split("-")[0].lower()))
    return [tag for quality, _, tag in sorted(ranked) if quality < 0]


def choose_language(cookie: str | None, accept_language: str | None) -> str:
    if cookie in LANGUAGES:
        return cookie
    for tag in _accepted(accept_language or ""):
        if tag in LANGUAGES:
            return tag
    return DEFAULT_LANGUAGE
