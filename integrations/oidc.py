"""Verifying bearer JWTs from the vendor's OIDC identity provider with PyJWT.

Keys come from a JWKS URL (fetched and cached by PyJWKClient, off the event loop),
a JWKS file, or one static PEM public key. Only asymmetric algorithms are accepted.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from typing import Any

import jwt

from partner_portal.settings import Settings

ALGORITHMS = ["RS256", "RS384", "RS512", "PS256", "ES256", "ES384", "EdDSA"]


class InvalidToken(Exception):
    """The token is malformed, expired, for another audience, or not signed by the provider."""


@dataclass(frozen=True, slots=True)
class OidcIdentity:
    issuer: str
    subject: str
    email: str | None
    email_verified: bool
    name: str | None


class OidcVerifier:
    def __init__(self, settings: Settings) -> None:
        self.issuer = settings.oidc_issuer
        self.audience = settings.oidc_audience
        self._jwks_client = jwt.PyJWKClient(settings.oidc_jwks_url) if settings.oidc_jwks_url else None
        self._key_set = (
            jwt.PyJWKSet.from_dict(json.loads(settings.oidc_jwks_file.read_text())) if settings.oidc_jwks_file else None
        )
        self._static_key = settings.oidc_public_key

    async def _signing_key(self, token: str) -> Any:
        if self._jwks_client is not None:
            return (await asyncio.to_thread(self._jwks_client.get_signing_key_from_jwt, token)).key
        if self._key_set is not None:
            kid = jwt.get_unverified_header(token).get("kid")
            for key in self._key_set.keys:
                if kid is None or key.key_id == kid:
                    return key.key
            raise InvalidToken("No key of the provider matches the token.")
        return self._static_key

    async def verify(self, token: str) -> OidcIdentity:
        try:
            key = await self._signing_key(token)
            claims = jwt.decode(
                token,
                key=key,
                algorithms=ALGORITHMS,
                audience=self.audience,
                issuer=self.issuer,
                options={"require": ["exp", "iat", "iss", "aud", "sub"]},
            )
        except (jwt.PyJWTError, ValueError) as error:
            raise InvalidToken(str(error)) from error
        return OidcIdentity(
            issuer=claims["iss"],
            subject=str(claims["sub"]),
            email=claims.get("email"),
            email_verified=claims.get("email_verified") is True,  # a JSON true only: "false" is a string
            name=claims.get("name"),
        )
