"""What the portal's HTTP tests share (a test module may not import another): the CSRF token of a
page's form and signing in through the portal's form."""

from __future__ import annotations

import re

from tests.conftest import PASSWORD, Api


def csrf_of(html: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', html)
    assert found, "the page has no form with a CSRF token"
    return found.group(1)


async def sign_in(api: Api, email: str, password: str = PASSWORD) -> tuple[int, str]:
    """Signs in with the portal's form (the client keeps the session cookie); (status, page)."""
    page = await api.client.get("/sign-in")
    response = await api.client.post(
        "/sign-in", data={"csrf": csrf_of(page.text), "email": email, "password": password, "next": "/"}
    )
    return response.status_code, response.text
