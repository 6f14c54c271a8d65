"""The portal's pages, one module per area; each module's `ROUTES` lists (path, page, methods)."""

from __future__ import annotations

from partner_portal.portal.views import home, mailed_links, sign_in

ROUTES = [*sign_in.ROUTES, *mailed_links.ROUTES, *home.ROUTES]
