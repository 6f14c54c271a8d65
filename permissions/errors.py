"""Authentication and authorization failures. The GraphQL layer shows `code` in `extensions`."""


class AccessError(Exception):
    code = "FORBIDDEN"
    default_message = "You are not allowed to do this."

    def __init__(self, message: str | None = None) -> None:
        super().__init__(message or self.default_message)


class Unauthenticated(AccessError):
    code = "UNAUTHENTICATED"
    default_message = "Sign in first."


class NoOrganization(AccessError):
    code = "NO_ORGANIZATION"
    default_message = "Your account is not in an organization yet: create an organization first."


class Forbidden(AccessError):
    code = "FORBIDDEN"
    default_message = "You do not have the permission needed for this."


class NotFound(AccessError):
    """Also what an actor sees for an object it may not see: hidden and absent look alike."""

    code = "NOT_FOUND"
    default_message = "Not found."


class Throttled(AccessError):
    code = "THROTTLED"
    default_message = "Too many requests; try again later."
