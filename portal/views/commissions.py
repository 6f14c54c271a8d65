"""(being written)"""

from __future__ import annotations

from partner_portal.portal.app import Page

ROUTES: list[tuple[str, Page, list[str]]] = []
