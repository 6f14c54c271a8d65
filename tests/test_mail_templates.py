"""Every mail template exists in every language, renders with its documented context,
escapes HTML, and falls back to English for languages without templates."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime

import pytest
from jinja2 import UndefinedError

from partner_portal.resolvers.mail import (
    LANGUAGES,
    PARTS,
    TEMPLATE_DIR,
    TEMPLATES,
    UnknownTemplate,
    choose_language,
    defang,
    render_mail,
)

EXPIRES = datetime(2026, 3, 16, 9, 30, tzinfo=UTC)

# Every variant a caller can ask for, with the context each template documents.
SAMPLES: dict[str, list[dict]] = {
    "invitation": [
        {
            "partner_name": "Northwind IT",
            "organization_name": "Acme GmbH",
            "message": "Looking forward to it.",
            "link": "https://portal.example/invitations/abc?x=1&y=2",
            "expires_at": EXPIRES,
        },
        {
            "partner_name": "Northwind IT",
            "organization_name": "Acme GmbH",
            "message": "",
            "link": "https://portal.example/invitations/abc",
            "expires_at": EXPIRES,
        },
    ],
    "application_approved": [
        {
            "organization_name": "Northwind IT",
            "programs": ["AFFILIATE", "SERVICE_PARTNER"],
            "partner_code": "NORTHWIND",
            "note": "Welcome aboard.",
        },
        {"organization_name": "Northwind IT", "programs": [], "partner_code": "NORTHWIND", "note": ""},
    ],
    "application_rejected": [
        {"organization_name": "Northwind IT", "note": "We need a company website."},
        {"organization_name": "Northwind IT", "note": ""},
    ],
    "grant_changed": [
        {
            "customer_name": "Acme GmbH",
            "partner_name": "Northwind IT",
            "permissions": perms,
            "expires_at": expires,
            "audience": audience,
        }
        for audience in ("customer", "partner")
        for perms, expires in ((["MANAGE_MEMBERS", "VIEW_BILLING"], EXPIRES), (["MANAGE_SETTINGS"], None), ([], None))
    ],
    "service_partner_changed": [
        {"customer_name": "Acme GmbH", "partner_name": "Northwind IT", "change": change, "audience": audience}
        for audience in ("customer", "partner")
        for change in ("linked", "unlinked")
    ],
    "payout_changed": [
        {
            "partner_name": "Northwind IT",
            "amount": "150.00",
            "currency": "EUR",
            "status": status,
            "reference": reference,
            "note": note,
        }
        for status, reference, note in (
            ("REQUESTED", "", ""),
            ("APPROVED", "", ""),
            ("PAID", "PP-1234", ""),
            ("PAID", "", ""),
            ("REJECTED", "", "Bank details incomplete."),
        )
    ],
    "membership_invitation": [
        {
            "organization_name": "Acme GmbH",
            "inviter_name": "Ada Admin",
            "partner_name": partner,
            "role": role,
            "permissions": permissions,
            "email": "nina@example.com",
            "link": "https://portal.example/memberships/accept?token=abc",
            "expires_at": EXPIRES,
        }
        for partner, role, permissions in (
            ("", "MEMBER", ["VIEW_BILLING", "MANAGE_SETTINGS"]),
            ("Northwind IT", "MEMBER", []),
            ("", "ADMINISTRATOR", []),
        )
    ],
    "account_locked": [
        {
            "email": "ann@example.com",
            "link": "https://portal.example/unlock?token=ppu_abc",
            "expires_at": EXPIRES,
            "locked_until": EXPIRES,
        },
    ],
    "registration_confirm": [
        {
            "email": "ann@example.com",
            "link": "https://portal.example/register/confirm?token=ppr_abc",
            "expires_at": EXPIRES,
        },
    ],
    "registration_exists": [{"email": "ann@example.com", "link": "https://portal.example"}],
    "email_verification": [
        {
            "email": "ann@example.com",
            "link": "https://portal.example/email/verify?token=ppv_abc",
            "expires_at": EXPIRES,
            "address_change": address_change,
        }
        for address_change in (False, True)
    ],
    "email_changed": [
        {
            "old_email": "ann@example.com",
            "new_email": "ann@example.org",
            "changed_at": EXPIRES,
            "link": "https://portal.example/sign-in",
        }
    ],
    "password_reset": [
        {
            "email": "ann@example.com",
            "link": "https://portal.example/password/reset?token=ppw_abc",
            "expires_at": EXPIRES,
        }
    ],
    "two_factor_changed": [
        {
            "email": "ann@example.com",
            "enabled": enabled,
            "changed_at": EXPIRES,
            "link": "https://portal.example/sign-in",
        }
        for enabled in (True, False)
    ],
    "two_factor_reset": [{"email": "ann@example.com", "reset_at": EXPIRES, "link": "https://portal.example/sign-in"}],
}
NAMES_IN_TEXT = {"organization_name", "partner_name", "customer_name"}


def test_every_template_exists_in_every_language_with_every_part():
    missing = [
        f"{language}/{name}.{part}"
        for name in TEMPLATES
        for language in LANGUAGES
        for part in PARTS
        if not (TEMPLATE_DIR / language / f"{name}.{part}").is_file()
    ]

    assert missing == [], f"mail templates missing: {missing}"


def test_no_language_has_templates_the_others_lack():
    expected = {f"{name}.{part}" for name in TEMPLATES for part in PARTS}
    for language in LANGUAGES:
        found = {
            path.name
            for path in (TEMPLATE_DIR / language).iterdir()
            if not path.name.startswith("_") and path.name != "labels.json"
        }
        assert found == expected, f"{language}: unlisted {found - expected}, missing {expected - found}"


def test_every_template_has_samples():
    assert set(SAMPLES) == set(TEMPLATES)


def test_labels_are_translated_for_the_same_values_in_every_language():
    keys = {language: set(json.loads((TEMPLATE_DIR / language / "labels.json").read_text())) for language in LANGUAGES}

    assert all(k == keys["en"] for k in keys.values()), keys


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("template", TEMPLATES)
def test_every_template_renders_in_every_language(template, language):
    for context in SAMPLES[template]:
        mail = render_mail(template, language, context)

        assert mail.language == language
        assert mail.subject and "\n" not in mail.subject
        assert mail.text.endswith("\n") and "\n\n\n" not in mail.text
        assert f'<html lang="{language}">' in mail.html
        assert mail.subject in mail.html.replace("&amp;", "&")
        for key in NAMES_IN_TEXT & set(context):
            assert context[key] in mail.text
            assert context[key] in mail.html
        if context.get("link"):
            assert context["link"] in mail.text


def test_the_german_mail_is_german_and_the_english_one_english():
    context = SAMPLES["invitation"][0]

    german = render_mail("invitation", "de", context)
    english = render_mail("invitation", "en", context)

    assert "Einladung" in german.text and "16. März 2026, 09:30 Uhr (UTC)" in german.text
    assert "invitation" in english.text and "March 16, 2026, 09:30 UTC" in english.text


def test_stored_values_are_shown_by_their_names_in_the_language():
    context = SAMPLES["grant_changed"][0]

    assert "Mitglieder verwalten" in render_mail("grant_changed", "de", context).text
    assert "manage members" in render_mail("grant_changed", "en", context).text
    approved = render_mail("application_approved", "en", SAMPLES["application_approved"][0])
    assert "Affiliate (referral link)" in approved.text and "AFFILIATE" not in approved.text


def test_html_is_escaped_and_text_is_not():
    context = {**SAMPLES["invitation"][0], "partner_name": "<b>Smith & Sons</b>", "message": "<script>x</script>"}

    mail = render_mail("invitation", "en", context)

    assert "&lt;b&gt;Smith &amp; Sons&lt;/b&gt;" in mail.html
    assert "<script>" not in mail.html and "<b>" not in mail.html
    assert 'href="https://portal.example/invitations/abc?x=1&amp;y=2"' in mail.html
    assert "<b>Smith & Sons</b>" in mail.text and "<b>Smith & Sons</b>" in mail.subject


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("template", TEMPLATES)
def test_names_others_chose_show_no_link_and_no_markup(template, language):
    names = {
        "organization_name": "Win at https://evil.example/x",
        "customer_name": "<a href=x>evil.example</a>",
        "partner_name": "www.evil.example",
        "inviter_name": "Eve <img src=x> evil.example",
    }
    for sample in SAMPLES[template]:
        context = {**sample, **{key: names[key] for key in names if sample.get(key)}}

        mail = render_mail(template, language, context)

        for part in (mail.subject, mail.text, mail.html):
            assert "https://evil" not in part and "evil.example" not in part and "www.evil" not in part
        assert "<a href=x>" not in mail.html and "<img" not in mail.html
        assert not [href for href in re.findall(r'href="([^"]*)"', mail.html) if "evil" in href]


def test_defanging_leaves_ordinary_names_alone():
    assert [defang(name) for name in ("Acme Inc.", "A.B. Smith", "Müller GmbH & Co. KG", "evil.example")] == [
        "Acme Inc.",
        "A.B. Smith",
        "Müller GmbH & Co. KG",
        "evil[.]example",
    ]


def test_a_subject_stays_on_one_line():
    mail = render_mail("application_rejected", "en", {"organization_name": "Evil\r\nBcc: x@example.com", "note": ""})

    assert "\n" not in mail.subject and "\r" not in mail.subject


@pytest.mark.parametrize(
    ("asked", "chosen"),
    [
        (None, "en"),
        ("", "en"),
        ("fr", "en"),
        ("de", "de"),
        ("DE", "de"),
        ("de-AT", "de"),
        ("de_CH", "de"),
        ("en-GB", "en"),
    ],
)
def test_the_language_falls_back_to_english(asked, chosen):
    assert choose_language(asked) == chosen
    assert render_mail("application_rejected", asked, SAMPLES["application_rejected"][0]).language == chosen


def test_an_unknown_template_or_a_missing_variable_is_an_error():
    with pytest.raises(UnknownTemplate):
        render_mail("no_such_mail", "en", {})
    with pytest.raises(UndefinedError):
        render_mail("application_rejected", "en", {"organization_name": "Acme"})
    with pytest.raises(ValueError, match="audience"):
        render_mail("service_partner_changed", "en", {**SAMPLES["service_partner_changed"][0], "audience": "both"})
