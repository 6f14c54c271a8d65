"""Single sign-on with bearer JWTs from the vendor's OIDC provider, with keys made here."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from tests.conftest import start_api, test_settings

ISSUER = "https://id.vendor.test"
AUDIENCE = "partner-portal"
VIEWER = "{ viewer { id email name } }"
CREATE_ORGANIZATION = 'mutation { createOrganization(input: {name: "SSO Co"}) { organization { id } errors { code } } }'


def _key_pair() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


PROVIDER_KEY = _key_pair()
OTHER_KEY = _key_pair()


def _public_pem(key: rsa.RSAPrivateKey) -> str:
    return (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )


def _jwks(key: rsa.RSAPrivateKey, kid: str = "key-1") -> dict:
    jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key()))
    return {"keys": [{**jwk, "kid": kid, "use": "sig", "alg": "RS256"}]}


def _token(
    key: rsa.RSAPrivateKey = PROVIDER_KEY,
    *,
    subject: str = "user-123",
    email: str | None = "sso@example.com",
    audience: str = AUDIENCE,
    issuer: str = ISSUER,
    lifetime: timedelta = timedelta(minutes=5),
    email_verified: object = True,
) -> str:
    issued = datetime.now(UTC)
    claims = {
        "iss": issuer,
        "aud": audience,
        "sub": subject,
        "iat": issued,
        "exp": issued + lifetime,
        "name": "Sam Sso",
        "email_verified": email_verified,
    }
    if email:
        claims["email"] = email
    return jwt.encode(claims, key, algorithm="RS256", headers={"kid": "key-1"})


@pytest.fixture
async def sso_api(database_url):
    settings = test_settings(
        database_url, oidc_issuer=ISSUER, oidc_audience=AUDIENCE, oidc_public_key=_public_pem(PROVIDER_KEY)
    )
    async for running in start_api(settings):
        yield running


async def test_a_provider_token_signs_in_and_creates_the_user_on_first_sight(sso_api):
    first = (await sso_api.data(VIEWER, token=_token()))["viewer"]
    again = (await sso_api.data(VIEWER, token=_token()))["viewer"]

    assert first["email"] == "sso@example.com"
    assert first["name"] == "Sam Sso"
    assert again["id"] == first["id"]
    created = await sso_api.data(CREATE_ORGANIZATION, token=_token())
    assert created["createOrganization"]["errors"] == []


async def test_the_user_is_matched_by_subject_not_by_email(sso_api):
    first = (await sso_api.data(VIEWER, token=_token(email="old@example.com")))["viewer"]

    renamed = (await sso_api.data(VIEWER, token=_token(email="new@example.com")))["viewer"]

    assert renamed["id"] == first["id"]


@pytest.mark.parametrize(
    "token",
    [
        pytest.param(lambda: _token(OTHER_KEY), id="signed-by-another-key"),
        pytest.param(lambda: _token(audience="someone-else"), id="wrong-audience"),
        pytest.param(lambda: _token(issuer="https://evil.test"), id="wrong-issuer"),
        pytest.param(lambda: _token(lifetime=timedelta(seconds=-30)), id="expired"),
        pytest.param(lambda: _token(email=None), id="no-email"),
        pytest.param(
            lambda: jwt.encode(
                {"iss": ISSUER, "aud": AUDIENCE, "sub": "x", "exp": 9999999999, "iat": 1},
                "a-shared-secret-of-at-least-32-bytes!!",
                algorithm="HS256",
            ),
            id="symmetric-algorithm",
        ),
    ],
)
async def test_bad_provider_tokens_are_refused(sso_api, token):
    bad = token()

    assert (await sso_api.data(VIEWER, token=bad))["viewer"] is None
    assert await sso_api.error_code(CREATE_ORGANIZATION, token=bad) == "UNAUTHENTICATED"


async def test_an_existing_account_is_linked_only_for_a_verified_email(sso_api):
    from tests.support import register

    person = await register(sso_api, "sso@example.com")

    unverified = _token(email="sso@example.com", email_verified=False)
    assert (await sso_api.data(VIEWER, token=unverified))["viewer"] is None

    linked = (await sso_api.data(VIEWER, token=_token(email="sso@example.com")))["viewer"]
    assert linked["id"] == person.user_id


async def test_linking_an_unverified_account_ends_what_its_registrant_held(sso_api):
    """Someone registers the victim's address first (never verifying it); when the victim signs in
    through the provider, the account becomes theirs and the squatter's password and session end."""
    from tests.conftest import PASSWORD
    from tests.documents import LOGIN, REGISTER

    registered = await sso_api.data(
        REGISTER, {"input": {"email": "victim@example.com", "password": PASSWORD, "name": "Squatter"}}
    )
    squatter = registered["register"]["token"]

    linked = (await sso_api.data(VIEWER, token=_token(email="victim@example.com")))["viewer"]
    login = await sso_api.data(LOGIN, {"input": {"email": "victim@example.com", "password": PASSWORD}})

    assert linked["id"] == registered["register"]["user"]["id"]
    assert (await sso_api.data(VIEWER, token=squatter))["viewer"] is None
    assert [error["code"] for error in login["login"]["errors"]] == ["INVALID_CREDENTIALS"]


@pytest.mark.parametrize("claim", ["false", "true", 1, "yes", None])
async def test_only_a_json_true_counts_as_a_verified_email(sso_api, claim):
    from tests.support import register

    await register(sso_api, "victim@example.com")

    token = _token(email="victim@example.com", subject="attacker", email_verified=claim)

    assert (await sso_api.data(VIEWER, token=token))["viewer"] is None
    assert await sso_api.error_code(CREATE_ORGANIZATION, token=token) == "UNAUTHENTICATED"


async def test_keys_from_a_jwks_file(database_url, tmp_path):
    jwks_file = tmp_path / "jwks.json"
    jwks_file.write_text(json.dumps(_jwks(PROVIDER_KEY)))
    settings = test_settings(database_url, oidc_issuer=ISSUER, oidc_audience=AUDIENCE, oidc_jwks_file=jwks_file)

    async for api in start_api(settings):
        assert (await api.data(VIEWER, token=_token()))["viewer"]["email"] == "sso@example.com"
        assert (await api.data(VIEWER, token=_token(OTHER_KEY)))["viewer"] is None


@pytest.fixture
def jwks_server() -> Iterator[str]:
    """The provider's JWKS endpoint, served over real HTTP on localhost."""
    body = json.dumps(_jwks(PROVIDER_KEY)).encode()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # http.server's naming
            self.send_response(200)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/jwks.json"
    server.shutdown()


async def test_keys_from_a_jwks_url(database_url, jwks_server):
    settings = test_settings(database_url, oidc_issuer=ISSUER, oidc_audience=AUDIENCE, oidc_jwks_url=jwks_server)

    async for api in start_api(settings):
        assert (await api.data(VIEWER, token=_token()))["viewer"]["email"] == "sso@example.com"
        assert (await api.data(VIEWER, token=_token(OTHER_KEY)))["viewer"] is None


async def test_without_oidc_settings_a_jwt_is_not_accepted(api):
    assert (await api.data(VIEWER, token=_token()))["viewer"] is None
