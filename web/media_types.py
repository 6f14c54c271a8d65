"""GraphQL over HTTP's media types and the `Accept` negotiation between them (RFC 9110)."""

from __future__ import annotations

GRAPHQL_RESPONSE_JSON = "application/graphql-response+json"
LEGACY_JSON = "application/json"


def media_ranges(accept: str) -> list[tuple[str, float]]:
    """The `Accept` header's media ranges with their quality (RFC 9110): `[("application/json", 0.9), …]`.
    A range with a malformed `q` counts as not acceptable."""
    ranges = []
    for part in accept.split(","):
        media_range, *parameters = (piece.strip() for piece in part.split(";"))
        if not media_range:
            continue
        quality = 1.0
        for parameter in parameters:
            name, _, value = parameter.partition("=")
            if name.strip().lower() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
                quality = quality if 0.0 <= quality <= 1.0 else 0.0
        ranges.append((media_range.lower(), quality))
    return ranges


def quality_of(media_type: str, ranges: list[tuple[str, float]]) -> tuple[float, int]:
    """(quality, specificity) of `media_type` by the most specific range that matches it
    (exact 2, `type/*` 1, `*/*` 0); (0, -1) when none does."""
    kind = media_type.split("/")[0]
    matches = {media_type: 2, f"{kind}/*": 1, "*/*": 0}
    best = max(((matches[name], quality) for name, quality in ranges if name in matches), default=None)
    return (0.0, -1) if best is None else (best[1], best[0])


def negotiate(accept: str | None) -> str | None:
    """GraphQL over HTTP: the acceptable media type of highest quality, None when neither is acceptable.
    No `Accept` means `application/json`. On equal quality the more specifically named type wins;
    both named: `application/graphql-response+json`; both only through a wildcard: `application/json`."""
    if not accept or not accept.strip():
        return LEGACY_JSON
    ranges = media_ranges(accept)
    graphql_response, legacy = quality_of(GRAPHQL_RESPONSE_JSON, ranges), quality_of(LEGACY_JSON, ranges)
    if graphql_response[0] <= 0 and legacy[0] <= 0:
        return None
    named_both = graphql_response[1] == legacy[1] == 2
    if graphql_response > legacy or (graphql_response == legacy and named_both):
        return GRAPHQL_RESPONSE_JSON
    return LEGACY_JSON
