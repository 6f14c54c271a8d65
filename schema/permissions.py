"""strawberry permission classes: declarative gates on fields, deciding through `permissions.policy`.

They raise the policy's own errors, so a refused field carries the same
`extensions.code` as a refusal inside a resolver.
"""

from __future__ import annotations

from typing import Any

from strawberry.permission import BasePermission

from partner_portal.permissions import policy
from partner_portal.permissions.enums import ApiKeyScope


class IsAuthenticated(BasePermission):
    """A signed-in user (session, OIDC token); API keys are not users."""

    message = "Sign in first."

    def has_permission(self, source: Any, info: Any, **kwargs: Any) -> bool:
        policy.require_user(info.context.actor)
        return True


class HasScope(BasePermission):
    """An API key holding the given scope."""

    message = "This API key lacks the scope needed."

    def __init__(self, scope: ApiKeyScope) -> None:
        self.scope = scope

    def has_permission(self, source: Any, info: Any, **kwargs: Any) -> bool:
        policy.require_scope(info.context.actor, self.scope)
        return True
