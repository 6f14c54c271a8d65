"""The organization a refusal names (`permissions/refusals.py`): read once for a whole response."""

from __future__ import annotations

from collections.abc import Collection

from partner_portal.models.organizations import Organization


async def organization_names(organization_ids: Collection[int]) -> dict[int, str]:
    """The organizations' names by id, in one query; none when the database does not answer (the
    refusals then say "this organization")."""
    if not organization_ids:
        return {}
    try:
        rows = await Organization.filter(id__in=list(organization_ids)).values_list("id", "name")
    except Exception:  # noqa: BLE001 — a name is a courtesy: the refusal stands without it
        return {}
    return dict(rows)
