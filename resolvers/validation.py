"""Input cleaners shared by the domains, and `Checks`, which runs a form's cleaners and reports every
problem at once (the client fixes a form in one round, not one field per round).

A cleaner takes the raw value (and the input field it came from, for the error), returns the value
to store, and raises `UserInputError` (`errors.fail`) for anything it refuses. Cleaners of one
domain's own values (IBANs, programs, webhook URLs, …) stay in that domain's module.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

import pycountry
from email_validator import EmailNotValidError, validate_email
from stdnum import get_cc_module
from stdnum.eu import vat as eu_vat
from stdnum.exceptions import ValidationError as StdnumValidationError

from partner_portal.resolvers.errors import Problem, UserErrorCode, UserInputError, fail
from partner_portal.resolvers.mail import LANGUAGES
from partner_portal.resolvers.money import CURRENCIES

MAX_NAME_LENGTH = 200
MAX_MESSAGE_LENGTH = 4000
EU_VAT_PREFIXES = {"GR": "EL"}  # where the VAT prefix is not the ISO country code


class Checks:
    """The cleaned values of one input, and every problem found on the way:
    `checks.run("email", normalize_email, raw)` for each field, then `checks.result()`."""

    def __init__(self, **defaults: Any) -> None:
        self.values: dict[str, Any] = dict(defaults)
        self.problems: list[Problem] = []

    def run(self, field: str, clean: Callable[..., Any], *args: Any) -> None:
        """`values[field] = clean(*args)`, or its problems noted (the field keeps its default)."""
        try:
            self.values[field] = clean(*args)
        except UserInputError as error:
            self.problems.extend(error.problems)

    def add(self, *problems: Problem) -> None:
        self.problems.extend(problems)

    def result(self) -> dict[str, Any]:
        """The cleaned values, or UserInputError with every problem found."""
        if self.problems:
            raise UserInputError(*self.problems)
        return self.values


def collect(checks: dict[str, Callable[[], Any]]) -> dict[str, Any]:
    """Each field's check run in order: the cleaned values, or every problem at once."""
    collected = Checks()
    for field, check in checks.items():
        collected.run(field, check)
    return collected.result()


# --- people and text ---------------------------------------------------------------------------------------


def normalize_email(raw: str, field: str = "email") -> str:
    """The canonical form used for uniqueness: validated, then lower-cased entirely."""
    try:
        return validate_email(raw.strip(), check_deliverability=False).normalized.lower()
    except EmailNotValidError as error:
        raise fail(field, UserErrorCode.INVALID_EMAIL, f"This is not a valid email address: {error}") from error


def clean_name(raw: str, field: str = "name", limit: int = MAX_NAME_LENGTH) -> str:
    name = " ".join(raw.split())
    if not name:
        raise fail(field, UserErrorCode.REQUIRED, "A name is required.")
    if len(name) > limit:
        raise fail(field, UserErrorCode.TOO_LONG, f"Use at most {limit} characters.")
    return name


def clean_text(raw: str | None, field: str, limit: int = MAX_MESSAGE_LENGTH) -> str:
    text = (raw or "").strip()
    if len(text) > limit:
        raise fail(field, UserErrorCode.TOO_LONG, f"Use at most {limit} characters.")
    return text


def clean_phone(raw: str | None) -> str | None:
    phone = (raw or "").strip()
    if not phone:
        return None
    if len(phone) > 40 or not all(c.isdigit() or c in "+-() /" for c in phone):
        raise fail("contact_phone", UserErrorCode.INVALID_VALUE, "Use digits, spaces and + - ( ) / only.")
    return phone


def clean_language(raw: str) -> str:
    """One of the languages the mail templates are written in."""
    if raw not in LANGUAGES:
        raise fail("language", UserErrorCode.INVALID_VALUE, f"Supported languages: {', '.join(LANGUAGES)}.")
    return raw


# --- companies ---------------------------------------------------------------------------------------------


def clean_website(raw: str | None) -> str | None:
    if raw is None or not raw.strip():
        return None
    url = raw.strip()
    parts = urlsplit(url if "://" in url else f"https://{url}")
    if parts.scheme not in ("http", "https") or "." not in (parts.hostname or "") or len(url) > 500:
        raise fail("website", UserErrorCode.INVALID_VALUE, "Enter a web address such as https://example.com.")
    return parts.geturl()


def clean_country(raw: str | None) -> str | None:
    if raw is None or not raw.strip():
        return None
    code = raw.strip().upper()
    if len(code) != 2 or pycountry.countries.get(alpha_2=code) is None:
        raise fail("country", UserErrorCode.INVALID_VALUE, "Use a two-letter ISO 3166 country code such as DE.")
    return code


def clean_vat_id(raw: str | None, country: str | None) -> str | None:
    """Validated with python-stdnum where the country has a VAT number; required in the EU."""
    vat = (raw or "").strip() or None
    in_eu = country is not None and country.lower() in eu_vat.MEMBER_STATES
    if vat is None:
        if in_eu:
            raise fail("vat_id", UserErrorCode.REQUIRED, "A VAT id is required for companies in the EU.")
        return None
    module = eu_vat if in_eu else (get_cc_module(country.lower(), "vat") if country else None)
    if module is None:
        return vat
    prefix = EU_VAT_PREFIXES.get(country, country)
    candidate = vat if not in_eu or vat[:2].isalpha() else f"{prefix}{vat}"
    invalid = fail("vat_id", UserErrorCode.INVALID_VALUE, f"This VAT id is not valid for {country}.")
    try:
        number = module.validate(candidate)
    except StdnumValidationError as error:
        raise invalid from error
    if in_eu and number[:2] not in {country, prefix}:
        raise invalid  # another member state's VAT id (eu_vat accepts any member state's)
    return number


# --- money -------------------------------------------------------------------------------------------------


def clean_currency(raw: str, field: str = "currency") -> str:
    code = raw.strip().upper()
    if code not in CURRENCIES:
        raise fail(field, UserErrorCode.INVALID_VALUE, "Use an ISO 4217 currency code such as EUR or USD.")
    return code
